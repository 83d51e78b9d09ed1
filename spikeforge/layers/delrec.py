r"""Learnable recurrent delays, DelRec style (Queant et al., arXiv 2509.24852).

The recurrent connections carry learnable delays :math:`d \ge 0`: one per presynaptic neuron
(*axonal*, ``d[q]``) or one per synapse (*synaptic*, ``d[p, q]`` from neuron ``q`` to ``p``). A
spike is spread over the future slots ``l`` of a ring buffer by the mask

.. math:: m(l) = \max(s - |l - (1 + d)|, 0) / s^2, \qquad s = 1 + \sigma,

so with :math:`\sigma = 0` and integer :math:`d` it arrives exactly :math:`1 + d` steps later
(one-hot at ``l = 1 + d``); for any integer ``s`` the mask sums to 1 (when ``1 + d ≥ s``; mass
falling on slot 0, the current step, is dropped, as in the reference implementation). Fractional delays are
triangular interpolation; at evaluation (``eval()``) delays are rounded and ``σ`` is ignored.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..neurons._base import Neuron, check_sequence, check_step_input
from ..numerics import check_finite
from .recurrent import resolve_neuron

__all__ = ["DelRecState", "DelayedRecurrentSpiking", "delrec_mask"]


def delrec_mask(delays: Tensor, s: Tensor | float, L: int) -> Tensor:
    r"""Spread mask ``[*, L]``: :math:`m(l) = \max(s - |l - (1 + d)|, 0)/s^2` for ``l = 0 … L-1``.

    ``delays`` has any shape ``[*]`` (``[N]`` axonal, ``[N_post, N_pre]`` synaptic).

    Example:
        >>> delrec_mask(torch.tensor([2.0]), 1.0, 5)
        tensor([[0., 0., 0., 1., 0.]])
    """
    s_t = torch.as_tensor(s, dtype=delays.dtype, device=delays.device).expand_as(delays).unsqueeze(-1)  # [*, 1]
    slot = torch.arange(L, dtype=delays.dtype, device=delays.device)  # [L]
    return torch.relu(s_t - (slot - (1 + delays.unsqueeze(-1))).abs()) / s_t**2


class DelRecState(NamedTuple):
    neuron: Any  # the neuron's own State NamedTuple, fields [B, out_features]
    buffer: Tensor  # recurrent input arriving at steps t, t+1, … (ring buffer, unrolled) [L-1, B, out_features]


class DelayedRecurrentSpiking(nn.Module):
    r"""Recurrent spiking layer whose recurrent connections carry learnable delays (DelRec).

    .. math:: i_t[p] = (W_{in} x_t)[p] + \sum_{l\ge 1} \sum_q W_{rec}[p, q]\, m_{pq}(l)\, z_{t-l}[q],
              \qquad (z_t, s_t) = \mathrm{step}(i_t, s_{t-1})

    with :math:`m_{pq} = m_q` (axonal, one delay per neuron) or one mask per synapse
    (``synaptic=True``). Implemented with a buffer of the recurrent input of the next ``L - 1``
    steps, ``L = ⌈1 + max_delay + s⌉ + 1``: each step reads slot 0, runs the neuron, and adds the
    spikes times the kernel ``W_rec ⊙ m`` to the future slots. Delays are clamped to ``[0, max_delay]``.

    Args:
        in_features, out_features: Input size and number of neurons.
        max_delay: Largest recurrent delay in steps (total latency ``max_delay + 1``).
        neuron: Registry name (built with ``**neuron_kwargs``) or a neuron module.
        sigma: Initial spread ``σ`` (``s = 1 + σ``); change it with :meth:`set_sigma`.
        bias: Bias on the input synapses.
        synaptic: One delay per recurrent synapse (``delays`` ``[out, out]``, post × pre) instead of
            one per neuron (``delays`` ``[out]``).

    Shapes:
        ``forward(xs [T, B, in]) -> zs [T, B, out]`` from rest; ``run(xs, state) -> (zs, state)``
        continues a sequence (the state holds the neuron state and the buffer, :class:`DelRecState`);
        ``step(x [B, in], state) -> (z [B, out], state)``.

    Example:
        >>> layer = DelayedRecurrentSpiking(4, 8, max_delay=5)
        >>> layer(torch.rand(10, 2, 4)).shape
        torch.Size([10, 2, 8])
        >>> zs, state = layer.run(torch.rand(6, 2, 4))
        >>> zs2, state = layer.run(torch.rand(4, 2, 4), state)  # continues the sequence
    """

    spiking = True
    sigma: Tensor

    def __init__(
        self, in_features: int, out_features: int, max_delay: int, *, neuron: str | Neuron[Any, Any] = "lif",
        sigma: float = 0.0, bias: bool = True, synaptic: bool = False, **neuron_kwargs: Any,
    ) -> None:
        super().__init__()
        if max_delay < 0:
            raise ValueError(f"DelayedRecurrentSpiking: max_delay must be >= 0, got {max_delay}")
        self.in_features, self.out_features, self.max_delay = int(in_features), int(out_features), int(max_delay)
        self.synaptic = bool(synaptic)
        self.input = nn.Linear(in_features, out_features, bias=bias)
        self.recurrent = nn.Linear(out_features, out_features, bias=False)
        nn.init.orthogonal_(self.recurrent.weight)
        shape = (out_features, out_features) if self.synaptic else (out_features,)
        self.delays = nn.Parameter(torch.empty(shape).uniform_(0, max_delay))
        self.register_buffer("sigma", torch.tensor(float(sigma)))
        self.neuron: Neuron[Any, Any] = resolve_neuron(neuron, neuron_kwargs, "DelayedRecurrentSpiking")

    def set_sigma(self, sigma: float) -> None:
        """Set the spread ``σ >= 0`` (``s = 1 + σ``); the buffer grows to hold the widest mask."""
        if not sigma >= 0:
            raise ValueError(f"DelayedRecurrentSpiking: sigma must be >= 0, got {sigma}")
        self.sigma.fill_(float(sigma))

    def mask(self) -> Tensor:
        """Current spread mask ``[out, L]`` (axonal) or ``[out, out, L]`` (synaptic); rounded delays and
        ``σ = 0`` in eval mode."""
        d = self.delays.clamp(0, self.max_delay)
        s = 1 + float(self.sigma)
        if not self.training:
            d, s = torch.round(d), 1.0
        L = math.ceil(1 + self.max_delay + s) + 1
        return delrec_mask(d, s, L)

    def kernel(self) -> Tensor:
        """Recurrent kernel ``[L-1, out(pre), out(post)]``: weight × mask for the future slots ``1 … L-1``."""
        w, m = self.recurrent.weight, self.mask()  # w: [post, pre]
        if self.synaptic:
            return (w.unsqueeze(-1) * m[..., 1:]).permute(2, 1, 0)  # [post, pre, L-1] -> [L-1, pre, post]
        return m.t()[1:].unsqueeze(-1) * w.t().unsqueeze(0)  # [L-1, pre, 1] * [1, pre, post]

    def init_state(self, x: Tensor) -> DelRecState:
        """Resting state for a single-step input ``x [B, in]``: neuron at rest, empty buffer."""
        z = x.new_zeros((*x.shape[:-1], self.out_features))  # [B, out]
        L = self.mask().shape[-1]
        return DelRecState(neuron=self.neuron.init_state(z), buffer=z.new_zeros((L - 1, *z.shape)))

    def _check_input(self, xs: Tensor) -> None:
        if xs.dim() != 3 or xs.shape[2] != self.in_features:
            raise ValueError(f"DelayedRecurrentSpiking: expected input [T, B, {self.in_features}], "
                             f"got {tuple(xs.shape)}")

    def _check_state(self, state: DelRecState, x: Tensor) -> None:
        """``state`` must be a :class:`DelRecState` for single-step inputs ``x [B, in]``."""
        if not isinstance(state, DelRecState):
            raise TypeError(f"DelayedRecurrentSpiking: state must be a DelRecState(neuron, buffer), "
                            f"got {type(state).__name__}")
        out = (x.shape[0], self.out_features)
        buf = state.buffer
        if not isinstance(buf, Tensor) or buf.dim() != 3 or tuple(buf.shape[1:]) != out:
            got = tuple(buf.shape) if isinstance(buf, Tensor) else type(buf).__name__
            raise ValueError(f"DelayedRecurrentSpiking: state.buffer must have shape [L-1, {out[0]}, {out[1]}] "
                             f"([slots, B, out_features]), got {got}")
        self.neuron.check_state(state.neuron, x.new_zeros(out))

    def run(self, xs: Tensor, state: DelRecState | None = None) -> tuple[Tensor, DelRecState]:
        """Run over ``xs [T, B, in]`` from ``state`` (rest if ``None``); returns ``(zs [T, B, out], state)``.

        Passing the returned state back in continues the same sequence exactly (also across a change
        of ``σ`` or of train/eval mode: the buffer keeps every slot already scheduled).
        """
        check_sequence(xs, "DelayedRecurrentSpiking")
        self._check_input(xs)
        check_finite(xs, "DelayedRecurrentSpiking")
        if state is None:
            state = self.init_state(xs[0])
        else:
            self._check_state(state, xs[0])
        kernel = self.kernel()  # [L-1, out(pre), out(post)]
        buf, neuron_state = state.buffer, state.neuron  # buf[j]: recurrent input arriving at t + j
        n = max(kernel.shape[0], buf.shape[0])
        kernel = F.pad(kernel, (0, 0, 0, 0, 0, n - kernel.shape[0]))  # [n, out, out]: no input past L-1
        buf = F.pad(buf, (0, 0, 0, 0, 0, n - buf.shape[0]))  # [n, B, out]: nothing scheduled there yet
        i_in = self.input(xs)  # [T, B, in] -> [T, B, out], all steps at once
        zs = []
        for i in i_in:  # i: [B, out]
            z, neuron_state = self.neuron.step(i + buf[0], neuron_state)
            zs.append(z)
            contrib = z.unsqueeze(0) @ kernel  # [1, B, pre] @ [n, pre, post] -> [n, B, post]: slots t+1 … t+n
            buf = torch.cat([buf[1:], buf.new_zeros((1, *buf.shape[1:]))]) + contrib
        return torch.stack(zs), DelRecState(neuron=neuron_state, buffer=buf)  # [T, B, out]

    def step(self, x: Tensor, state: DelRecState | None = None) -> tuple[Tensor, DelRecState]:
        """Advance one step: ``x [B, in]`` → ``(z [B, out], state)``."""
        check_step_input(x, "DelayedRecurrentSpiking")
        zs, state = self.run(x.unsqueeze(0), state)  # [1, B, in] -> [1, B, out]
        return zs[0], state

    def forward(self, xs: Tensor) -> Tensor:
        """Run a whole sequence ``[T, B, in]`` from rest; returns ``[T, B, out]``."""
        return self.run(xs)[0]

    def extra_repr(self) -> str:
        kind = "synaptic" if self.synaptic else "axonal"
        return (f"{self.in_features}, {self.out_features}, max_delay={self.max_delay}, {kind}, "
                f"sigma={float(self.sigma):g}")
