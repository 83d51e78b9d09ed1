"""Run a directed graph of modules over time, including cycles (recurrent connections).

Semantics (those of NIR graphs): a node's input is the **sum** of the outputs of its
predecessors. Edges are split into *forward* edges, which form a DAG from the inputs, and
*recurrent* edges, which close a cycle; along a recurrent edge the value arrives **one step
later** (zero at the first step). Recurrent edges are the back edges of a depth-first search from
the input nodes (in their given order) that follows ``edges`` in their given order.

A graph without recurrent edges runs node by node over the whole sequence; a graph with one runs
step by step, advancing stateful nodes (neurons, delays, nested graphs) with their ``step``.

Every node runs through its module's ``__call__``, so forward hooks and pre-hooks fire (profilers,
NeuroBench, activation capture): a stateless node is called as ``module(xs)``; a stateful node as
``module(xs, state)`` with, for that one call, its ``forward`` bound to ``run`` (or to ``step`` on
a length-1 sequence ``[1, B, *]`` in step-by-step mode). Hooks thus see ``args = (xs, state)``
(``state`` is ``None`` from rest) and the output sequence; the new state is kept by the graph.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn

from ..neurons._base import check_sequence, check_step_input
from ._context import in_child

__all__ = ["ModuleGraph", "GraphState", "GraphInput", "step_module", "run_module", "call_with_state"]

GraphInput = Tensor | Sequence[Tensor] | Mapping[str, Tensor]
"""Input of a graph: a tensor (one input node), a sequence in the order of
:attr:`ModuleGraph.input_names`, or a mapping from input name to tensor."""


class GraphState(NamedTuple):
    states: dict[str, Any]  # per stateful node: its state (None for stateless nodes)
    last: dict[str, Tensor]  # per source of a recurrent edge: its output at the previous step [B, *]


def _is_stateful(module: nn.Module) -> bool:
    return callable(getattr(module, "step", None)) and callable(getattr(module, "init_state", None))


_MISSING = object()
_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _module_lock(module: nn.Module) -> threading.RLock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(module)
        if lock is None:
            lock = _LOCKS[module] = threading.RLock()
        return lock


def call_with_state(module: nn.Module, fn: Callable[[Tensor, Any], tuple[Tensor, Any]], xs: Tensor,
                    state: Any) -> tuple[Tensor, Any]:
    """``fn(xs, state) -> (ys, state)`` executed as the call ``module(xs, state)``, so that the
    module's forward pre-hooks and hooks fire around it (they see ``(xs, state)`` and ``ys``).

    For the duration of the call the module's ``forward`` is bound to ``fn`` (an instance
    attribute, removed again as soon as ``__call__`` has started it); concurrent calls of the
    same module through this function are serialised by a per-module lock.
    """
    result: list[Any] = []
    saved: Any = _MISSING  # an instance-level forward the module already had (read under the lock)

    def restore() -> None:
        if saved is _MISSING:
            module.__dict__.pop("forward", None)
        else:
            module.__dict__["forward"] = saved

    def forward(xs_: Tensor, state_: Any = None) -> Tensor:
        restore()  # fn may itself call module.forward (e.g. Delay.run from rest)
        ys, new_state = fn(xs_, state_)
        result.append(new_state)
        return ys

    with _module_lock(module):
        saved = module.__dict__.get("forward", _MISSING)
        module.__dict__["forward"] = forward
        try:
            ys = module(xs, state)
        finally:
            restore()
    if not result:
        raise RuntimeError(f"{type(module).__name__}: the module's call did not run its forward")
    return ys, result[-1]


def step_module(module: nn.Module, x: Tensor, state: Any) -> tuple[Tensor, Any]:
    """One step of any node through its call path: ``module.step`` for stateful modules, else the
    module on a length-1 sequence. Hooks see ``[1, B, *]``.

    Shapes:
        x, output: ``[B, *]``
    """
    if _is_stateful(module):
        stepper = cast(Any, module)  # a neuron-like module: step(x, state)

        def one_step(xs1: Tensor, s: Any) -> tuple[Tensor, Any]:
            y, s = stepper.step(xs1[0], s)  # [1, B, *] -> [B, *]
            return y.unsqueeze(0), s

        y1, state = call_with_state(module, one_step, x.unsqueeze(0), state)
        return y1.squeeze(0), state
    return module(x.unsqueeze(0)).squeeze(0), None  # [1, B, *] -> [B, *']


def run_module(module: nn.Module, xs: Tensor, state: Any) -> tuple[Tensor, Any]:
    """Run any node over ``xs [T, B, *]`` through its call path: ``module.run`` for stateful
    modules (hooks see ``(xs, state)``), else ``module(xs)``."""
    if _is_stateful(module) and callable(getattr(module, "run", None)):
        return call_with_state(module, cast(Any, module).run, xs, state)
    return module(xs), None


def _names(value: str | Sequence[str], what: str) -> list[str]:
    names = [value] if isinstance(value, str) else [str(v) for v in value]
    if not names:
        raise ValueError(f"a graph needs at least one {what} node")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate {what} node names {names}")
    return names


class ModuleGraph(nn.Module):
    """A graph of modules with one or more input and output nodes, run over ``[T, B, *]`` sequences.

    Args:
        nodes: Name → module. Names may contain any characters except that they must be
            unique; they are kept as given (e.g. NIR node names) in :attr:`node_names`.
        edges: ``(source, destination)`` pairs between node names, inputs and outputs.
        input: Name of the input node, or several names (not modules: each yields one input).
        output: Name of the output node, or several names (not modules: each is the sum of its
            inputs).

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *in]`` → ``[T, B, *out]`` from rest;
        ``run(xs, state)`` → ``(ys, state)``; ``step(x, state)`` → ``(y, state)`` with ``x [B, *in]``.
        With several input nodes, ``xs`` is a tuple/list in the order of :attr:`input_names` or a
        dict ``{input name: tensor}`` (all with the same ``T`` and ``B``); with several output
        nodes, ``ys`` is a tuple in the order of :attr:`output_names`.

    Raises:
        ValueError: for edges naming unknown nodes, edges into an input or out of an output,
            duplicate edges, nodes unreachable from the inputs, or an output without inputs.

    Example:
        >>> g = ModuleGraph({"fc": nn.Linear(4, 4), "lif": LIF(), "rec": nn.Linear(4, 4, bias=False)},
        ...                 [("in", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")],
        ...                 input="in", output="out")
        >>> g.recurrent_edges
        [('rec', 'lif')]
        >>> two = ModuleGraph({"a": nn.Linear(3, 2), "b": nn.Linear(5, 2)},
        ...                   [("x", "a"), ("y", "b"), ("a", "sum"), ("b", "sum"), ("b", "b_out")],
        ...                   input=("x", "y"), output=("sum", "b_out"))
        >>> [y.shape for y in two((torch.rand(7, 2, 3), torch.rand(7, 2, 5)))]
        [torch.Size([7, 2, 2]), torch.Size([7, 2, 2])]
    """

    time_major = True  # inputs are [T, B, *] by contract (profilers read T and B here)

    def __init__(
        self,
        nodes: Mapping[str, nn.Module],
        edges: Sequence[tuple[str, str]],
        *,
        input: str | Sequence[str] = "input",
        output: str | Sequence[str] = "output",
    ) -> None:
        super().__init__()
        names = [str(n) for n in nodes]
        self.input_names, self.output_names = _names(input, "input"), _names(output, "output")
        for b in (*self.input_names, *self.output_names):
            if b in nodes:
                raise ValueError(f"the input/output name {b!r} must not also be a module node")
        both = set(self.input_names) & set(self.output_names)
        if both:
            raise ValueError(f"input and output must be different nodes, both: {sorted(both)}")
        for name, module in nodes.items():
            if not isinstance(module, nn.Module):
                raise TypeError(f"node {name!r} must be an nn.Module, got {type(module).__name__}")
        self.node_names = names
        self._keys = _module_keys(names)
        self.nodes = nn.ModuleDict({self._keys[n]: nodes[n] for n in names})
        self.edges = [(str(a), str(b)) for a, b in edges]
        self._check_edges()
        self.order, self.recurrent_edges = _order(self.input_names, self.output_names, names, self.edges)
        rec = set(self.recurrent_edges)
        self._inputs: dict[str, list[tuple[str, bool]]] = {n: [] for n in [*names, *self.output_names]}
        for a, b in self.edges:  # incoming (source, is_recurrent) in edge order
            self._inputs[b].append((a, (a, b) in rec))
        for out in self.output_names:
            if not self._inputs[out]:
                raise ValueError(f"output node {out!r} has no incoming edge")

    @property
    def input_name(self) -> str:
        """The input node's name (graphs with one input node)."""
        if len(self.input_names) != 1:
            raise ValueError(f"the graph has {len(self.input_names)} input nodes {self.input_names}; use input_names")
        return self.input_names[0]

    @property
    def output_name(self) -> str:
        """The output node's name (graphs with one output node)."""
        if len(self.output_names) != 1:
            raise ValueError(f"the graph has {len(self.output_names)} output nodes {self.output_names}; "
                             f"use output_names")
        return self.output_names[0]

    def _check_edges(self) -> None:
        known = set(self.node_names) | set(self.input_names) | set(self.output_names)
        seen: set[tuple[str, str]] = set()
        for a, b in self.edges:
            for end in (a, b):
                if end not in known:
                    raise ValueError(f"edge ({a!r}, {b!r}) refers to unknown node {end!r}; nodes: {sorted(known)}")
            if b in self.input_names:
                raise ValueError(f"edge ({a!r}, {b!r}) leads into the input node {b!r}")
            if a in self.output_names:
                raise ValueError(f"edge ({a!r}, {b!r}) leaves the output node {a!r}")
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

    # --- inputs and outputs -------------------------------------------------------------------
    def _bind(self, xs: GraphInput, check: Callable[[Tensor], Tensor], lead: int) -> dict[str, Tensor]:
        """Input name → tensor, checked with ``check``; all share their ``lead`` leading dims."""
        names = self.input_names
        if isinstance(xs, Tensor):
            if len(names) != 1:
                raise TypeError(f"the graph has {len(names)} input nodes {names}: pass a tuple in that order or "
                                f"a dict {{name: tensor}}, got one tensor")
            bound = {names[0]: xs}
        elif isinstance(xs, Mapping):
            keys = [str(k) for k in xs]
            if sorted(keys) != sorted(names):
                raise ValueError(f"graph inputs are {names}, got a dict with keys {keys}")
            bound = {str(k): v for k, v in xs.items()}
        elif isinstance(xs, (tuple, list)):
            if len(xs) != len(names):
                raise ValueError(f"the graph has {len(names)} input node(s) {names}, got {len(xs)} tensors")
            bound = dict(zip(names, xs))
        else:
            raise TypeError(f"graph input must be a tensor, a tuple/list or a dict of tensors, "
                            f"got {type(xs).__name__}")
        for name, x in bound.items():
            if not isinstance(x, Tensor):
                raise TypeError(f"input {name!r} must be a tensor, got {type(x).__name__}")
            check(x)
        lead_shapes = {n: tuple(x.shape[:lead]) for n, x in bound.items()}
        if len(set(lead_shapes.values())) > 1:
            raise ValueError(f"graph inputs must share their leading {'[T, B]' if lead == 2 else '[B]'} dims, "
                             f"got {lead_shapes}")
        return bound

    def _result(self, values: dict[str, Tensor], last: dict[str, Tensor]) -> Any:
        outs = tuple(self._gather(n, values, last) for n in self.output_names)
        return outs[0] if len(outs) == 1 else outs

    # --- execution ------------------------------------------------------------------------------
    def init_state(self, x: GraphInput) -> GraphState:
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

    def step(self, x: GraphInput, state: GraphState | None = None) -> tuple[Any, GraphState]:
        """Advance one time step: ``x [B, *in]`` → ``(y [B, *out], state)``."""
        values: dict[str, Tensor] = self._bind(x, check_step_input, 1)
        if state is None:
            state = self.init_state(x)
        states = dict(state.states)
        for name in self.order:
            xin = self._gather(name, values, state.last)
            with in_child("ModuleGraph", f"node {name!r}", self.module(name), xin):
                values[name], states[name] = step_module(self.module(name), xin, states.get(name))
        y = self._result(values, state.last)
        last = {a: values[a] for a, _ in self.recurrent_edges}
        return y, GraphState(states=states, last=last)

    def run(self, xs: GraphInput, state: GraphState | None = None) -> tuple[Any, GraphState]:
        """Run over ``xs [T, B, *in]`` (continuing ``state`` if given) → ``(ys [T, B, *out], state)``."""
        values = self._bind(xs, check_sequence, 2)
        if self.is_recurrent:
            T = next(iter(values.values())).shape[0]
            ys: list[Any] = []
            for t in range(T):
                y, state = self.step({n: v[t] for n, v in values.items()}, state)  # [B, *in] each
                ys.append(y)
            if len(self.output_names) == 1:
                return torch.stack(ys), state  # type: ignore[return-value]
            return tuple(torch.stack(seq) for seq in zip(*ys)), state  # type: ignore[return-value]
        old = state.states if state is not None else {}
        states: dict[str, Any] = {}
        for name in self.order:
            xin = self._gather(name, values, {})
            with in_child("ModuleGraph", f"node {name!r}", self.module(name), xin):
                values[name], states[name] = run_module(self.module(name), xin, old.get(name))
        return self._result(values, {}), GraphState(states=states, last={})

    def forward(self, xs: GraphInput) -> Any:
        """Run a whole sequence ``[T, B, *in]`` from rest → ``[T, B, *out]`` (a tuple for several outputs)."""
        return self.run(xs)[0]

    def extra_repr(self) -> str:
        rec = f", recurrent={self.recurrent_edges}" if self.recurrent_edges else ""
        ins = self.input_names[0] if len(self.input_names) == 1 else self.input_names
        outs = self.output_names[0] if len(self.output_names) == 1 else self.output_names
        return f"input={ins!r}, output={outs!r}, edges={len(self.edges)}{rec}"


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


def _order(inputs: list[str], outputs: list[str], names: list[str],
           edges: list[tuple[str, str]]) -> tuple[list[str], list[tuple[str, str]]]:
    """Topological order of the forward edges and the list of recurrent (back) edges."""
    succ: dict[str, list[str]] = {n: [] for n in [*inputs, *names, *outputs]}
    for a, b in edges:
        succ[a].append(b)
    color: dict[str, int] = {}  # 1 = on the DFS stack, 2 = finished
    back: list[tuple[str, str]] = []
    post: list[str] = []
    for inp in inputs:
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
    where = f"the input node {inputs[0]!r}" if len(inputs) == 1 else f"any input node {inputs}"
    if unreachable:
        raise ValueError(f"node(s) {unreachable} cannot be reached from {where}")
    for out in outputs:
        if out not in color:
            raise ValueError(f"the output node {out!r} cannot be reached from {where}")
    boundary = {*inputs, *outputs}
    order = [n for n in reversed(post) if n not in boundary]
    return order, back
