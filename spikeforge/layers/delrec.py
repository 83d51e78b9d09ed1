r"""Learnable recurrent (axonal) delays, DelRec style (Queant et al., arXiv 2509.24852).

Each neuron ``j`` has a learnable axonal delay :math:`d_j \ge 0` on its recurrent output. A spike
is spread over the future slots ``l`` of a ring buffer by the mask

.. math:: m_j(l) = \max(s - |l - (1 + d_j)|, 0) / s^2, \qquad s = 1 + \sigma,

so with :math:`\sigma = 0` and integer :math:`d_j` it arrives exactly :math:`1 + d_j` steps later
(one-hot at ``l = 1 + d``); for any integer ``s`` the mask sums to 1 (when ``1 + d ≥ s``; mass
falling on slot 0, the current step, is dropped, as in the reference implementation). Fractional delays are
triangular interpolation; at evaluation (``eval()``) delays are rounded and ``σ`` is ignored.
"""

from __future__ import annotations

import math
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..neurons._base import NEURONS, Neuron, check_sequence
from ..numerics import check_finite

__all__ = ["DelayedRecurrentSpiking", "delrec_mask"]


def delrec_mask(delays: Tensor, s: Tensor | float, L: int) -> Tensor:
    r"""Spread mask ``[N, L]``: :math:`m(l) = \max(s - |l - (1 + d)|, 0)/s^2` for ``l = 0 … L-1``.

    Example:
        >>> delrec_mask(torch.tensor([2.0]), 1.0, 5)
        tensor([[0., 0., 0., 1., 0.]])
    """
    s_t = torch.as_tensor(s, dtype=delays.dtype, device=delays.device).expand_as(delays).unsqueeze(-1)  # [N, 1]
    slot = torch.arange(L, dtype=delays.dtype, device=delays.device)  # [L]
    return torch.relu(s_t - (slot - (1 + delays.unsqueeze(-1))).abs()) / s_t**2


class DelayedRecurrentSpiking(nn.Module):
    r"""Recurrent spiking layer whose recurrent connections carry a learnable axonal delay per neuron.

    .. math:: i_t = W_{in} x_t + \sum_{l\ge 1} W_{rec}\,(z_{t-l} \odot m(l)),
              \qquad (z_t, s_t) = \mathrm{step}(i_t, s_{t-1})

    implemented with a ring buffer of ``L - 1`` future recurrent currents,
    ``L = ⌈1 + max_delay + s⌉ + 1``. Delays are clamped to ``[0, max_delay]``.

    Args:
        in_features, out_features: Input size and number of neurons.
        max_delay: Largest recurrent delay in steps (total latency ``max_delay + 1``).
        neuron: Registry name (built with ``**neuron_kwargs``) or a neuron module.
        sigma: Initial spread ``σ`` (``s = 1 + σ``); change it with :meth:`set_sigma`.

    Shapes:
        ``[T, B, in] → [T, B, out]``.

    Example:
        >>> layer = DelayedRecurrentSpiking(4, 8, max_delay=5)
        >>> layer(torch.rand(10, 2, 4)).shape
        torch.Size([10, 2, 8])
    """

    spiking = True
    sigma: Tensor

    def __init__(
        self, in_features: int, out_features: int, max_delay: int, *, neuron: str | Neuron[Any, Any] = "lif",
        sigma: float = 0.0, bias: bool = True, **neuron_kwargs: Any,
    ) -> None:
        super().__init__()
        if max_delay < 0:
            raise ValueError(f"DelayedRecurrentSpiking: max_delay must be >= 0, got {max_delay}")
        self.in_features, self.out_features, self.max_delay = int(in_features), int(out_features), int(max_delay)
        self.input = nn.Linear(in_features, out_features, bias=bias)
        self.recurrent = nn.Linear(out_features, out_features, bias=False)
        nn.init.orthogonal_(self.recurrent.weight)
        self.delays = nn.Parameter(torch.empty(out_features).uniform_(0, max_delay))
        self.register_buffer("sigma", torch.tensor(float(sigma)))
        if isinstance(neuron, str):
            neuron = cast(Neuron[Any, Any], NEURONS.create(neuron, **neuron_kwargs))
        elif not isinstance(neuron, Neuron):
            raise TypeError(f"DelayedRecurrentSpiking: neuron must be a registry name or a Neuron, "
                            f"got {type(neuron).__name__}")
        self.neuron: Neuron[Any, Any] = neuron

    def set_sigma(self, sigma: float) -> None:
        """Set the spread ``σ >= 0`` (``s = 1 + σ``); the buffer grows to hold the widest mask."""
        if not sigma >= 0:
            raise ValueError(f"DelayedRecurrentSpiking: sigma must be >= 0, got {sigma}")
        self.sigma.fill_(float(sigma))

    def mask(self) -> Tensor:
        """Current spread mask ``[out, L]`` (rounded delays and ``σ = 0`` in eval mode)."""
        d = self.delays.clamp(0, self.max_delay)
        s = 1 + float(self.sigma)
        if not self.training:
            d, s = torch.round(d), 1.0
        L = math.ceil(1 + self.max_delay + s) + 1
        return delrec_mask(d, s, L)

    def forward(self, xs: Tensor) -> Tensor:
        check_sequence(xs, "DelayedRecurrentSpiking")
        if xs.dim() != 3 or xs.shape[2] != self.in_features:
            raise ValueError(f"DelayedRecurrentSpiking: expected input [T, B, {self.in_features}], "
                             f"got {tuple(xs.shape)}")
        check_finite(xs, "DelayedRecurrentSpiking")
        m = self.mask()  # [out, L]
        L = m.shape[1]
        w = self.recurrent.weight  # [out(post), out(pre)]
        i_in = self.input(xs)  # [T, B, out]
        B = xs.shape[1]
        buf = i_in.new_zeros((L - 1, B, self.out_features))  # buf[j]: recurrent current arriving at t + j
        state = self.neuron.init_state(i_in[0])
        zs = []
        for i in i_in:  # i: [B, out]
            z, state = self.neuron.step(i + buf[0], state)
            zs.append(z)
            spread = z.unsqueeze(0) * m.t()[1:].unsqueeze(1)  # [L-1, B, out(pre)]: slots t+1 … t+L-1
            contrib = spread @ w.t()  # [L-1, B, out(post)]
            buf = torch.cat([buf[1:], buf.new_zeros((1, B, self.out_features))]) + contrib
        return torch.stack(zs)  # [T, B, out]

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, max_delay={self.max_delay}, sigma={float(self.sigma):g}"
