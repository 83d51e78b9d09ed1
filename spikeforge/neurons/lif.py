"""Leaky integrate-and-fire neuron."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor

from ..surrogate import ATan, Surrogate
from ..types import Quantizer, ResetFn
from ._base import NEURONS, Neuron
from ._dynamics import checked_decay, leaky_integrate, membrane_coefficients
from ._reset import reset_subtract

__all__ = ["LIF", "LIFDecayParams", "LIFParams", "LIFState", "lif_step"]


class LIFParams(NamedTuple):
    tau_mem: Tensor | float = 10e-3  # membrane time constant [s]
    r: Tensor | float = 1.0  # input resistance (gain from input current to voltage)
    v_leak: Tensor | float = 0.0  # resting potential
    v_th: Tensor | float = 1.0  # firing threshold
    v_reset: Tensor | float = 0.0  # value after a spike with reset="value"


class LIFDecayParams(NamedTuple):  # stored with integrator="decay" (discrete time)
    beta: Tensor | float = 0.9  # membrane decay per step, in [0, 1)
    gain: Tensor | float = 1.0  # input gain per step
    v_leak: Tensor | float = 0.0  # resting potential
    v_th: Tensor | float = 1.0  # firing threshold
    v_reset: Tensor | float = 0.0  # value after a spike with reset="value"


class LIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]


def lif_step(
    x: Tensor,
    state: LIFState,
    p: LIFParams | LIFDecayParams,
    *,
    dt: float = 1e-3,
    integrator: str = "euler",
    surrogate: Surrogate = ATan(),
    reset: ResetFn = reset_subtract,
    detach_reset: bool = False,
    state_quant: Quantizer | None = None,
) -> tuple[Tensor, LIFState]:
    r"""Advance LIF neurons by one step of the NIR LIF equation.

    .. math::
        \tau_{mem}\dot v = (v_{leak} - v) + r\,x

        v' = c_1 v + c_2 x + c_3

        z = H(v' - v_{th}) \text{ (strict)},\quad v \leftarrow \mathrm{reset}(v', z)

    ``integrator="euler"``: :math:`c_1 = 1 - a,\ c_2 = a r,\ c_3 = a v_{leak}`, :math:`a = dt/\tau_{mem}`;
    ``"exp"``: :math:`c_1 = e^{-dt/\tau_{mem}}`, :math:`a = 1 - c_1` (exact for input held over the
    step); ``"decay"`` (``p`` a :class:`LIFDecayParams`): :math:`c_1 = \beta,\ c_2 = \mathrm{gain},\
    c_3 = (1 - \beta) v_{leak}`, the discrete-time ``v' = beta v + gain x`` (see :meth:`LIF.from_decay`
    and :mod:`spikeforge.neurons._dynamics`).

    Args:
        x: Input current at this step.
        state: State before the step.
        p: Parameters; scalars or tensors broadcastable to ``x``.
        dt: Integration step in seconds.
        integrator: ``"euler"``, ``"exp"`` or ``"decay"``.
        surrogate: Spike function gradient.
        reset: Reset function ``(v, z, v_th, v_reset) -> v``.
        detach_reset: Stop the gradient through the reset.
        state_quant: Optional membrane quantizer ``v' <- q(v')`` applied before the spike test
            (:class:`spikeforge.quant.StateQuant`, straight-through gradient).

    Shapes:
        x, state.v, z: ``[B, *]``

    Returns:
        ``(z, new_state)``: spikes (0/1, differentiable through ``surrogate``) and the new state.

    Example:
        >>> z, s = lif_step(torch.ones(2, 3), LIFState(torch.zeros(2, 3)), LIFParams())
    """
    v = leaky_integrate(state.v, x, p, dt, integrator)
    if state_quant is not None:  # SQUAT: round the updated membrane before the spike test
        v = state_quant(v)
    z = surrogate(v - p.v_th)
    v = reset(v, z.detach() if detach_reset else z, p.v_th, p.v_reset)
    return z, LIFState(v=v)


@NEURONS.register("lif")
class LIF(Neuron[LIFParams, LIFState]):
    r"""Layer of leaky integrate-and-fire neurons; dynamics in :func:`lif_step`.

    .. math:: \tau_{mem}\dot v = (v_{leak} - v) + r\,x, \quad z = H(v - v_{th}), \quad v \leftarrow \mathrm{reset}(v, z)

    ``integrator="euler"`` (default) requires ``dt <= tau_mem``; ``"exp"`` integrates exactly for
    any ``tau_mem > 0``; :meth:`from_decay` gives the discrete-time neuron. A learnable
    ``tau_mem`` is projected back into that range before each run (see :mod:`._dynamics`).

    Inputs/Outputs:
        ``forward(xs)``: ``xs [T, B, *]`` input currents → spikes ``[T, B, *]`` (from rest).
        ``run(xs, state)`` → ``(zs, state)``; ``step(x, state)`` → ``(z, state)`` with ``x [B, *]``.

    Example:
        >>> lif = LIF(tau_mem=20e-3, dt=1e-3, learn=("tau_mem",), size=128)
        >>> zs = lif(torch.rand(100, 8, 128) * 3)   # [T=100, B=8, 128] spikes
    """

    params_cls = LIFParams
    state_cls = LIFState
    step_fn = staticmethod(lif_step)
    positive = ("tau_mem",)
    time_constants = ("tau_mem",)
    integrators: ClassVar[tuple[str, ...]] = ("euler", "exp", "decay")
    decay_params_cls = LIFDecayParams

    def init_state(self, x: Tensor) -> LIFState:
        return LIFState(v=_rest(x, self.v_leak))

    def _start_state(self, x: Tensor) -> LIFState:
        if type(self).init_state is not LIF.init_state:  # a subclass's own resting state
            return self.init_state(x)
        return LIFState(v=_rest(x, self.v_leak, memo=True))

    def step_kwargs(self) -> dict[str, Any]:
        return {**super().step_kwargs(), "integrator": self.integrator}

    @classmethod
    def from_decay(cls, beta: float | Tensor, *, dt: float = 1e-3, **kwargs: Any) -> LIF:
        """Discrete-time LIF: ``v' = beta v + x``, then spike and reset, computed exactly so.

        Stores the decay ``beta`` and the gain 1 themselves (``integrator="decay"``,
        :class:`LIFDecayParams`; ``learn=("beta",)`` trains the decay), so the membrane is
        ``beta * v + x`` bit for bit in any dtype; ``params()`` reports the equivalent
        ``tau_mem = dt / (1 - beta)``, ``r = tau_mem / dt`` (e.g. for NIR export).

        snnTorch: ``snntorch.Leaky(beta, threshold=v_th, reset_mechanism=m, reset_delay=False)``
        gives the same spikes and membranes, bit for bit, as ``LIF.from_decay(beta, v_th=v_th,
        reset=m)`` for ``m`` in ``"zero"`` and ``"none"``; for ``"subtract"`` as long as no
        membrane exceeds ``2 v_th`` (snnTorch subtracts a threshold for a membrane still above it
        after its reset *before* the next spike test; ours resets once per spike, after the test).
        ``Synaptic`` corresponds to :meth:`CubaLIF.from_decay` in the same way (tests/neurons).
        """
        return cls(integrator="decay", beta=checked_decay(beta), gain=1.0, dt=dt, **kwargs)

    @property
    def decay(self) -> Tensor:
        """Per-step membrane decay: ``1 - dt / tau_mem`` (Euler), ``exp(-dt / tau_mem)``, or ``beta``."""
        return torch.as_tensor(membrane_coefficients(self.stored_params(), self.dt, self.integrator)[0])


_RESTS: dict[tuple[Any, ...], Tensor] = {}  # resting states handed out by _rest, by value and shape
_RESTS_MAX = 64


def _rest(x: Tensor, v_leak: Tensor, memo: bool = False) -> Tensor:
    """Resting potential ``v_leak`` broadcast to the shape, dtype and device of ``x``.

    ``memo``: the caller keeps the tensor to itself (``run`` from rest), so the same expanded tensor may be
    handed out again; ``init_state`` gives every caller its own."""
    # a fixed scalar (the common case): the value ``0 + v_leak`` rounds to (``+ 0.0`` turns -0.0 into 0.0 as
    # the sum does), one element expanded to x's shape (every stride 0): nothing is written per neuron,
    # and the fused kernel reads the one value (issue 17; 4 MB written and 8 MB read less per
    # [8, 64, 16384] step). Like any expanded tensor it is read-only: clone it to modify it in place.
    if v_leak.numel() == 1 and not v_leak.requires_grad and v_leak.device.type != "meta":
        value = float(v_leak.to(dtype=x.dtype)) + 0.0
        if not x.is_contiguous():  # e.g. channels-last: a written-out state keeps the torch step's outputs
            return torch.full_like(x, value)  # in x's layout (an expanded one would make them contiguous)
        if not memo or torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
            return x.new_full((), value).expand_as(x)  # [B, *], strides 0; x's dtype and device
        # ``run`` from rest: the same expanded tensor again for the same value, shape, dtype and device (issue
        # 17: two torch ops less per call), never leaving the run (the kernels and the reference step only
        # read it; the final state is always a new tensor). Keyed by the value read now, so a changed v_leak
        # misses, and by inference mode (an inference tensor cannot be saved for backward outside it); one
        # written in place anyway (through its version counter) is not handed out again.
        key = (value, x.shape, x.dtype, x.device, torch.is_inference_mode_enabled())  # value: never -0.0
        rest = _RESTS.get(key)
        if rest is None or rest._version:
            if len(_RESTS) >= _RESTS_MAX:
                _RESTS.clear()
            rest = _RESTS[key] = x.new_full((), value).expand_as(x)  # [B, *], strides 0; x's dtype and device
        return rest
    # in place into the fresh zeros: one allocation, the same values as ``zeros + v_leak`` (``v_leak``
    # broadcasts to ``x``'s shape: the caller checked it) and the same gradient for a learnable one
    return torch.zeros_like(x).add_(v_leak.to(dtype=x.dtype, device=x.device))
