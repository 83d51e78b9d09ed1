r"""Astrocyte-modulated LIF (AM-SU style): a slow astrocyte state integrates spiking activity and raises the threshold.

**Not faithful to AM-SU** (Shen et al., arXiv 2312.07625): that paper's equations were not read (reference
``training_conversion_neurons.md`` §4.10 marks them [—]); this is the reference's labelled placeholder form,
with NALSM's astrocyte (a slow leaky integrator of population activity, §3.2/§3.4) as the slow unit.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..surrogate import ATan, Surrogate
from ..types import ResetFn
from ._base import NEURONS, Neuron
from ._dynamics import leaky_integrate, step_fractions
from ._reset import reset_subtract

__all__ = ["AstroLIF", "AstroLIFParams", "AstroLIFState", "astro_lif_step"]


class AstroLIFParams(NamedTuple):
    tau_mem: Tensor | float = 20e-3  # membrane time constant [s]
    tau_astro: Tensor | float = 200e-3  # astrocyte time constant [s] (slow: >> tau_mem)
    k_astro: Tensor | float = 1.0  # threshold gain k_a: θ = v_th (1 + k_a a)
    r: Tensor | float = 1.0  # input resistance
    v_leak: Tensor | float = 0.0  # resting potential
    v_th: Tensor | float = 1.0  # threshold θ_0 of a quiet astrocyte
    v_reset: Tensor | float = 0.0  # value after a spike with reset="value"


class AstroLIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]
    a: Tensor  # astrocyte state, one value per neuron (shared within a domain) [B, *]


def domain_mean(z: Tensor, domain: int | None) -> Tensor:
    """Mean of ``z [B, *, N]`` over consecutive groups of ``domain`` neurons of the last dim, broadcast back to
    ``[B, *, N]``; ``None`` = each neuron is its own domain (returns ``z``)."""
    if domain is None:
        return z
    n = z.shape[-1]
    if domain < 1 or n % domain:
        raise ValueError(f"AstroLIF: domain ({domain}) must be >= 1 and divide the last dim ({n})")
    g = z.reshape(*z.shape[:-1], n // domain, domain)  # [B, *, N/d, d]
    return g.mean(-1, keepdim=True).expand(g.shape).reshape(z.shape)  # [B, *, N]


def astro_lif_step(
    x: Tensor,
    state: AstroLIFState,
    p: AstroLIFParams,
    *,
    dt: float = 1e-3,
    integrator: str = "euler",
    surrogate: Surrogate = ATan(),
    reset: ResetFn = reset_subtract,
    detach_reset: bool = False,
    domain: int | None = None,
) -> tuple[Tensor, AstroLIFState]:
    r"""Advance astrocyte-modulated LIF neurons by one step.

    .. math::
        v' = (1 - a_m)\,v + a_m r\,x + a_m v_{leak},\quad a_m = dt/\tau_{mem}

        \theta = v_{th}\,(1 + k_a\,a),\quad z = H(v' - \theta),\quad v \leftarrow \mathrm{reset}(v', z; \theta)

        a' = \alpha_a\,a + (1 - \alpha_a)\,\bar z,\quad \alpha_a = 1 - dt/\tau_{astro}

    :math:`\bar z` is the mean spike of the astrocyte's domain: ``domain = d`` consecutive neurons of the last
    dim share one astrocyte (population activity); ``None`` gives every neuron its own (AM-SU's "astrocyte
    inside the unit"). ``a`` is the domain's slow firing rate per step; with ``k_a > 0`` busy domains fire less
    (homeostasis). ``integrator="exp"`` uses exact decays :math:`e^{-dt/\tau}`.

    Shapes:
        x, state.v, state.a, z: ``[B, *]`` (last dim divisible by ``domain``)

    Example:
        >>> s0 = AstroLIFState(torch.zeros(2, 4), torch.zeros(2, 4))
        >>> z, s = astro_lif_step(torch.ones(2, 4) * 60, s0, AstroLIFParams(), domain=4)
    """
    v = leaky_integrate(state.v, x, p, dt, integrator)
    theta = p.v_th * (1 + p.k_astro * state.a)
    z = surrogate(v - theta)
    v = reset(v, z.detach() if detach_reset else z, theta, p.v_reset)
    decay, frac = step_fractions(p.tau_astro, dt, integrator)
    a = decay * state.a + frac * domain_mean(z, domain)
    return z, AstroLIFState(v=v, a=a)


@NEURONS.register("astro_lif")
class AstroLIF(Neuron[AstroLIFParams, AstroLIFState]):
    r"""Layer of astrocyte-modulated LIF neurons; dynamics in :func:`astro_lif_step`.

    ``domain`` (keyword, default ``None``): neurons per astrocyte along the last dim. With a domain > 1 a
    neuron's output depends on its neighbours' spikes (the point of the astrocyte), so a non-finite value in
    one neuron reaches its whole domain.

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *]`` → spikes ``[T, B, *]``.

    Example:
        >>> zs = AstroLIF(tau_astro=100e-3, k_astro=2.0, domain=8)(torch.rand(100, 4, 32) * 60)
    """

    params_cls = AstroLIFParams
    state_cls = AstroLIFState
    step_fn = staticmethod(astro_lif_step)
    positive = ("tau_mem", "tau_astro")
    time_constants = ("tau_mem", "tau_astro")
    integrators = ("euler", "exp")

    def __init__(self, *args: Any, domain: int | None = None, **kwargs: Any) -> None:
        if domain is not None and (isinstance(domain, bool) or not isinstance(domain, int) or domain < 1):
            raise ValueError(f"AstroLIF: domain must be None or an int >= 1, got {domain!r}")
        super().__init__(*args, **kwargs)
        self.domain = domain

    def step_kwargs(self) -> dict[str, Any]:
        return {**super().step_kwargs(), "integrator": self.integrator, "domain": self.domain}

    def validate(self) -> None:
        super().validate()
        if not bool(torch.all(torch.as_tensor(self.params().k_astro) >= 0)):
            raise ValueError(f"AstroLIF: k_astro must be >= 0, got {self.params().k_astro}")

    def init_state(self, x: Tensor) -> AstroLIFState:
        v = torch.zeros_like(x) + self.v_leak.to(dtype=x.dtype, device=x.device)
        return AstroLIFState(v=v, a=torch.zeros_like(x))

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", domain={self.domain}" if self.domain is not None else "")
