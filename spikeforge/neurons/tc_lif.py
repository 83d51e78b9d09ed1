"""TC-LIF: the two-compartment (dendrite + soma) LIF of Zhang et al. (AAAI 2024, arXiv 2308.13250;
equations as in the authors' ZhangShimin1/TC-LIF ``spiking_neuron/TCLIF.py``, read for
``shared/reference/training_conversion_neurons.md`` §4.9)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..surrogate import ATan, Surrogate
from ._base import NEURONS, Neuron

__all__ = ["TCLIF", "TCLIFParams", "TCLIFState", "tc_lif_step"]


class TCLIFParams(NamedTuple):
    beta1: Tensor | float = 0.0  # raw soma→dendrite coupling; the coupling is sigmoid(beta1) (0.5 at 0)
    beta2: Tensor | float = 0.0  # raw dendrite→soma coupling; sigmoid(beta2)
    gamma: Tensor | float = 0.5  # dendritic reset per spike
    v_th: Tensor | float = 1.0  # somatic threshold θ (the soma resets by θ per spike)


class TCLIFState(NamedTuple):
    v_d: Tensor  # dendritic potential u^d [B, *]
    v: Tensor  # somatic potential u^s [B, *]


def tc_lif_step(
    x: Tensor,
    state: TCLIFState,
    p: TCLIFParams,
    *,
    dt: float = 1e-3,
    surrogate: Surrogate = ATan(),
    detach_reset: bool = False,
) -> tuple[Tensor, TCLIFState]:
    r"""Advance TC-LIF neurons by one (discrete-time) step.

    .. math::
        u^d_t = u^d_{t-1} - \sigma(\beta_1)\,u^s_{t-1} + I_t,\qquad
        u^s_t = u^s_{t-1} + \sigma(\beta_2)\,u^d_t,\qquad s_t = H(u^s_t - \theta)

        u^d_t \leftarrow u^d_t - \gamma s_t,\qquad u^s_t \leftarrow u^s_t - \theta s_t

    The soma feeds back negatively on the dendrite, so the pair is an oscillator rather than a leak:
    between spikes the map :math:`(u^d, u^s) \mapsto` next state has determinant 1 for any β (no
    decay), so long input histories persist. ``dt`` is unused (the model is discrete-time).
    Checked against the authors' code (``MNIST/spiking_neuron/TCLIF.py``) in float64, forward and BPTT
    gradients (``tests/neurons/test_tc_lif.py``). One deliberate difference: the step is strict
    (:math:`u^s_t > \theta`, this library's convention), while the authors' triangle surrogate fires at
    :math:`u^s_t \ge \theta`; the two differ only when the soma lands exactly on θ.

    Shapes:
        x, state fields, s: ``[B, *]``

    Example:
        >>> s, st = tc_lif_step(torch.ones(2, 3), TCLIFState(torch.zeros(2, 3), torch.zeros(2, 3)), TCLIFParams())
    """
    v_d = state.v_d - torch.sigmoid(torch.as_tensor(p.beta1)) * state.v + x
    v = state.v + torch.sigmoid(torch.as_tensor(p.beta2)) * v_d
    s = surrogate(v - p.v_th)
    r = s.detach() if detach_reset else s
    return s, TCLIFState(v_d=v_d - p.gamma * r, v=v - p.v_th * r)


@NEURONS.register("tc_lif")
class TCLIF(Neuron[TCLIFParams, TCLIFState]):
    r"""Two-compartment LIF (TC-LIF, Zhang et al. AAAI 2024); dynamics in :func:`tc_lif_step`.

    The couplings are learnable with ``learn=("beta1", "beta2")`` (the paper trains them).

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *]`` currents → spikes ``[T, B, *]``.

    Example:
        >>> zs = TCLIF(learn=("beta1", "beta2"), size=16)(torch.rand(20, 4, 16))
    """

    params_cls = TCLIFParams
    state_cls = TCLIFState
    step_fn = staticmethod(tc_lif_step)
    positive = ("v_th",)
    integrators = ("euler", "exp")  # discrete-time: no time constant to discretise

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("reset", "subtract") != "subtract":
            raise ValueError("TCLIF has its own soft reset (u^d -= gamma s, u^s -= v_th s); do not pass reset=")
        super().__init__(**kwargs)

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt, "surrogate": self.surrogate, "detach_reset": self.detach_reset}

    def init_state(self, x: Tensor) -> TCLIFState:
        return TCLIFState(v_d=torch.zeros_like(x), v=torch.zeros_like(x))
