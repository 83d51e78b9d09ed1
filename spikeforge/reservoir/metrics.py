r"""Reservoir metrics (reference §3.5): memory capacity, NRMSE, sMAPE, state rank, branching factor.

- :func:`memory_capacity` — :math:`MC = \sum_{k=1}^{k_{max}} \mathrm{corr}^2(u(t-k), y_k(t))`, one ridge
  readout per lag trained on the first part of the series, scored on the rest; each :math:`MC_k \in [0, 1]`.
- :func:`nrmse` — RMSE divided by ``"std"`` (default), ``"var"`` (ReservoirPy's: the *variance*),
  ``"minmax"`` (peak-to-peak), ``"mean"`` or ``"q1q3"`` (interquartile range) of the target.
- :func:`smape` — NeuroBench: :math:`200\cdot\mathrm{mean}(|\hat y - y|/(|\hat y| + |y|))`; a NaN mean (any
  0/0 term) → 200, as ``neurobench.metrics.workload.SMAPE`` does.
- :func:`state_rank` — rank of the ``[m, N]`` state matrix (kernel quality for m distinct inputs,
  generalisation rank for m noisy variants; Legenstein & Maass 2007); ≤ min(m, N).
- :func:`branching_factor` — mean number of postsynaptic neurons (nonzero recurrent weight) that spike
  at t+1 per spike at t.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .readout import Ridge

__all__ = ["branching_factor", "memory_capacity", "nrmse", "relay_branching_factor", "smape", "state_rank"]


def memory_capacity(
    states: Tensor, u: Tensor, k_max: int, *, ridge: float = 1e-10, warmup: int | None = None,
    test_frac: float = 0.2,
) -> tuple[float, Tensor]:
    """Linear memory capacity of ``states [T, N]`` driven by ``u [T]``; returns ``(MC, MC_k [k_max])``.

    Rows ``t < warmup`` (default ``k_max``) are dropped; the last ``test_frac`` of the rest is the test set.
    """
    if states.ndim != 2 or u.ndim != 1 or states.shape[0] != u.shape[0]:
        raise ValueError(f"memory_capacity: need states [T, N] and u [T], got {tuple(states.shape)} and "
                         f"{tuple(u.shape)}")
    warm = k_max if warmup is None else warmup
    if warm < k_max:
        raise ValueError(f"memory_capacity: warmup ({warm}) must be >= k_max ({k_max}) so u(t-k) exists")
    x = states.detach().to(torch.float64)[warm:]
    n = x.shape[0]
    n_test = int(round(test_frac * n))
    if n_test < 2 or n - n_test < 2:
        raise ValueError(f"memory_capacity: series too short ({states.shape[0]} steps) for k_max={k_max}")
    u64 = u.detach().to(torch.float64)
    targets = torch.stack([u64[warm - k: warm - k + n] for k in range(1, k_max + 1)], dim=1)  # [n, k_max]
    r = Ridge(ridge).fit(x[:-n_test], targets[:-n_test])
    pred = r.predict(x[-n_test:])
    tgt = targets[-n_test:]
    pc = pred - pred.mean(0)
    tc = tgt - tgt.mean(0)
    corr2 = (pc * tc).sum(0) ** 2 / ((pc * pc).sum(0) * (tc * tc).sum(0))
    mc_k = torch.nan_to_num(corr2, nan=0.0).clamp(0.0, 1.0)
    return float(mc_k.sum()), mc_k


def nrmse(y_hat: Tensor, y: Tensor, norm: str = "std") -> float:
    """RMSE of ``y_hat`` vs ``y`` divided by the named normalisation of ``y`` (see module docstring)."""
    if y_hat.shape != y.shape:
        raise ValueError(f"nrmse: shapes differ, {tuple(y_hat.shape)} vs {tuple(y.shape)}")
    yh, yy = y_hat.detach().to(torch.float64), y.detach().to(torch.float64)
    rmse = torch.sqrt(torch.mean((yh - yy) ** 2))
    if norm == "std":
        d = yy.std(unbiased=False)
    elif norm == "var":
        d = yy.var(unbiased=False)
    elif norm == "minmax":
        d = yy.max() - yy.min()
    elif norm == "mean":
        d = yy.mean()
    elif norm == "q1q3":
        d = torch.quantile(yy.flatten(), 0.75) - torch.quantile(yy.flatten(), 0.25)
    else:
        raise ValueError(f"nrmse: norm must be std/var/minmax/mean/q1q3, got {norm!r}")
    return float(rmse / d)


def smape(y_hat: Tensor, y: Tensor) -> float:
    """NeuroBench sMAPE in [0, 200]: ``200 * mean(|ŷ - y| / (|ŷ| + |y|))``, and 200 if that mean is NaN.

    As in NeuroBench 2.3.0 the NaN rule applies to the mean: a single 0/0 term (ŷ = y = 0) makes the whole
    score 200, not just that term.
    """
    if y_hat.shape != y.shape:
        raise ValueError(f"smape: shapes differ, {tuple(y_hat.shape)} vs {tuple(y.shape)}")
    yh, yy = y_hat.detach().to(torch.float64), y.detach().to(torch.float64)
    ratio = (yh - yy).abs() / (yh.abs() + yy.abs())
    return float(torch.nan_to_num(200.0 * ratio.mean(), nan=200.0))


def state_rank(states: Tensor, tol: float | None = None) -> int:
    """Numerical rank of ``states [m, N]`` (one row per input stream), in float64."""
    if states.ndim != 2:
        raise ValueError(f"state_rank: need states [m, N], got shape {tuple(states.shape)}")
    return int(torch.linalg.matrix_rank(states.detach().to(torch.float64), atol=tol))


def branching_factor(spikes: Tensor, w_rec: Tensor, window: int = 1) -> float:
    r"""Descendant spikes per ancestor spike.

    .. math:: \sigma = \frac{\sum_t \sum_{i: z_i(t)=1} \sum_{k=1}^{K} \#\{j: w_{ji} \ne 0, z_j(t+k)=1\}}
        {\sum_{t<T-K} \sum_i z_i(t)}

    i.e. the spikes of ``i``'s postsynaptic neurons (nonzero recurrent weight) in the ``window = K`` steps
    after each spike of ``i`` (K = 1: the next step only; NALSM counts a 4 ms window). ``spikes [T, N]`` or
    ``[T, B, N]``; ``w_rec [N_post, N_pre]``. Returns 0 if no spike occurs before the last ``K`` steps.
    """
    z = spikes.detach().to(torch.float64)
    if z.ndim == 2:
        z = z[:, None, :]  # [T, 1, N]
    if z.ndim != 3 or w_rec.shape != (z.shape[-1], z.shape[-1]):
        raise ValueError(f"branching_factor: need spikes [T, (B,) N] and w_rec [N, N], got {tuple(spikes.shape)}"
                         f" and {tuple(w_rec.shape)}")
    if window < 1 or window >= z.shape[0]:
        raise ValueError(f"branching_factor: window must be in [1, T), got {window} for T = {z.shape[0]}")
    a = (w_rec.detach() != 0).to(torch.float64)  # [post, pre]
    n = z.shape[0] - window
    ancestors = z[:n].sum()
    if ancestors == 0:
        return 0.0
    later = torch.stack([z[k: k + n] for k in range(1, window + 1)]).sum(0)  # [n, B, N] spikes in t+1..t+K
    # descendants of the spikes at t: sum_i z_i(t) * sum_j a_ji * later_j(t)
    desc = torch.einsum("tbi,ji,tbj->", z[:n], a, later)
    return float(desc / ancestors)


def relay_branching_factor(spikes: Tensor, w_rec: Tensor, window: int = 4) -> float:
    r"""NALSM's branching factor: outflow over inflow around each spiking neuron, averaged per neuron.

    For each spike of neuron n at step t (with ``window = K`` steps on both sides inside the record):
    :math:`\sigma_{n,t} = \#\{\text{spikes of n's postsynaptic neurons in } t+1..t+K\} /
    \max(1, \#\{\text{spikes of n's presynaptic neurons in } t-K..t-1\})`; σ is the mean over neurons of each
    neuron's mean over its spikes (neurons that never spike are left out). Critical ≈ 1. NALSM (combra-lab's
    ``compute_branching_factor.py``) uses K = 4 ms; ``spikes [T, (B,) N]``, ``w_rec [N_post, N_pre]``.
    """
    z = spikes.detach().to(torch.float64)
    if z.ndim == 2:
        z = z[:, None, :]  # [T, 1, N]
    if z.ndim != 3 or w_rec.shape != (z.shape[-1], z.shape[-1]):
        raise ValueError(f"relay_branching_factor: need spikes [T, (B,) N] and w_rec [N, N], got "
                         f"{tuple(spikes.shape)} and {tuple(w_rec.shape)}")
    k = int(window)
    n = z.shape[0] - 2 * k
    if k < 1 or n < 1:
        raise ValueError(f"relay_branching_factor: need 1 <= window and T > 2*window, got window={window}, "
                         f"T={z.shape[0]}")
    a = (w_rec.detach() != 0).to(torch.float64)  # [post, pre]
    before = torch.stack([z[k - j: k - j + n] for j in range(1, k + 1)]).sum(0)  # [n, B, N] spikes in t-K..t-1
    after = torch.stack([z[k + j: k + j + n] for j in range(1, k + 1)]).sum(0)  # [n, B, N] spikes in t+1..t+K
    inflow = before @ a.T  # [n, B, N]: spikes of each neuron's presynaptic neurons
    outflow = after @ a  # [n, B, N]: spikes of each neuron's postsynaptic neurons
    mid = z[k: k + n]  # spikes at t
    ratio = outflow / inflow.clamp(min=1.0)
    count = mid.sum((0, 1))  # [N] spikes per neuron
    per_neuron = (mid * ratio).sum((0, 1)) / count.clamp(min=1.0)
    fired = count > 0
    return float(per_neuron[fired].mean()) if bool(fired.any()) else 0.0
