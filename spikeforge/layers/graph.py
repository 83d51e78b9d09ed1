"""Run a directed graph of modules over time, including cycles (recurrent connections).

Semantics (those of NIR graphs): a node's input is the **sum** of the outputs of its
predecessors. Edges are split into *forward* edges, which form a DAG from the input, and
*recurrent* edges, which close a cycle; along a recurrent edge the value arrives **one step
later** (zero at the first step). Recurrent edges are the back edges of a depth-first search from
the input node that follows ``edges`` in their given order.

A graph without recurrent edges runs node by node over the whole sequence; a graph with one runs
step by step, advancing stateful nodes (neurons, delays, nested graphs) with their ``step``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn

from ..neurons._base import check_sequence, check_step_input

__all__ = ["ModuleGraph", "GraphState", "step_module", "run_module"]


class GraphState(NamedTuple):
    states: dict[str, Any]  # per stateful node: its state (None for stateless nodes)
    last: dict[str, Tensor]  # per source of a recurrent edge: its output at the previous step [B, *]


def _is_stateful(module: nn.Module) -> bool:
    return callable(getattr(module, "step", None)) and callable(getattr(module, "init_state", None))


def step_module(module: nn.Module, x: Tensor, state: Any) -> tuple[Tensor, Any]:
    """One step of any node: ``module.step`` for stateful modules, else the module on a length-1 sequence.

    Shapes:
        x, output: ``[B, *]``
    """
    if _is_stateful(module):
        return cast(Any, module).step(x, state)  # a neuron-like module: step(x, state)
    return module(x.unsqueeze(0)).squeeze(0), None  # [1, B, *] -> [B, *']


def run_module(module: nn.Module, xs: Tensor, state: Any) -> tuple[Tensor, Any]:
    """Run any node over ``xs [T, B, *]``: ``module.run`` for stateful modules, else ``module(xs)``."""
    if _is_stateful(module) and callable(getattr(module, "run", None)):
        return cast(Any, module).run(xs, state)
    return module(xs), None


class ModuleGraph(nn.Module):
    """A graph of modules with one input and one output node, run over ``[T, B, *]`` sequences.

    Args:
        nodes: Name → module. Names may contain any characters except that they must be
            unique; they are kept as given (e.g. NIR node names) in :attr:`node_names`.
        edges: ``(source, destination)`` pairs between node names, ``input`` and ``output``.
        input: Name of the input node (not a module: it yields the graph input).
        output: Name of the output node (not a module: its value is the sum of its inputs).

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *in]`` → ``[T, B, *out]`` from rest;
        ``run(xs, state)`` → ``(ys, state)``; ``step(x, state)`` → ``(y, state)`` with ``x [B, *in]``.

    Raises:
        ValueError: for edges naming unknown nodes, edges into the input or out of the output,
            duplicate edges, nodes unreachable from the input, or an output without inputs.

    Example:
        >>> g = ModuleGraph({"fc": nn.Linear(4, 4), "lif": LIF(), "rec": nn.Linear(4, 4, bias=False)},
        ...                 [("in", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")],
        ...                 input="in", output="out")
        >>> g.recurrent_edges
        [('rec', 'lif')]
    """

    def __init__(
        self,
        nodes: Mapping[str, nn.Module],
        edges: Sequence[tuple[str, str]],
        *,
        input: str = "input",
        output: str = "output",
    ) -> None:
        super().__init__()
        names = [str(n) for n in nodes]
        if input in nodes or output in nodes:
            raise ValueError(f"the input/output names {input!r}/{output!r} must not also be module nodes")
        if input == output:
            raise ValueError("input and output must be different nodes")
        for name, module in nodes.items():
            if not isinstance(module, nn.Module):
                raise TypeError(f"node {name!r} must be an nn.Module, got {type(module).__name__}")
        self.node_names = names
        self.input_name, self.output_name = str(input), str(output)
        self._keys = _module_keys(names)
        self.nodes = nn.ModuleDict({self._keys[n]: nodes[n] for n in names})
        self.edges = [(str(a), str(b)) for a, b in edges]
        self._check_edges()
        self.order, self.recurrent_edges = _order(self.input_name, self.output_name, names, self.edges)
        rec = set(self.recurrent_edges)
        self._inputs: dict[str, list[tuple[str, bool]]] = {n: [] for n in [*names, self.output_name]}
        for a, b in self.edges:  # incoming (source, is_recurrent) in edge order
            self._inputs[b].append((a, (a, b) in rec))
        if not self._inputs[self.output_name]:
            raise ValueError(f"output node {self.output_name!r} has no incoming edge")

    def _check_edges(self) -> None:
        known = set(self.node_names) | {self.input_name, self.output_name}
        seen: set[tuple[str, str]] = set()
        for a, b in self.edges:
            for end in (a, b):
                if end not in known:
                    raise ValueError(f"edge ({a!r}, {b!r}) refers to unknown node {end!r}; nodes: {sorted(known)}")
            if b == self.input_name:
                raise ValueError(f"edge ({a!r}, {b!r}) leads into the input node")
            if a == self.output_name:
                raise ValueError(f"edge ({a!r}, {b!r}) leaves the output node")
            if (a, b) in seen:
                raise ValueError(f"duplicate edge ({a!r}, {b!r})")
            seen.add((a, b))

    def module(self, name: str) -> nn.Module:
        """The module of node ``name`` (as given to the constructor)."""
        if name not in self._keys:
            raise KeyError(f"no node {name!r}; nodes: {self.node_names}")
        return self.nodes[self._keys[name]]

    @property
    def is_recurrent(self) -> bool:
        return bool(self.recurrent_edges)

    # --- execution ------------------------------------------------------------------------------
    def init_state(self, x: Tensor) -> GraphState:
        """Resting state for single-step inputs ``x [B, *in]`` (built lazily per node on the first step)."""
        return GraphState(states={}, last={})

    def _gather(self, name: str, values: dict[str, Tensor], last: dict[str, Tensor]) -> Tensor:
        total: Tensor | None = None
        for src, recurrent in self._inputs[name]:
            v = last.get(src) if recurrent else values[src]
            if v is None:  # recurrent input before the first step: zero
                continue
            total = v if total is None else total + v
        if total is None:  # unreachable: every reachable node has a forward input (checked in _order)
            raise RuntimeError(f"node {name!r} received no input")
        return total

    def step(self, x: Tensor, state: GraphState | None = None) -> tuple[Tensor, GraphState]:
        """Advance one time step: ``x [B, *in]`` → ``(y [B, *out], state)``."""
        check_step_input(x)
        if state is None:
            state = self.init_state(x)
        values: dict[str, Tensor] = {self.input_name: x}
        states = dict(state.states)
        for name in self.order:
            xin = self._gather(name, values, state.last)
            values[name], states[name] = step_module(self.module(name), xin, states.get(name))
        y = self._gather(self.output_name, values, state.last)
        last = {a: values[a] for a, _ in self.recurrent_edges}
        return y, GraphState(states=states, last=last)

    def run(self, xs: Tensor, state: GraphState | None = None) -> tuple[Tensor, GraphState]:
        """Run over ``xs [T, B, *in]`` (continuing ``state`` if given) → ``(ys [T, B, *out], state)``."""
        check_sequence(xs)
        if self.is_recurrent:
            ys = []
            for x in xs:  # x: [B, *in]
                y, state = self.step(x, state)
                ys.append(y)
            return torch.stack(ys), state  # type: ignore[return-value]
        values: dict[str, Tensor] = {self.input_name: xs}
        old = state.states if state is not None else {}
        states: dict[str, Any] = {}
        for name in self.order:
            xin = self._gather(name, values, {})
            values[name], states[name] = run_module(self.module(name), xin, old.get(name))
        return self._gather(self.output_name, values, {}), GraphState(states=states, last={})

    def forward(self, xs: Tensor) -> Tensor:
        """Run a whole sequence ``[T, B, *in]`` from rest → ``[T, B, *out]``."""
        return self.run(xs)[0]

    def extra_repr(self) -> str:
        rec = f", recurrent={self.recurrent_edges}" if self.recurrent_edges else ""
        return f"input={self.input_name!r}, output={self.output_name!r}, edges={len(self.edges)}{rec}"


def _module_keys(names: list[str]) -> dict[str, str]:
    """Map node names to valid, unique ``nn.ModuleDict`` keys (no dots, not empty)."""
    keys: dict[str, str] = {}
    used: set[str] = set()
    for n in names:
        base = re.sub(r"[^0-9A-Za-z_]", "_", n) or "node"
        key, i = base, 1
        while key in used:
            key, i = f"{base}_{i}", i + 1
        used.add(key)
        keys[n] = key
    return keys


def _order(inp: str, out: str, names: list[str],
           edges: list[tuple[str, str]]) -> tuple[list[str], list[tuple[str, str]]]:
    """Topological order of the forward edges and the list of recurrent (back) edges."""
    succ: dict[str, list[str]] = {n: [] for n in [inp, *names, out]}
    for a, b in edges:
        succ[a].append(b)
    color: dict[str, int] = {}  # 1 = on the DFS stack, 2 = finished
    back: list[tuple[str, str]] = []
    post: list[str] = []
    stack: list[tuple[str, int]] = [(inp, 0)]
    color[inp] = 1
    while stack:  # iterative DFS (deep chains must not hit the recursion limit)
        node, i = stack[-1]
        if i < len(succ[node]):
            stack[-1] = (node, i + 1)
            nxt = succ[node][i]
            if color.get(nxt) == 1:
                back.append((node, nxt))
            elif nxt not in color:
                color[nxt] = 1
                stack.append((nxt, 0))
        else:
            color[node] = 2
            post.append(node)
            stack.pop()
    unreachable = [n for n in names if n not in color]
    if unreachable:
        raise ValueError(f"node(s) {unreachable} cannot be reached from the input node {inp!r}")
    if out not in color:
        raise ValueError(f"the output node {out!r} cannot be reached from the input node {inp!r}")
    order = [n for n in reversed(post) if n not in (inp, out)]
    return order, back
