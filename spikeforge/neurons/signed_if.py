"""Signed integrate-and-fire neuron with memory (SNM) for ANN→SNN conversion."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..surrogate import ATan, Surrogate
from ._base import NEURONS, Neuron

__all__ = ["SignedIF", "SignedIFParams", "SignedIFState", "signed_if_step"]


class SignedIFParams(NamedTuple):
    r: Tensor | float = 1e3  # input resistance; default 1/dt gives v' = v + x at dt = 1 ms
    v_th: Tensor | float = 1.0  # positive threshold θ⁺ (> 0); every spike, of either sign, carries ±θ⁺
    v_th_neg: Tensor | float = -0.5  # negative threshold θ⁻ (< 0): a negative spike when v <= θ⁻


class SignedIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]
    m: Tensor  # memory: net number of spikes sent so far (>= 0) [B, *]


def signed_if_step(
    x: Tensor,
    state: SignedIFState,
    p: SignedIFParams,
    *,
    dt: float = 1e-3,
    surrogate: Surrogate = ATan(),
    detach_reset: bool = False,
) -> tuple[Tensor, SignedIFState]:
    r"""Advance signed IF neurons with memory (Wang et al., IJCAI 2022) by one step.

    .. math::
        v' &= v + (dt\,r)\,x,\qquad
        z = H(v' - \theta^+) - H(\theta^- - v')\,\mathbb 1[m > 0] \in \{-1, 0, 1\},\\
        v &\leftarrow v' - \theta^+ z,\qquad m \leftarrow m + z

    A negative spike takes back an earlier positive one (only while the net count ``m`` is
    positive, so ``m >= 0`` always): the neuron can correct an overshoot when later input is
    negative, which a plain IF (whose sent spikes are final) cannot. Spikes of both signs carry
    ``θ⁺`` (our reading of the reference, where a spike's amount is subtracted from ``v`` and
    added to ``m``; it keeps ``m`` a non-negative count for any ``θ⁻``). For non-negative input
    ``v`` never reaches ``θ⁻ < 0`` and the neuron is a plain IF with reset by subtraction.

    Shapes:
        x, state fields, z: ``[B, *]``; ``z`` in ``{-1, 0, 1}``.

    Example:
        >>> st = SignedIFState(torch.zeros(1), torch.zeros(1))
        >>> z, st = signed_if_step(torch.tensor([1.5]), st, SignedIFParams())
        >>> z, st = signed_if_step(torch.tensor([-1.5]), st, SignedIFParams())
        >>> z.item(), st.m.item()
        (-1.0, 0.0)
    """
    v = state.v + (dt * p.r) * x
    pos = surrogate(v - p.v_th)
    neg = surrogate(p.v_th_neg - v) * (state.m > 0).to(v.dtype)
    z = pos - neg
    v = v - p.v_th * (z.detach() if detach_reset else z)
    return z, SignedIFState(v=v, m=state.m + z.detach())


@NEURONS.register("signed_if")
class SignedIF(Neuron[SignedIFParams, SignedIFState]):
    r"""Layer of signed IF neurons with memory (SNM); dynamics in :func:`signed_if_step`.

    For ANN→SNN conversion (``convert(..., neuron="signed_if")``): outputs are ``-1, 0, +1``, so
    a synapse after it adds or subtracts its weight (event counts should count both signs).

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *]`` → signed spikes ``[T, B, *]``.

    Example:
        >>> zs = SignedIF()(torch.randn(10, 4, 16))
    """

    params_cls = SignedIFParams
    state_cls = SignedIFState
    step_fn = staticmethod(signed_if_step)
    integrators = ("euler", "exp")  # no time constant: the Euler step of dv/dt = r x is exact

    def __init__(self, *, dt: float = 1e-3, **kwargs: Any) -> None:
        if kwargs.get("reset", "subtract") != "subtract":
            raise ValueError("SignedIF always resets by subtraction (v <- v - θ⁺ z); do not pass reset=")
        kwargs.setdefault("r", 1.0 / float(dt))
        super().__init__(dt=dt, **kwargs)

    def validate(self) -> None:
        super().validate()
        if not bool(torch.all(torch.as_tensor(self.v_th) > 0)):
            raise ValueError(f"SignedIF: v_th must be > 0, got {self.v_th}")
        if not bool(torch.all(torch.as_tensor(self.v_th_neg) < 0)):
            raise ValueError(f"SignedIF: v_th_neg must be < 0, got {self.v_th_neg}")

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt, "surrogate": self.surrogate, "detach_reset": self.detach_reset}

    def init_state(self, x: Tensor) -> SignedIFState:
        return SignedIFState(v=torch.zeros_like(x), m=torch.zeros_like(x))
