"""UltraDLIF: UltraLIF with soft max-plus gap-junction diffusion over the neuron index (no surrogate)."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
from torch import Tensor

from ._base import NEURONS, Neuron
from .ultralif import EPS_RANGE, UltraNeuron

__all__ = ["UltraDLIF", "UltraDLIFParams", "UltraDLIFState", "ultradlif_step"]


class UltraDLIFParams(NamedTuple):
    eps: Tensor | float = 1.0  # temperature of the soft maximum and of the spike sigmoid
    v_th: Tensor | float = 1.0  # threshold theta


class UltraDLIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *, H]


def ultradlif_step(
    x: Tensor,
    state: UltraDLIFState,
    p: UltraDLIFParams,
    *,
    dt: float = 1e-3,
    detach_reset: bool = False,
) -> tuple[Tensor, UltraDLIFState]:
    r"""Advance UltraDLIF neurons (Miñoza, arXiv 2602.11206, reference §4.2) by one step.

    Neuron :math:`i` of the last dimension (``H`` neurons on a ring: :math:`i \pm 1` taken mod ``H``)
    takes the soft maximum of its own and its two neighbours' membranes (gap-junction diffusion),
    then adds its input; spike and reset are UltraLIF's:

    .. math::
        V'_i = \mathrm{LSE}_\varepsilon(V_{i-1}, V_i, V_{i+1}) + I_{i,t}
             = \varepsilon\log\big(e^{V_{i-1}/\varepsilon} + e^{V_i/\varepsilon} + e^{V_{i+1}/\varepsilon}\big)
               + I_{i,t},\qquad
        s_i = \sigma\big((V'_i - \theta)/\varepsilon\big),\qquad V_i \leftarrow V'_i\,(1 - s_i)

    with :math:`\varepsilon` clamped to ``EPS_RANGE`` = [0.1, 20] (a per-neuron :math:`\varepsilon_i`
    is neuron :math:`i`'s own). There is no leak term (UltraDPLIF's :math:`\tau V_i` middle term is
    not offered). The spike is the same function in the forward and backward pass (no surrogate).
    ``dt`` is unused (the model is discrete-time). Because neurons are coupled by index, a
    permutation of the layer's units changes the dynamics, and a NaN in one neuron spreads to its
    neighbours one ring step per time step.

    Outputs are never exactly zero: counting nonzero outputs (SynOps, sparsity) sees a dense layer
    (see ``UltraDLIF.dense_output``).

    Shapes:
        x, state.v, s: ``[B, *, H]`` (at least 2 dims; the ring is the last dim)

    Example:
        >>> s, st = ultradlif_step(torch.ones(2, 3), UltraDLIFState(torch.zeros(2, 3)), UltraDLIFParams())
    """
    if x.dim() < 2:
        raise ValueError(f"UltraDLIF couples neighbouring neurons along the last dim of a [B, *, H] input; "
                         f"got a single-step input of shape {tuple(x.shape)} with no neuron dim")
    eps = torch.clamp(torch.as_tensor(p.eps), *EPS_RANGE)
    v = state.v
    nb = torch.stack([v.roll(1, -1), v, v.roll(-1, -1)])  # [3, B, *, H]: V_{i-1}, V_i, V_{i+1}
    v = eps * torch.logsumexp(nb / eps, 0) + x  # max-subtracted (stable) LSE over the 3 terms
    s = torch.sigmoid((v - p.v_th) / eps)
    v = v * (1 - (s.detach() if detach_reset else s))
    return s, UltraDLIFState(v=v)


@NEURONS.register("ultradlif")
class UltraDLIF(UltraNeuron, Neuron[UltraDLIFParams, UltraDLIFState]):
    r"""Layer of UltraDLIF neurons (UltraLIF with soft max-plus diffusion between ring neighbours of the last
    dim, no surrogate); dynamics in :func:`ultradlif_step`.

    Learn ``eps`` with ``learn=("eps",)`` (the paper learns :math:`\log\varepsilon`; wrap ``eps`` in a
    ``torch.nn.utils.parametrize`` exp for that). The output is a real number in (0, 1), never exactly
    0 (``dense_output = True``): binarize at inference for sparse event counts. Not elementwise
    (``elementwise = False``): the last input dim is the ring of coupled neurons.

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *, H]`` → soft spikes ``[T, B, *, H]`` in (0, 1).

    Example:
        >>> s = UltraDLIF(learn=("eps",))(torch.rand(10, 4, 32))
    """

    params_cls = UltraDLIFParams
    state_cls = UltraDLIFState
    step_fn = staticmethod(ultradlif_step)
    positive = ("eps",)
    elementwise: ClassVar[bool] = False  # neurons along the last dim are coupled (ring diffusion)

    def init_state(self, x: Tensor) -> UltraDLIFState:
        return UltraDLIFState(v=torch.zeros_like(x))
