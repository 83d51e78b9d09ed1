"""Parametric LIF: a LIF whose membrane time constant is learned (Fang et al., ICCV 2021)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._base import NEURONS, tau_from_decay
from .lif import LIF, LIFParams, LIFState, lif_step

__all__ = ["PLIF"]


@NEURONS.register("plif")
class PLIF(LIF):
    r"""LIF with a trainable membrane time constant, reparametrised to stay valid.

    The decay per step is :math:`\sigma(w)` 's complement: :math:`dt/\tau_{mem} = \sigma(w)`, so
    :math:`\tau_{mem} = dt / \sigma(w) > dt` for any real :math:`w` (the parametrisation of
    Fang et al.). ``tau_mem`` (physical, seconds) is exposed as a property; the trained tensor is
    ``w``. Dynamics are exactly :func:`~spikeforge.neurons.lif.lif_step`. The reparametrisation
    keeps ``tau_mem >= dt`` whatever the optimiser does, so forward Euler (default) stays stable;
    ``integrator="exp"`` is also offered (``"decay"`` is not: the decay is learned through ``w``).

    Example:
        >>> plif = PLIF(tau_mem=2e-3, dt=1e-3, size=64)   # per-neuron learnable tau
        >>> zs = plif(torch.rand(20, 4, 64) * 3)
    """

    params_cls = LIFParams
    state_cls = LIFState
    step_fn = staticmethod(lif_step)
    integrators = ("euler", "exp")

    def __init__(self, *, dt: float = 1e-3, learn: Any = ("tau_mem",), **kwargs: Any) -> None:
        super().__init__(dt=dt, learn=learn, **kwargs)

    def _register(self, name: str, t: Tensor, learnable: bool) -> None:
        if name != "tau_mem":
            return super()._register(name, t, learnable)
        if not bool(torch.all(t > self.dt)):
            raise ValueError(f"PLIF: tau_mem must be > dt = {self.dt:g} s, got {t}")
        super()._register("w", torch.logit(self.dt / t), learnable)  # sigmoid(w) = dt / tau_mem

    @classmethod
    def from_decay(cls, beta: float | Tensor, *, dt: float = 1e-3, **kwargs: Any) -> LIF:
        """PLIF starting from forward Euler's reading of the decay: ``tau_mem = dt / (1 - beta)``,
        ``r = tau_mem / dt``. Unlike :meth:`LIF.from_decay` not bit-exact ``beta v + x`` (the
        decay is learned through ``sigmoid(w)``)."""
        tau = tau_from_decay(float(beta), dt)
        return cls(tau_mem=tau, r=tau / dt, dt=dt, **kwargs)

    def params(self) -> LIFParams:
        fields = {n: getattr(self, n) for n in LIFParams._fields if n != "tau_mem"}
        return LIFParams(tau_mem=self.dt / torch.sigmoid(self.w), **fields)

    @property
    def tau_mem(self) -> Tensor:
        """Membrane time constant in seconds, ``dt / sigmoid(w)``."""
        return self.dt / torch.sigmoid(self.w)
