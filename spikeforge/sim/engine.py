r"""Event-driven simulation of a recurrent LIF network on a :class:`~spikeforge.sim.graph.SparseGraph`.

One step ``t`` of :func:`event_step` (``B`` independent copies of the network, ``N`` neurons):

1. Input current: :math:`I_t = x_t + q_t`, where :math:`q_t = \sum w_s` over the synapses whose spike
   arrives at ``t`` (a ring buffer of ``max_delay`` slots; a spike at step ``t'`` through a synapse
   of delay :math:`d_s \ge 1` arrives at :math:`t' + d_s`). The synaptic input is a current held
   for one step, exactly what a dense ``Linear`` feeding a LIF layer gives.
2. Membrane, as :func:`spikeforge.neurons.lif.lif_step`: :math:`v' = c_1 v + c_2 I_t + c_3`
   (``"euler"``: :math:`c_1 = 1 - dt/\tau`, ``"exp"``: :math:`c_1 = e^{-dt/\tau}`; see
   :mod:`spikeforge.neurons._dynamics`), frozen while refractory.
3. Spike :math:`z = [v' > v_{th}]` (strict) for non-refractory neurons; reset (``"value"``:
   :math:`v = v_{reset}`, ``"subtract"``, ``"zero"``); a neuron spiking at ``t`` is held for ``n_ref - 1``
   steps and may fire again at ``t + n_ref`` (Brian2's ``refractory = n_ref · dt``).
4. Propagation: only the CSR rows of the neurons that spiked are read, and their weights are
   scatter-added (``index_add_``) into the ring buffer — work ~ spikes × out-degree, not synapses.
5. Optional on-line pair STDP (:func:`sparse_stdp`): the dense rule
   :func:`spikeforge.plasticity.stdp_step` restricted to the existing synapses, touching only the rows of
   spiking presynaptic neurons (depression) and the columns of spiking postsynaptic neurons
   (potentiation, through the transposed index).

Neuron updates (a few element-wise ops on ``[B, N]``) stay dense and vectorised: they are cheap; the
synaptic work, which dominates at 10⁷ synapses, scales with events.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ..neurons._dynamics import leaky_integrate
from ..neurons._reset import reset_to_value
from ..neurons.lif import LIFParams
from ..numerics import check_finite
from ..plasticity._base import decay_factor, trace_update
from ..plasticity.stdp import STDP
from ..types import ResetFn
from .graph import SparseGraph

__all__ = ["SimParams", "SimState", "SpikeEvents", "event_step", "propagate", "sparse_stdp", "simulate",
           "init_state"]


class SimParams(NamedTuple):
    neuron: LIFParams  # tau_mem, r, v_leak, v_th, v_reset: scalars or per-neuron [N] tensors
    reset: ResetFn  # (v, z, v_th, v_reset) -> v, e.g. spikeforge.neurons._reset.reset_to_value
    dt: float = 1e-4  # step [s]
    integrator: str = "euler"  # "euler" or "exp"
    n_ref: int = 0  # refractory period in steps (0 or 1: none)
    stdp: STDP | None = None  # on-line pair STDP on the synapses (None: fixed weights)
    w_bounds: tuple[float, float] | None = None  # hard clip [lo, hi] of plastic weights after each update


class SimState(NamedTuple):
    v: Tensor  # [B, N] membrane
    ref: Tensor  # [B, N] int: steps the neuron stays frozen
    buf: Tensor  # [D, B, N] synaptic current arriving in the next D steps (slot t % D is step t)
    x: Tensor  # [B, N] presynaptic STDP trace
    y: Tensor  # [B, N] postsynaptic STDP trace
    w: Tensor  # [S] weights in CSR order (plastic under STDP)
    t: int  # steps simulated so far


class SpikeEvents(NamedTuple):
    t: Tensor  # [E] step of each spike
    b: Tensor  # [E] batch entry
    i: Tensor  # [E] neuron

    def to_raster(self, steps: int, batch: int, n: int, dtype: torch.dtype = torch.float32) -> Tensor:
        """Dense spikes ``[T, B, N]``."""
        out = torch.zeros(steps, batch, n, dtype=dtype, device=self.t.device)
        out[self.t, self.b, self.i] = 1
        return out


def init_state(graph: SparseGraph, batch: int = 1, v0: Tensor | float = 0.0,
               dtype: torch.dtype | None = None) -> SimState:
    """Network at rest (or at ``v0``, a scalar or ``[N]``/``[B, N]``), empty buffers and traces, the graph's weights."""
    dtype = dtype or graph.w.dtype
    n, dev = graph.n_post, graph.col.device
    v0_t = torch.as_tensor(v0, dtype=dtype, device=dev)
    try:
        v = v0_t.expand(batch, n).clone()
    except RuntimeError:
        raise ValueError(f"init_state: v0 must broadcast to [B, N] = [{batch}, {n}], got {tuple(v0_t.shape)}") from None
    zeros = torch.zeros(batch, n, dtype=dtype, device=dev)
    return SimState(v=v, ref=torch.zeros(batch, n, dtype=torch.int32, device=dev),
                    buf=torch.zeros(graph.max_delay, batch, n, dtype=dtype, device=dev),
                    x=zeros, y=zeros.clone(), w=graph.w.to(dtype).clone(), t=0)


def _expand(ptr: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """Positions of the ranges ``ptr[r] : ptr[r+1]`` of ``rows``: ``(event [K], position [K])``.

    ``event`` indexes ``rows``; vectorised with ``repeat_interleave`` (no loop over rows).
    """
    start = ptr[rows]
    counts = ptr[rows + 1] - start
    ev = torch.repeat_interleave(counts)  # [K]: row (index into rows) of each position
    shift = start - (torch.cumsum(counts, 0) - counts)  # start minus the exclusive prefix sum
    return ev, torch.arange(ev.numel(), device=rows.device) + shift[ev]


def propagate(buf: Tensor, b: Tensor, i: Tensor, graph: SparseGraph, w: Tensor, t: int) -> Tensor:
    """Scatter-add the weights of the synapses of spikes ``(b, i)`` emitted at step ``t`` into ``buf`` (in place).

    ``buf [D, B, N]``: slot ``(t + delay) % D`` receives what arrives at ``t + delay``. Returns the
    CSR positions touched (one per synaptic event).
    """
    D, B, N = buf.shape
    ev, syn = _expand(graph.crow, i)
    target = graph.col[syn] if B == 1 else b[ev] * N + graph.col[syn]  # flat index into [B, N]
    if D > 1:
        target = ((t + graph.delay[syn]) % D) * (B * N) + target  # flat index into [D, B, N]
    buf.view(-1).index_add_(0, target, w[syn].to(buf.dtype))
    return syn


def sparse_stdp(w: Tensor, b: Tensor, i: Tensor, x: Tensor, y: Tensor, graph: SparseGraph, rule: STDP,
                w_bounds: tuple[float, float] | None = None) -> Tensor:
    r"""Apply one step of pair STDP to the synapses touched by spikes ``(b, i)`` (in place on ``w``).

    With traces ``x, y`` already updated with this step's spikes (incremented before being read,
    as in :func:`~spikeforge.plasticity.stdp_step`), for every synapse :math:`s = (\mathrm{pre} \to
    \mathrm{post})`:

    .. math::
        \Delta w_s = \sum_b \eta_+ A_+(w_s)\, z_{b,\mathrm{post}}\, x_{b,\mathrm{pre}}
                   - \eta_- A_-(w_s)\, y_{b,\mathrm{post}}\, z_{b,\mathrm{pre}}

    (averaged over ``b`` with ``reduce="mean"``), ``A±`` evaluated at the weights before the step,
    then ``w`` is clipped to ``w_bounds`` if given — equal to the dense rule masked to the graph.
    Depression reads the CSR rows of spiking neurons; potentiation the transposed index of spiking
    neurons. ``rule.weight_dependence`` must act element-wise. Returns ``w``.
    """
    p = rule.params
    N = x.shape[1]
    ev, syn_d = _expand(graph.crow, i)  # depression: synapses leaving a spiking neuron
    a_minus = rule.weight_dependence(w[syn_d], p.w_min, p.w_max, p.mu)[1]
    post = graph.col[syn_d]
    ltd = p.eta_minus * a_minus * y.reshape(-1)[post if y.shape[0] == 1 else b[ev] * N + post]
    ev2, k = _expand(graph.ccol, i)  # potentiation: synapses arriving at a spiking neuron
    syn_p = graph.perm[k]
    a_plus = rule.weight_dependence(w[syn_p], p.w_min, p.w_max, p.mu)[0]
    pre = graph.prow[k]
    ltp = p.eta_plus * a_plus * x.reshape(-1)[pre if x.shape[0] == 1 else b[ev2] * N + pre]
    idx = torch.cat([syn_p, syn_d])
    dw = torch.cat([torch.as_tensor(ltp, dtype=w.dtype).expand(syn_p.shape),
                    -torch.as_tensor(ltd, dtype=w.dtype).expand(syn_d.shape)])
    if rule.reduce == "mean":
        dw = dw / x.shape[0]
    w.index_add_(0, idx, dw)
    if w_bounds is not None and idx.numel():
        w[idx] = w[idx].clamp(w_bounds[0], w_bounds[1])
    return w


def event_step(x: Tensor, state: SimState, graph: SparseGraph, p: SimParams, *,
               inplace: bool = False) -> tuple[Tensor, SimState]:
    """Advance the network one step (module docstring); returns ``(z [B, N] bool, new state)``.

    Args:
        x: External current at this step, broadcastable to ``[B, N]``.
        state: State before the step.
        graph: Connectivity (its weights are ignored: the state's ``w`` is used).
        p: Neuron, integrator, refractoriness and plasticity options.
        inplace: Update the state's ring buffer and weights in place (what :func:`simulate` does on
            its own copy). With ``False`` the input state is left untouched (a copy of ``[D, B, N]``
            per step, and of the weights ``[S]`` under STDP).
    """
    z, _, _, state = _step(x, state, graph, p, inplace=inplace)
    return z, state


def _step(x: Tensor, state: SimState, graph: SparseGraph, p: SimParams, *,
          inplace: bool) -> tuple[Tensor, Tensor, Tensor, SimState]:
    """:func:`event_step`, also returning the spikes as indices ``(b, i)``."""
    buf = state.buf if inplace else state.buf.clone()
    w = state.w if inplace or p.stdp is None else state.w.clone()  # weights change only under STDP
    slot = buf[state.t % buf.shape[0]]  # [B, N] input arriving now
    current = x + slot
    q = p.neuron
    v = leaky_integrate(state.v, current, q, p.dt, p.integrator)
    slot.zero_()
    if p.n_ref > 1:
        active = state.ref == 0
        v = torch.where(active, v, state.v)
        z = active & (v > q.v_th)
        ref = torch.where(z, p.n_ref - 1, (state.ref - 1).clamp_min(0)).to(state.ref.dtype)
    else:
        z, ref = v > q.v_th, state.ref
    zf = z.to(v.dtype)
    if p.reset is reset_to_value:  # the same values as v (1 - z) + z v_reset, in one pass
        v = torch.where(z, torch.as_tensor(q.v_reset, dtype=v.dtype, device=v.device), v)
    else:
        v = p.reset(v, zf, q.v_th, q.v_reset)
    b, i = z.nonzero(as_tuple=True)
    if i.numel():
        propagate(buf, b, i, graph, w, state.t)
    xt, yt = state.x, state.y
    if p.stdp is not None:
        rule = p.stdp
        xt = trace_update(state.x, zf, decay_factor(rule.params.tau_pre, p.dt, rule.trace_integrator),
                          rule.params.a_pre, rule.nearest)
        yt = trace_update(state.y, zf, decay_factor(rule.params.tau_post, p.dt, rule.trace_integrator),
                          rule.params.a_post, rule.nearest)
        if i.numel():
            sparse_stdp(w, b, i, xt, yt, graph, rule, p.w_bounds)
    return z, b, i, SimState(v=v, ref=ref, buf=buf, x=xt, y=yt, w=w, t=state.t + 1)


def simulate(current: Tensor | float, state: SimState, graph: SparseGraph, p: SimParams,
             steps: int | None = None, *, check: bool = True) -> tuple[SpikeEvents, SimState]:
    """Run :func:`event_step` over time; the input ``state`` is not modified.

    Args:
        current: ``[T, B, N]`` (one slice per step) or a constant broadcastable to ``[B, N]`` (then
            give ``steps``).
        state: Initial state (:func:`init_state`).
        graph, p: As in :func:`event_step`.
        steps: Number of steps for a constant current.
        check: Raise :class:`~spikeforge.numerics.NonFiniteError` on NaN/inf input or final membrane.

    Returns:
        ``(events, state)``: every spike as ``(t, b, i)`` (``t`` counted from ``state.t``) and the final state.
    """
    B, N = state.v.shape
    c = torch.as_tensor(current, dtype=state.v.dtype, device=state.v.device)
    per_step = c.dim() == 3
    if per_step:
        if c.shape[1:] != (B, N) and not (c.shape[1] in (1, B) and c.shape[2] in (1, N)):
            raise ValueError(f"simulate: current [T, B, N] must match the state [B, N] = [{B}, {N}], "
                             f"got {tuple(c.shape)}")
        if steps is not None and steps != c.shape[0]:
            raise ValueError(f"simulate: steps={steps} but the current has {c.shape[0]} steps")
        steps = c.shape[0]
    else:
        if steps is None:
            raise ValueError("simulate: give steps= for a constant current (or a [T, B, N] current)")
        try:  # (torch.broadcast_shapes would import sympy: seconds on first use)
            c.expand(B, N)
        except RuntimeError:
            raise ValueError(f"simulate: current of shape {tuple(c.shape)} does not broadcast to the "
                             f"state [B, N] = [{B}, {N}]") from None
    if int(steps) < 0:
        raise ValueError(f"simulate: steps must be >= 0, got {steps}")
    if check:
        check_finite(c, "spikeforge.sim.simulate", "current", time_major=per_step)
    t0 = state.t
    # owned copies, updated in place (the weights only change under STDP)
    state = state._replace(buf=state.buf.clone(), w=state.w.clone() if p.stdp is not None else state.w)
    if not per_step:
        c = c.expand(B, N).contiguous()  # one [B, N] operand per step instead of a broadcast
    ts: list[Tensor] = []
    bs: list[Tensor] = []
    is_: list[Tensor] = []
    for k in range(int(steps)):
        _, b, i, state = _step(c[k] if per_step else c, state, graph, p, inplace=True)
        if b.numel():
            ts.append(torch.full_like(b, state.t - 1 - t0))
            bs.append(b)
            is_.append(i)
    if check:
        check_finite(state.v, "spikeforge.sim.simulate", "membrane v", time_major=False)
    empty = torch.zeros(0, dtype=torch.long, device=state.v.device)
    cat = (lambda xs: torch.cat(xs) if xs else empty)  # noqa: E731
    return SpikeEvents(cat(ts), cat(bs), cat(is_)), state
