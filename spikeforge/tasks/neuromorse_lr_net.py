r"""The NeuroMorse likelihood-ratio statistic (:func:`~spikeforge.tasks.neuromorse_lr.lr_statistic`) as a
network of delay layers, with fixed weights (no training): :func:`as_delay_network`.

Three paths, all in float64, for a fitted λ, σ, ``q``, ρ (``miss = max(1 − q, 10⁻⁹)``, ``ν_c = λ + q ρ_c``,
``h`` the truncated-jitter pmf on ``j = −J … J``):

1. **Jitter kernel** — a :class:`~spikeforge.layers.dcls.DelayLinear` in ``round`` mode (exact integer delays,
   one-hot taps) over ``2J + 1`` copies of each channel: synapse ``(c, j)`` has weight ``h(j)`` and delay
   ``J − j``, so its output is :math:`S_c(u - J) = \sum_j h(j)\, x_c(u - J + j)` (the kernel is the sum of
   its delayed synapses; the ``gauss``/``triangle`` interpolations are not the truncated-normal pmf).
2. **Log evidence** — :math:`z_c(t) = \log(1 + q S_c(t) / (λ\,\mathrm{miss}))
   = \log(\mathrm{miss} + q S_c / λ) - \log \mathrm{miss}`, zero for clean times before the stream start
   (the first ``J`` outputs, as ``lr_statistic`` counts those spikes as unseen).
3. **Template** — a second ``round``-mode ``DelayLinear`` over ``M`` copies of ``z`` (``M`` = most spikes of
   one keyword on one channel): one synapse per (keyword ``k``, template spike ``i``), weight 1, delay
   ``n_k + 15 − τ_i − J``; unused synapses have weight 0. Bias :math:`n_{spk,k} \log \mathrm{miss}
   - w_k (2λ - \sum_c ν_c)` (the zero-filled delay line then reads ``log miss`` before the stream start).
4. **Window box** — a running count :math:`C_c(e) = \sum_{s \le e} x_c(s)` minus the same count through a
   :class:`~spikeforge.layers.delay.Delay` of ``w_k = n_k + 31`` steps (the counts in the window
   ``[e − w_k + 1, e]``, exact in float64), weighted by ``log(λ/ν_c)``.

.. math:: \Lambda_k(e) = \text{bias}_k + \sum_{(c,m)} z_{c}(e - d_{k,c,m} - J)
          + \sum_c \log\frac{λ}{ν_c}\,\big(C_c(e) - C_c(e - w_k)\big)

equals ``lr_statistic`` to float64 rounding (tested). Used by ``python -m spikeforge.tasks.neuromorse_lr --network``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..data.generators.neuromorse import TOP50_WORDS, WORD_SPACE, encode_word
from ..layers.dcls import DelayLinear
from ..layers.delay import Delay
from .neuromorse_lr import _LAMBDA_MIN, _MISS_MIN, jitter_pmf

__all__ = ["LRDelayNetwork", "as_delay_network"]


def _fixed_round(layer: DelayLinear, weight: Tensor, delays: Tensor) -> DelayLinear:
    """Freeze ``layer`` at ``weight [N_out, N_in]`` and integer ``delays [N_out, N_in]`` (``round`` mode)."""
    K = layer.K
    if bool((delays < 0).any()) or bool((delays > K - 1).any()):
        raise ValueError(f"delays must lie in [0, {K - 1}], got [{int(delays.min())}, {int(delays.max())}]")
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.positions.copy_((K - 1 - delays) - K // 2)  # delay d = K-1 - (P + ⌊K/2⌋)
    layer.set_mode("round")
    layer.requires_grad_(False)
    return layer


class LRDelayNetwork(nn.Module):
    """:func:`~spikeforge.tasks.neuromorse_lr.lr_statistic` as delay layers (module docstring).

    Shapes: ``[T, B, 2]`` spike counts → ``[T, B, n_words]`` statistic (float64; causal).
    """

    delay_gaps: Tensor
    box_weight: Tensor

    def __init__(self, rate: float, sigma: float, keep: float, rho: Sequence[float],
                 words: Sequence[str] = TOP50_WORDS) -> None:
        super().__init__()
        rho_a = np.asarray(rho, np.float64)
        if rho_a.shape != (2,) or (rho_a < 0).any() or not 0 < keep <= 1 or rate < 0:
            raise ValueError(f"LRDelayNetwork: need rho = two rates >= 0, 0 < keep <= 1, rate >= 0; got "
                             f"rho={rho}, keep={keep}, rate={rate}")
        lam, q = max(float(rate), _LAMBDA_MIN), float(keep)
        miss = max(1.0 - q, _MISS_MIN)
        nu = lam + q * rho_a  # [2]
        h, J = jitter_pmf(sigma)
        if J > WORD_SPACE:
            raise ValueError(f"LRDelayNetwork: sigma={sigma} reaches past the word gap ({WORD_SPACE} steps)")
        self.J, self.scale = J, q / (lam * miss)
        dt = torch.float64
        # 1. jitter kernel: input (c, m) = copy m of channel c, m = j + J  [2 (2J+1)] -> [2]
        n = 2 * J + 1
        w1 = torch.zeros(2, 2 * n, dtype=dt)
        d1 = torch.zeros(2, 2 * n, dtype=torch.long)
        for c in range(2):
            w1[c, c * n:(c + 1) * n] = torch.as_tensor(h, dtype=dt)
            d1[c, c * n:(c + 1) * n] = J - torch.arange(-J, J + 1)  # delay J - j
        self.jitter = _fixed_round(DelayLinear(2 * n, 2, K=n).to(dt), w1, d1)
        # 3. template synapses: input (c, m) = copy m of z_c  [2 M] -> [n_words]
        evs = [encode_word(w) for w in words]
        M = max(int(np.bincount(np.asarray(ev.x, np.int64), minlength=2).max()) for ev in evs)
        lasts = [int(ev.t[-1]) for ev in evs]
        K3 = max(lasts) + WORD_SPACE - J + 1
        w3 = torch.zeros(len(words), 2 * M, dtype=dt)
        d3 = torch.zeros(len(words), 2 * M, dtype=torch.long)
        for k, ev in enumerate(evs):
            used = [0, 0]
            for tau, c in zip(ev.t, ev.x):
                col = int(c) * M + used[int(c)]
                used[int(c)] += 1
                w3[k, col] = 1.0
                d3[k, col] = lasts[k] + WORD_SPACE - int(tau) - J
        self.M = M
        self.template = _fixed_round(DelayLinear(2 * M, len(words), K=K3, bias=True).to(dt), w3, d3)
        widths = torch.tensor([last + 2 * WORD_SPACE + 1 for last in lasts])  # [n_words]
        n_spikes = torch.tensor([len(ev.t) for ev in evs], dtype=dt)
        assert self.template.bias is not None
        with torch.no_grad():
            self.template.bias.copy_(n_spikes * math.log(miss) - widths.to(dt) * (2 * lam - float(nu.sum())))
        # 4. window box: delay of w_k on the running counts of both channels  [n_words, 2]
        self.box_delay = Delay(widths[:, None].expand(len(words), 2).contiguous())
        self.register_buffer("box_weight", torch.as_tensor(np.log(lam / nu), dtype=dt))  # [2]

    def forward(self, xs: Tensor) -> Tensor:
        if xs.dim() != 3 or xs.shape[2] != 2:
            raise ValueError(f"LRDelayNetwork: expected spike counts [T, B, 2], got {tuple(xs.shape)}")
        xs = xs.to(torch.float64)
        T, B, _ = xs.shape
        n = 2 * self.J + 1
        S = self.jitter(xs.repeat_interleave(n, dim=2))  # [T, B, 2 (2J+1)] -> [T, B, 2]: S(u - J)
        z = torch.log1p(self.scale * S)  # [T, B, 2]
        z[: self.J] = 0.0  # clean times before the stream start: unseen
        spikes = self.template(z.repeat_interleave(self.M, dim=2))  # [T, B, 2 M] -> [T, B, n_words]
        counts = torch.cumsum(xs, 0)  # [T, B, 2] running counts
        n_words = spikes.shape[2]
        run = counts.unsqueeze(2).expand(T, B, n_words, 2)  # [T, B, n_words, 2]
        box = run - self.box_delay(run)  # [T, B, n_words, 2]: counts in each keyword's window
        return spikes + box @ self.box_weight  # [T, B, n_words]


def as_delay_network(rate: float, sigma: float, keep: float, rho: Sequence[float]) -> LRDelayNetwork:
    """The delay network computing ``lr_statistic(x, rate, sigma, keep, rho)`` (for the 50 keywords).

    Example:
        >>> import numpy as np
        >>> from spikeforge.tasks.neuromorse_lr import lr_statistic
        >>> x = np.random.default_rng(0).poisson(0.1, (400, 2)).astype(float)  # [T, 2]
        >>> net = as_delay_network(0.1, 1.0, 0.9, (0.05, 0.03))
        >>> got = net(torch.as_tensor(x)[:, None])[:, 0].numpy()  # [T, 1, 2] -> [T, 50]
        >>> bool(np.abs(got - lr_statistic(x, 0.1, 1.0, 0.9, np.array([0.05, 0.03]))).max() < 1e-9)
        True
    """
    return LRDelayNetwork(rate, sigma, keep, rho)
