"""Meta neuron: a LIF whose every intrinsic parameter is learned with the weights.

After Rudnicka, Szczepanski & Pręgowska, "Learning internal biological neuron parameters and
complexity-based encoding for improved SNN performance" (arXiv 2508.11674): the point of the paper
is that intrinsic parameters (time constant, threshold, …) are trained jointly with the synapses.
The paper's exact meta-neuron equations were not available to us (the reference marks them [—];
its v1 calls the neuron probabilistic): this module is our reading, *not* a faithful copy — LIF
dynamics with ``tau_mem``, ``r``, ``v_leak``, ``v_th`` and ``v_reset`` all learnable per neuron.
"""

from __future__ import annotations

from typing import Any

from ._base import NEURONS
from .lif import LIF, LIFParams, LIFState, lif_step

__all__ = ["MetaNeuron"]

META_LEARN = ("tau_mem", "r", "v_leak", "v_th", "v_reset")  # every intrinsic parameter of LIFParams


@NEURONS.register("meta")
class MetaNeuron(LIF):
    r"""Meta neuron: LIF with all intrinsic parameters learnable; dynamics in :func:`~spikeforge.neurons.lif.lif_step`.

    .. math::
        \tau_{mem}\dot v = (v_{leak} - v) + r\,x,\quad z = H(v - v_{th}),\quad v \leftarrow v_{reset}
        \text{ (reset="value") or } v - v_{th}

    Defaults differ from :class:`LIF` only where learning needs them: ``learn`` = every field of
    :class:`LIFParams`, ``integrator="exp"`` (exact for any learned ``tau_mem > 0``), and
    ``reset="value"`` (so ``v_reset`` takes part). Not the paper's probabilistic neuron (its
    equations were not available): a deterministic reading of "every intrinsic parameter learned".

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *]`` currents → spikes ``[T, B, *]``.

    Example:
        >>> meta = MetaNeuron(size=16)
        >>> zs = meta(torch.rand(20, 4, 16) * 3)
    """

    params_cls = LIFParams
    state_cls = LIFState
    step_fn = staticmethod(lif_step)
    integrators = ("exp", "euler")

    def __init__(self, *, learn: Any = META_LEARN, integrator: str = "exp", reset: Any = "value",
                 **kwargs: Any) -> None:
        super().__init__(learn=learn, integrator=integrator, reset=reset, **kwargs)
