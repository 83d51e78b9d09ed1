r"""SLTT, SLTT-K and OTTT: backpropagate each time step at once, keeping no graph across steps.

BPTT through a spiking layer has two routes from a loss into the membrane ``u_t``: the *spatial*
one (through the spike ``s_t`` to later layers at the same step) and the *temporal* one (through
``u_{t+1}``: leak and reset). SLTT (Meng et al., ICCV 2023) drops the temporal route: the state
carried into step ``t`` is detached,

.. math:: u_t = \lambda\,\mathrm{sg}(\hat u_{t-1}) + W x_t,

so the gradient of the per-step loss :math:`L_t / T` is complete as soon as step ``t`` has run;
``backward`` is called once per step, weight gradients accumulate in ``.grad`` and the graph of
step ``t`` is freed before step ``t + 1``: the bytes kept for backward do not grow with ``T``.
With zero leak (:math:`\lambda = 0`) nothing is dropped and SLTT equals BPTT.

SLTT-K back-propagates only ``K`` steps drawn uniformly without replacement (``randperm(T)[:K]``);
the other steps run without grad (the state still advances) and the chosen losses are still
divided by ``T``.

OTTT (Xiao et al., NeurIPS 2022) runs the same detached forward but gives every synaptic layer
fed by spikes a presynaptic trace :math:`\hat a_t = \lambda \hat a_{t-1} + s_t` (no grad) and uses
it in the weight gradient in place of the instantaneous spikes,

.. math:: \nabla W \mathrel{+}= \delta_t\, \hat a_t^\top, \qquad \delta_t = \partial L_t / \partial (W s_t),

while the forward value and the gradient passed on to earlier layers still use ``s_t``. OTTT_A
accumulates over ``T`` (default); OTTT_O (``optimizer=...``) updates the weights after every step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ...kernels.sltt import run_sltt_step
from ...neurons._base import Neuron, check_sequence
from ...numerics import check_finite, check_finite_enabled
from ...runtime.recompute import is_stateful

__all__ = ["OnlineResult", "ottt_backward", "sltt_backward"]

LossFn = Callable[[Tensor, int], Tensor]


class OnlineResult(NamedTuple):
    """What one online pass returns.

    Attributes:
        outputs: The network outputs ``[T, B, *]`` (detached).
        loss: The mean over steps of the per-step losses (all ``T`` steps, as a float).
        backward_calls: How many times ``backward`` ran (``T``, or ``K`` for SLTT-K).
        states: The final state of each stateful layer, in order (detached).
    """

    outputs: Tensor
    loss: float
    backward_calls: int
    states: list[Any]


def _layers(model: nn.Module | Sequence[nn.Module]) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        return list(model)
    if isinstance(model, nn.Module):
        return [model]
    return list(model)


def _detach(state: Any) -> Any:
    """Cut the temporal gradient route: every tensor of a (nested) state tuple, detached."""
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, tuple):
        vals = [_detach(v) for v in state]
        return type(state)(*vals) if hasattr(state, "_fields") else tuple(vals)
    return state


def _has_params(m: nn.Module) -> bool:
    return any(p.requires_grad for p in m.parameters())


def _traced(m: nn.Module, x: Tensor, trace: Tensor) -> Tensor:
    """``m(x)`` in value and input gradient; weight gradient as if the input were ``trace``.

    ``m(trace; W) - m(trace; W)|no grad`` is exactly zero in value and carries
    ``dL/dW`` evaluated at the trace; ``m(x; sg(W))`` carries the value and ``dL/dx``. For an
    affine layer (Linear, Conv) this is ``∇W = δ â^T``.
    """
    frozen = {n: p.detach() for n, p in m.named_parameters()}
    through_x = functional_call(m, frozen, (x,))
    through_trace = m(trace)
    return through_trace - through_trace.detach() + through_x


def _fused_sltt_step(m: nn.Module, h: Tensor, state: Any) -> tuple[Tensor, Any] | None:
    """One step of a spikeforge neuron on the fused SLTT kernel (:mod:`spikeforge.kernels.sltt`:
    the spatial-only backward, one ``[B, *]`` tensor saved), or ``None`` where it does not apply
    (another backend or model, custom surrogate/reset/quantizer): then ``m.run`` runs the step."""
    if not isinstance(m, Neuron):
        return None
    p, state, kwargs = m.prepare_run(h, state)
    return run_sltt_step(m.backend, type(m).step_fn, h, state, p, kwargs, where=type(m).__name__)


def _online(model: nn.Module | Sequence[nn.Module], xs: Tensor, loss_fn: LossFn, *, who: str,
            k: int | None, trace_decay: float | None, optimizer: torch.optim.Optimizer | None,
            generator: torch.Generator | None) -> OnlineResult:
    check_sequence(xs, who)
    if not callable(loss_fn):
        raise TypeError(f"{who}: loss_fn must be a callable (output_t [B, *], t) -> scalar loss, "
                        f"got {type(loss_fn).__name__}")
    if not torch.is_grad_enabled():
        raise RuntimeError(f"{who}: gradients are disabled (torch.no_grad?); online training needs them")
    layers = _layers(model)
    T = xs.shape[0]
    if k is None:
        chosen = set(range(T))
    else:
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= T:
            raise ValueError(f"{who}: k must be an int in [1, T={T}] (steps to backpropagate), got {k!r}")
        chosen = set(torch.randperm(T, generator=generator)[:k].tolist())
    stateful = [is_stateful(m) for m in layers]
    # OTTT: a trace for each layer with weights whose input comes from a spiking layer
    tracing: list[bool] = []
    seen_spikes = False
    for m, sf in zip(layers, stateful):
        tracing.append(trace_decay is not None and seen_spikes and not sf and _has_params(m))
        seen_spikes = seen_spikes or (sf and getattr(m, "spiking", True))
    states: list[Any] = [None] * len(layers)
    traces: list[Tensor | None] = [None] * len(layers)
    outs: list[Tensor] = []
    total, calls = 0.0, 0
    checking = check_finite_enabled()
    for t in range(T):
        grad = t in chosen
        with torch.set_grad_enabled(grad):
            h = xs[t:t + 1]  # [1, B, *]: one step as a sequence
            for i, (m, sf) in enumerate(zip(layers, stateful)):
                if sf:
                    st = _detach(states[i])
                    fused = _fused_sltt_step(m, h, st) if grad else None
                    h, st = fused if fused is not None else m.run(h, st)  # type: ignore[operator]
                    states[i] = st
                elif tracing[i]:
                    s = h.detach()
                    prev = traces[i]
                    tr = s if prev is None else trace_decay * prev + s  # type: ignore[operator]
                    traces[i] = tr
                    h = _traced(m, h, tr) if grad else m(h)
                else:
                    h = m(h)
            loss = loss_fn(h[0], t) / T
            if not isinstance(loss, Tensor) or loss.numel() != 1:
                raise ValueError(f"{who}: loss_fn must return a scalar tensor, got "
                                 f"{tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__}")
            if checking:
                check_finite(loss.detach().reshape(1), who, f"loss at step {t}", time_major=False)
            if grad:
                if not loss.requires_grad:
                    raise RuntimeError(f"{who}: the loss at step {t} does not depend on any trainable "
                                       "parameter (no graph to backpropagate)")
                loss.backward()
                calls += 1
                if optimizer is not None:  # update every step (OTTT_O / online SLTT)
                    optimizer.step()
                    optimizer.zero_grad()
        total += float(loss.detach())
        outs.append(h.detach())
        states = [_detach(s) for s in states]
    if not math.isfinite(total) and checking:  # pragma: no cover - caught per step above
        raise FloatingPointError(f"{who}: non-finite total loss {total}")
    return OnlineResult(torch.cat(outs), total, calls, [s for s, sf in zip(states, stateful) if sf])


def sltt_backward(model: nn.Module | Sequence[nn.Module], xs: Tensor, loss_fn: LossFn, *, k: int | None = None,
                  optimizer: torch.optim.Optimizer | None = None,
                  generator: torch.Generator | None = None) -> OnlineResult:
    """Run ``model`` over ``xs [T, B, *]`` from rest with SLTT, backpropagating each step at once.

    Gradients of ``mean_t loss_fn(y_t, t)`` with the temporal route dropped accumulate in the
    parameters' ``.grad`` (call ``optimizer.step()`` afterwards), unless ``optimizer`` is given:
    then it steps (and zeroes the gradients) after every backpropagated step.

    Args:
        model: ``nn.Sequential`` (or list) of stateless layers and stateful layers (any
            spikeforge neuron, or a module with ``run(xs, state)`` and ``init_state``). Stateless
            layers see one step as a sequence ``[1, B, *]``.
        xs: Time-major input ``[T, B, *]``.
        loss_fn: ``(y_t [B, *], t) -> scalar``; it is divided by ``T`` here.
        k: SLTT-K: backpropagate only ``k`` steps drawn uniformly without replacement.
        optimizer: Update after every step instead of accumulating.
        generator: Random source for the SLTT-K draw.

    Returns:
        :class:`OnlineResult` (detached outputs, mean loss, number of backward calls, final states).

    Example:
        >>> from spikeforge.neurons import LIF
        >>> net = nn.Sequential(nn.Linear(8, 16), LIF.from_decay(0.5), nn.Linear(16, 3))
        >>> xs, y = torch.rand(20, 4, 8), torch.tensor([0, 1, 2, 0])   # [T=20, B=4, 8]
        >>> res = sltt_backward(net, xs, lambda o, t: nn.functional.cross_entropy(o, y))
        >>> res.backward_calls, res.outputs.shape
        (20, torch.Size([20, 4, 3]))
    """
    return _online(model, xs, loss_fn, who="sltt_backward", k=k, trace_decay=None, optimizer=optimizer,
                   generator=generator)


def ottt_backward(model: nn.Module | Sequence[nn.Module], xs: Tensor, loss_fn: LossFn, *, decay: float,
                  optimizer: torch.optim.Optimizer | None = None) -> OnlineResult:
    """Run ``model`` over ``xs [T, B, *]`` with OTTT: SLTT's per-step backward plus presynaptic traces.

    Every layer with trainable weights whose input comes from a spiking layer keeps the trace
    ``â_t = decay * â_{t-1} + s_t`` of that input and takes its weight gradient from it
    (``∇W += δ_t â_tᵀ``); the forward values and the gradients to earlier layers are unchanged.
    ``decay`` is the neurons' leak per step (``λ = 1 - dt/τ``). Without ``optimizer`` the
    gradients accumulate over ``T`` (OTTT_A); with it the weights change every step (OTTT_O).

    Example:
        >>> from spikeforge.neurons import LIF
        >>> net = nn.Sequential(nn.Linear(8, 16), LIF.from_decay(0.5), nn.Linear(16, 3))
        >>> xs, y = torch.rand(20, 4, 8), torch.tensor([0, 1, 2, 0])
        >>> res = ottt_backward(net, xs, lambda o, t: nn.functional.cross_entropy(o, y), decay=0.5)
        >>> net[2].weight.grad.shape
        torch.Size([3, 16])
    """
    d = float(decay)
    if not 0.0 <= d <= 1.0:
        raise ValueError(f"ottt_backward: decay must be the leak per step in [0, 1], got {decay!r}")
    return _online(model, xs, loss_fn, who="ottt_backward", k=None, trace_decay=d, optimizer=optimizer,
                   generator=None)
