r"""Spiking liquid: LIF neurons on a Maass 3-D grid with Dale's-law recurrent weights.

.. math:: I(t) = W_{in} u(t) + W\,z(t-1), \qquad z(t) = \mathrm{LIF}(I(t))

``W [N, N]`` is masked by :func:`~.connectivity.grid_mask` (``C·exp(−(D/λ)²)`` per population pair),
magnitudes ``w_scale·|N(1, 0.5)|``, signed by the presynaptic population (E ≥ 0, I ≤ 0; inhibitory
magnitudes multiplied by ``inh_gain``). The neurons are :class:`spikeforge.neurons.LIF` (subtractive
reset); the recurrent product uses a COO sparse matrix when ``sparse=True``. Time-major ``[T, B, ...]``.
Simplifications vs Maass 2002: no refractory period, no synaptic current filter, no dynamic synapses,
one-step transmission delay.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..neurons import LIF
from .connectivity import dale_weights, grid_mask, input_projection

__all__ = ["Liquid", "exp_filter"]


def exp_filter(spikes: Tensor, tau: float, dt: float) -> Tensor:
    r"""Exponential trace of ``spikes [T, B, N]``: :math:`s(t) = e^{-dt/\tau}s(t-1) + z(t)`."""
    if tau <= 0 or dt <= 0:
        raise ValueError(f"exp_filter: tau and dt must be > 0, got tau={tau}, dt={dt}")
    decay = math.exp(-dt / tau)
    s = torch.zeros_like(spikes[0])
    out = []
    for t in range(spikes.shape[0]):
        s = decay * s + spikes[t]
        out.append(s)
    return torch.stack(out)


class Liquid(nn.Module):
    """LIF liquid; ``forward(u [T, B, n_in]) -> spikes [T, B, N]``; ``N = prod(shape)``.

    Example:
        >>> liq = Liquid(n_in=2, shape=(5, 3, 3), seed=0)
        >>> liq(torch.rand(50, 4, 2)).shape
        torch.Size([50, 4, 45])
    """

    w: Tensor  # [N, N] recurrent, Dale-signed columns
    w_in: Tensor  # [N, n_in]
    is_inh: Tensor  # [N] bool

    def __init__(
        self, n_in: int, *, shape: tuple[int, int, int] = (15, 3, 3), frac_inh: float = 0.2, lam: float = 2.0,
        c: dict[str, float] | None = None, w_scale: float = 5.0, inh_gain: float = 2.0, input_scale: float = 30.0,
        input_density: float = 0.3, input_sign: str = "positive", tau_mem: float = 30e-3, dt: float = 1e-3,
        v_th: float = 1.0, sparse: bool = False, seed: int = 0,
    ) -> None:
        super().__init__()
        g = torch.Generator()
        g.manual_seed(seed)
        mask, is_inh, _ = grid_mask(shape, frac_inh=frac_inh, lam=lam, c=c, seed=g)
        n = mask.shape[0]
        mag = w_scale * (1.0 + 0.5 * torch.randn(n, n, generator=g, dtype=torch.float64)).abs()
        mag = torch.where(is_inh[None, :], mag * inh_gain, mag)
        w = dale_weights(mag * mask, is_inh).to(torch.get_default_dtype())
        self.register_buffer("w", w)
        self.register_buffer("is_inh", is_inh)
        w_in = input_projection(n, n_in, density=input_density, scale=input_scale, sign=input_sign, seed=g)
        self.register_buffer("w_in", w_in.to(torch.get_default_dtype()))
        self.lif = LIF(tau_mem=tau_mem, dt=dt, v_th=v_th, integrator="exp")
        self.sparse = sparse
        self.n, self.n_in, self.dt = n, n_in, dt

    def forward(self, u: Tensor) -> Tensor:
        if u.ndim != 3 or u.shape[-1] != self.n_in:
            raise ValueError(f"Liquid: input must be [T, B, {self.n_in}], got {tuple(u.shape)}")
        u = u.to(self.w.dtype)
        drive = u @ self.w_in.T  # [T, B, N]
        w_sp = self.w.to_sparse() if self.sparse else None  # COO
        z = torch.zeros(u.shape[1], self.n, dtype=u.dtype, device=u.device)
        state = None
        out = []
        for t in range(u.shape[0]):
            rec = torch.sparse.mm(w_sp, z.T).T if w_sp is not None else z @ self.w.T  # [B, N]
            z, state = self.lif.step(drive[t] + rec, state)
            out.append(z)
        return torch.stack(out)
