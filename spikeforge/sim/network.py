"""``EventNetwork``: the thin module over :func:`~spikeforge.sim.engine.event_step`."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..neurons._reset import get_reset
from ..neurons.lif import LIFParams
from ..plasticity.stdp import STDP
from ..types import ResetFn
from .engine import SimParams, SimState, SpikeEvents, event_step, init_state, simulate
from .graph import SparseGraph

__all__ = ["EventNetwork"]

_GRAPH_FIELDS = ("crow", "col", "w", "delay", "ccol", "perm", "prow")
_NEURON_FIELDS = LIFParams._fields  # tau_mem, r, v_leak, v_th, v_reset


class EventNetwork(nn.Module):
    r"""A recurrent LIF network on sparse connectivity, simulated event by event.

    Dynamics in :mod:`spikeforge.sim.engine`: current input ``x + (arriving synaptic weights)``,
    the LIF membrane of :func:`~spikeforge.neurons.lif.lif_step`, strict threshold, reset, optional
    refractory period, integer synaptic delays, optional on-line pair STDP on the synapses.

    Args:
        graph: Connectivity (``n_pre == n_post``), e.g. from :func:`~spikeforge.sim.fixed_indegree`.
        tau_mem, r, v_leak, v_th, v_reset: LIF parameters, scalars or per-neuron ``[N]``.
        dt: Step [s].
        integrator: ``"euler"`` (needs ``dt <= tau_mem``) or ``"exp"``.
        reset: ``"value"`` (to ``v_reset``), ``"subtract"``, ``"zero"`` or a reset function.
        t_ref: Refractory period [s], a whole number of steps (0: none).
        stdp: A :class:`~spikeforge.plasticity.STDP` rule (same ``dt``) to learn on the synapses.
        w_bounds: ``(lo, hi)``: clip plastic weights after each update.

    Inputs/Outputs:
        ``run(current, state=None, steps=None, batch=1)`` → ``(SpikeEvents, state)``; ``current``
        ``[T, B, N]`` or a constant broadcastable to ``[B, N]`` (with ``steps``).
        ``step(x, state)`` → ``(z [B, N] bool, state)``. ``forward(xs [T, B, N])`` → spikes
        ``[T, B, N]`` from rest (dense, for small networks).

    Example:
        >>> from spikeforge.sim import EventNetwork, fixed_indegree
        >>> g = fixed_indegree(200, 20, w=0.5, generator=torch.Generator().manual_seed(0))
        >>> net = EventNetwork(g, tau_mem=10e-3, dt=1e-4, t_ref=2e-3)
        >>> events, state = net.run(1.2, steps=500)
        >>> int(events.t.max()) < 500 and state.t == 500
        True
    """

    tau_mem: Tensor
    r: Tensor
    v_leak: Tensor
    v_th: Tensor
    v_reset: Tensor
    crow: Tensor
    col: Tensor
    w: Tensor
    delay: Tensor
    ccol: Tensor
    perm: Tensor
    prow: Tensor

    def __init__(self, graph: SparseGraph, *, tau_mem: Tensor | float = 10e-3, r: Tensor | float = 1.0,
                 v_leak: Tensor | float = 0.0, v_th: Tensor | float = 1.0, v_reset: Tensor | float = 0.0,
                 dt: float = 1e-4, integrator: str = "euler", reset: str | ResetFn = "value", t_ref: float = 0.0,
                 stdp: STDP | None = None, w_bounds: tuple[float, float] | None = None) -> None:
        super().__init__()
        if not isinstance(graph, SparseGraph):
            raise TypeError(f"EventNetwork: graph must be a SparseGraph, got {type(graph).__name__}")
        if graph.n_pre != graph.n_post:
            raise ValueError(f"EventNetwork: the graph must be recurrent (n_pre == n_post), got "
                             f"{graph.n_pre} -> {graph.n_post}")
        n = graph.n_post
        dt = float(dt)
        if not (dt > 0 and math.isfinite(dt)):
            raise ValueError(f"EventNetwork: dt must be a positive number of seconds, got {dt!r}")
        if integrator not in ("euler", "exp"):
            raise ValueError(f"EventNetwork: integrator must be 'euler' or 'exp', got {integrator!r}")
        self.dt, self.integrator, self.n = dt, integrator, n
        self.reset_fn = get_reset(reset)
        for name, value in zip(_NEURON_FIELDS, (tau_mem, r, v_leak, v_th, v_reset)):
            t = torch.as_tensor(value, dtype=torch.float64).detach().clone()
            if t.dim() not in (0, 1) or (t.dim() == 1 and t.shape != (n,)):
                raise ValueError(f"EventNetwork: {name} must be a scalar or [N] = [{n}], got shape {tuple(t.shape)}")
            if not bool(torch.isfinite(t).all()):
                raise ValueError(f"EventNetwork: {name} must be finite")
            self.register_buffer(name, t)
        tau = self.tau_mem
        if not bool((tau > 0).all()):
            raise ValueError(f"EventNetwork: tau_mem must be > 0, got {tau.min().item():g}")
        if integrator == "euler" and not bool((tau >= dt).all()):
            raise ValueError(f"EventNetwork: forward Euler needs dt <= tau_mem, got dt = {dt:g} s > tau_mem = "
                             f"{tau.min().item():g} s; use integrator='exp' or a smaller dt")
        t_ref = float(t_ref)
        n_ref = round(t_ref / dt)
        if not t_ref >= 0 or abs(n_ref * dt - t_ref) > 1e-9 * max(dt, t_ref):
            raise ValueError(f"EventNetwork: t_ref must be >= 0 and a whole number of steps of dt = {dt:g} s, "
                             f"got {t_ref:g} s")
        self.n_ref = n_ref
        if stdp is not None:
            if not isinstance(stdp, STDP):
                raise TypeError(f"EventNetwork: stdp must be a spikeforge.plasticity.STDP rule, got "
                                f"{type(stdp).__name__}")
            if abs(stdp.dt - dt) > 1e-12 * dt:
                raise ValueError(f"EventNetwork: the STDP rule has dt = {stdp.dt:g} s but the network dt = {dt:g} s; "
                                 "create it with STDP(dt=...) of the network")
        self.stdp = stdp
        if w_bounds is not None:
            lo, hi = (float(b) for b in w_bounds)
            if not lo <= hi:
                raise ValueError(f"EventNetwork: w_bounds must be (lo, hi) with lo <= hi, got {w_bounds}")
            w_bounds = (lo, hi)
            if graph.n_synapses and not bool(((graph.w >= lo) & (graph.w <= hi)).all()):
                raise ValueError(f"EventNetwork: initial weights span [{graph.w.min().item():g}, "
                                 f"{graph.w.max().item():g}], outside w_bounds {w_bounds}")
        self.w_bounds = w_bounds
        for name in _GRAPH_FIELDS:
            self.register_buffer(name, getattr(graph, name))

    @property
    def graph(self) -> SparseGraph:
        """The connectivity (with the module's current device and initial weights)."""
        return SparseGraph(crow=self.crow, col=self.col, w=self.w, delay=self.delay, ccol=self.ccol, perm=self.perm,
                           prow=self.prow, n_post=self.n)

    def sim_params(self, dtype: torch.dtype = torch.float32) -> SimParams:
        """Parameters for :func:`~spikeforge.sim.event_step` (scalars as Python floats, ``[N]`` in ``dtype``)."""
        def cast(t: Tensor) -> Any:
            return t.item() if t.dim() == 0 else t.to(dtype)
        neuron = LIFParams(*(cast(getattr(self, name)) for name in _NEURON_FIELDS))
        return SimParams(neuron=neuron, reset=self.reset_fn, dt=self.dt, integrator=self.integrator,
                         n_ref=self.n_ref, stdp=self.stdp, w_bounds=self.w_bounds)

    def init_state(self, batch: int = 1, v0: Tensor | float | None = None,
                   dtype: torch.dtype | None = None) -> SimState:
        """Membrane at ``v0`` (default ``v_leak``), empty buffers and traces, the initial weights."""
        v = self.v_leak if v0 is None else v0
        return init_state(self.graph, batch, v, dtype)

    def step(self, x: Tensor | float, state: SimState) -> tuple[Tensor, SimState]:
        """One step (pure: ``state`` is not modified)."""
        return event_step(torch.as_tensor(x, dtype=state.v.dtype, device=state.v.device), state, self.graph,
                          self.sim_params(state.v.dtype))

    def run(self, current: Tensor | float, state: SimState | None = None, steps: int | None = None,
            batch: int = 1) -> tuple[SpikeEvents, SimState]:
        """Simulate; ``state=None`` starts ``batch`` copies from rest."""
        if state is None:
            b = current.shape[1] if isinstance(current, Tensor) and current.dim() == 3 else batch
            dtype = current.dtype if isinstance(current, Tensor) and current.is_floating_point() else None
            state = self.init_state(b, dtype=dtype)
        return simulate(current, state, self.graph, self.sim_params(state.v.dtype), steps)

    def forward(self, xs: Tensor) -> Tensor:
        """Spikes ``[T, B, N]`` (float) for currents ``xs [T, B, N]``, from rest."""
        if not isinstance(xs, Tensor) or xs.dim() != 3 or xs.shape[2] != self.n:
            raise ValueError(f"EventNetwork: expected currents [T, B, N={self.n}], got "
                             f"{tuple(xs.shape) if isinstance(xs, Tensor) else type(xs).__name__}")
        events, _ = self.run(xs)
        return events.to_raster(xs.shape[0], xs.shape[1], self.n, xs.dtype)

    def extra_repr(self) -> str:
        return (f"n={self.n}, synapses={self.col.numel()}, dt={self.dt:g}, integrator={self.integrator!r}, "
                f"n_ref={self.n_ref}, stdp={self.stdp!r}")
