r"""Connectivity generators for reservoirs: 3-D grids (Maass 2002), random sparse, E/I with Dale's law.

Weight matrices are ``w [N_post, N_pre]`` (row = target, column = source), as in ``nn.Linear``.

- :func:`grid_positions` — integer coordinates of a 3-D grid, ``[N, 3]``.
- :func:`grid_mask` — Maass connection probability :math:`P(a\to b) = C_{ab}\,e^{-(D(a,b)/\lambda)^2}`
  with :math:`C` per (pre, post) population pair (:data:`MAASS_C`).
- :func:`random_sparse` — i.i.d. mask with a given density times N(0, 1) or U(−1, 1) magnitudes.
- :func:`dale_weights` — magnitudes signed by the presynaptic population (reuses
  :func:`spikeforge.plasticity.constraints.dale_signs`).
- :func:`spectral_radius` / :func:`scale_spectral_radius` — :math:`\rho(W) = \max_i |\lambda_i(W)|`
  (the maximum over *all* eigenvalues, computed in float64 — not the first one ``eig`` returns).
- :func:`input_projection` — ``[N, n_in]`` input weights with density and sign options.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..plasticity.constraints import dale_signs

__all__ = [
    "MAASS_C", "dale_weights", "grid_mask", "grid_positions", "input_projection", "random_sparse",
    "scale_spectral_radius", "spectral_radius",
]

#: Maass, Natschläger & Markram (2002) base connection probability per (pre, post) pair; first letter =
#: presynaptic population. Values from the Brian2 ``frompapers`` reproduction (reference §3.1).
MAASS_C: dict[str, float] = {"EE": 0.3, "EI": 0.2, "IE": 0.4, "II": 0.1}


def grid_positions(shape: tuple[int, int, int]) -> Tensor:
    """Integer coordinates ``[N, 3]`` (float64) of every node of a ``shape`` grid, ``N = prod(shape)``."""
    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise ValueError(f"grid_positions: shape must be three positive ints, got {shape}")
    axes = [torch.arange(int(s), dtype=torch.float64) for s in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)  # [N, 3]


def _generator(seed: int | torch.Generator | None) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator()
    g.manual_seed(0 if seed is None else int(seed))
    return g


def grid_probability(pos: Tensor, is_inh: Tensor, lam: float, c: dict[str, float]) -> Tensor:
    r"""Connection probability ``[N_post, N_pre]``: :math:`C_{\mathrm{pre,post}}\,e^{-(D/\lambda)^2}`."""
    if lam <= 0:
        raise ValueError(f"grid_probability: lam must be > 0, got {lam}")
    missing = {"EE", "EI", "IE", "II"} - set(c)
    if missing:
        raise ValueError(f"grid_probability: C needs keys EE, EI, IE, II; missing {sorted(missing)}")
    d = torch.cdist(pos, pos)  # [N_post, N_pre] Euclidean distances
    inh_post = is_inh[:, None]
    inh_pre = is_inh[None, :]
    cmat = torch.where(inh_pre, torch.where(inh_post, c["II"], c["IE"]), torch.where(inh_post, c["EI"], c["EE"]))
    return cmat.to(torch.float64) * torch.exp(-((d / lam) ** 2))


def grid_mask(
    shape: tuple[int, int, int] = (15, 3, 3),
    *,
    frac_inh: float = 0.2,
    lam: float = 2.0,
    c: dict[str, float] | None = None,
    autapses: bool = False,
    seed: int | torch.Generator | None = 0,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Sample a Maass-style 3-D liquid: returns ``(mask [N, N] bool, is_inh [N] bool, positions [N, 3])``.

    ``round(frac_inh * N)`` neurons chosen at random are inhibitory; each ordered pair (pre → post) is
    connected independently with :func:`grid_probability`. Self-connections only if ``autapses``.
    """
    if not 0.0 <= frac_inh <= 1.0:
        raise ValueError(f"grid_mask: frac_inh must be in [0, 1], got {frac_inh}")
    g = _generator(seed)
    pos = grid_positions(shape)
    n = pos.shape[0]
    is_inh = torch.zeros(n, dtype=torch.bool)
    is_inh[torch.randperm(n, generator=g)[: round(frac_inh * n)]] = True
    p = grid_probability(pos, is_inh, lam, MAASS_C if c is None else c)
    mask = torch.rand(n, n, generator=g, dtype=torch.float64) < p
    if not autapses:
        mask.fill_diagonal_(False)
    return mask, is_inh, pos


def random_sparse(
    n_out: int, n_in: int, density: float, *, dist: str = "normal", seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Dense ``[n_out, n_in]`` matrix with an i.i.d. Bernoulli(``density``) mask times N(0,1) or U(−1,1)."""
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"random_sparse: density must be in [0, 1], got {density}")
    g = _generator(seed)
    if dist == "normal":
        w = torch.randn(n_out, n_in, generator=g, dtype=torch.float64)
    elif dist == "uniform":
        w = torch.rand(n_out, n_in, generator=g, dtype=torch.float64) * 2 - 1
    else:
        raise ValueError(f"random_sparse: dist must be 'normal' or 'uniform', got {dist!r}")
    mask = torch.rand(n_out, n_in, generator=g, dtype=torch.float64) < density
    return (w * mask).to(dtype)


def dale_weights(magnitude: Tensor, is_inh: Tensor) -> Tensor:
    """Sign ``|magnitude| [N_post, N_pre]`` by the presynaptic population: E columns ≥ 0, I columns ≤ 0."""
    if is_inh.shape != (magnitude.shape[1],):
        raise ValueError(f"dale_weights: is_inh of shape {tuple(is_inh.shape)} must have one entry per "
                         f"presynaptic neuron ({magnitude.shape[1]})")
    order = torch.argsort(is_inh.to(torch.int8), stable=True)  # E first, then I
    signs = torch.empty(is_inh.shape[0], dtype=magnitude.dtype)
    signs[order] = dale_signs(int((~is_inh).sum()), int(is_inh.sum()), dtype=magnitude.dtype)
    return magnitude.abs() * signs[None, :]


def spectral_radius(w: Tensor) -> float:
    r""":math:`\max_i |\lambda_i(W)|` over all eigenvalues of square ``w``, computed in float64."""
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"spectral_radius: need a square matrix, got shape {tuple(w.shape)}")
    w64 = w.detach().to("cpu", torch.float64)
    if w64.is_sparse:
        w64 = w64.to_dense()
    return float(torch.linalg.eigvals(w64).abs().max())


def scale_spectral_radius(w: Tensor, rho: float) -> Tensor:
    """Return ``w * rho / spectral_radius(w)`` (so the result has max |λ| = ``rho``)."""
    sr = spectral_radius(w)
    if sr == 0.0 or not math.isfinite(sr):
        raise ValueError(f"scale_spectral_radius: matrix has spectral radius {sr}; cannot rescale to {rho} "
                         "(nilpotent or empty recurrent matrix?)")
    return w * (rho / sr)


def input_projection(
    n_out: int, n_in: int, *, density: float = 1.0, scale: float = 1.0, sign: str = "bipolar",
    seed: int | torch.Generator | None = 0, dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Input weights ``[n_out, n_in]``: Bernoulli(``density``) mask times magnitudes by ``sign``.

    ``sign``: ``"bipolar"`` U(−scale, scale); ``"positive"`` U(0, scale); ``"negative"`` U(−scale, 0);
    ``"binary"`` ±scale with equal probability.
    """
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"input_projection: density must be in [0, 1], got {density}")
    g = _generator(seed)
    r = torch.rand(n_out, n_in, generator=g, dtype=torch.float64)
    if sign == "bipolar":
        w = (2 * r - 1) * scale
    elif sign == "positive":
        w = r * scale
    elif sign == "negative":
        w = -r * scale
    elif sign == "binary":
        w = torch.where(r < 0.5, -scale, scale).to(torch.float64)
    else:
        raise ValueError(f"input_projection: sign must be bipolar/positive/negative/binary, got {sign!r}")
    mask = torch.rand(n_out, n_in, generator=g, dtype=torch.float64) < density
    return (w * mask).to(dtype)
