r"""Quantized RNN → recurrent SNN (RNN-Morph-style mapping; Su et al., arXiv 2408.09403).

The ANN is an Elman RNN whose activation is QCFS (:func:`~spikeforge.convert.qcfs`, ``L`` levels,
threshold ``λ``), read out from the last hidden state:

.. math:: h_s = \mathrm{QCFS}_{L,\lambda}(W x_s + U h_{s-1} + b),\qquad y = W_o h_S + b_o

The SNN gives every sequence element ``s`` a window of ``T`` IF steps (threshold 1 after
normalisation, reset by subtraction, membrane set to ``u = 1/2`` at the start of each window — the
QCFS shift). Inside the window the neuron integrates

.. math:: u \leftarrow u + (W x_s + b)/\lambda + U\,o_{s-1,k},\qquad o_{s,k} = [u \ge 1],\ u \leftarrow u - o_{s,k}

where ``o_{s-1,k}`` is the previous window's spike at the same step ``k`` (a recurrent synapse with
a delay of ``T`` steps; a spike stands for ``λ``, so ``U`` is copied unchanged). The hidden value is
``h_s ≈ λ·N_s/T``; the readout is ``W_o λ N_S/T + b_o``. For the first element the input is
constant, so ``λ N_1/T`` equals ``QCFS_{L=T}`` exactly (reference check 2); later elements receive
uneven recurrent spikes and match only approximately, closer as ``T`` grows.

Gap: the reference leaves the paper's BIF reset rule and "s-analog" input encoding undefined [—];
this mapping uses plain IF neurons and analog (direct) input, and is not a reproduction of the paper.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .qcfs import QCFS

__all__ = ["QRNN", "SpikingRNN", "convert_qrnn"]


class QRNN(nn.Module):
    """Elman RNN with a QCFS activation: ``[S, B, n_in] -> [B, n_out]`` (readout of the last state)."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, levels: int = 8, lam: float = 1.0) -> None:
        super().__init__()
        self.inp = nn.Linear(n_in, n_hidden)
        self.rec = nn.Linear(n_hidden, n_hidden, bias=False)
        self.act = QCFS(levels=levels, lam=lam)
        self.out = nn.Linear(n_hidden, n_out)

    def hidden(self, xs: Tensor) -> Tensor:
        """All hidden states ``[S, B, n_hidden]``."""
        if xs.dim() != 3:
            raise ValueError(f"QRNN expects [S, B, n_in], got shape {tuple(xs.shape)}")
        h = xs.new_zeros(xs.shape[1], self.rec.in_features)  # [B, H]
        hs = []
        for x in xs:  # [B, n_in]
            h = self.act(self.inp(x) + self.rec(h))
            hs.append(h)
        return torch.stack(hs)  # S x [B, H] -> [S, B, H]

    def forward(self, xs: Tensor) -> Tensor:
        return self.out(self.hidden(xs)[-1])


class SpikingRNN(nn.Module):
    """The converted recurrent SNN: ``[S, B, n_in] -> [B, n_out]`` with ``steps`` IF steps per element."""

    def __init__(self, inp: nn.Linear, rec: nn.Linear, out: nn.Linear, lam: float, steps: int) -> None:
        super().__init__()
        if steps < 1:
            raise ValueError(f"SpikingRNN: steps must be >= 1, got {steps}")
        self.inp, self.rec, self.out = inp, rec, out
        self.lam = float(lam)
        self.steps = int(steps)

    def spikes(self, xs: Tensor) -> Tensor:
        """Hidden spikes ``[S, steps, B, n_hidden]``."""
        if xs.dim() != 3:
            raise ValueError(f"SpikingRNN expects [S, B, n_in], got shape {tuple(xs.shape)}")
        prev = xs.new_zeros(self.steps, xs.shape[1], self.rec.in_features)  # [T, B, H]: last window's spikes
        windows = []
        for x in xs:  # [B, n_in]
            drive = self.inp(x) / self.lam  # [B, H], constant over the window
            u = torch.full_like(drive, 0.5)  # u_0 = θ/2
            out = []
            for k in range(self.steps):
                u = u + drive + self.rec(prev[k])
                o = (u >= 1.0).to(u.dtype)
                u = u - o
                out.append(o)
            prev = torch.stack(out)  # T x [B, H] -> [T, B, H]
            windows.append(prev)
        return torch.stack(windows)  # S x [T, B, H] -> [S, T, B, H]

    def hidden(self, xs: Tensor) -> Tensor:
        """Decoded hidden states ``λ N_s / T``: ``[S, B, n_hidden]``."""
        return self.lam * self.spikes(xs).mean(1)

    def forward(self, xs: Tensor) -> Tensor:
        return self.out(self.hidden(xs)[-1])


@torch.no_grad()
def convert_qrnn(qrnn: QRNN, steps: int) -> SpikingRNN:
    """Map a trained :class:`QRNN` to a :class:`SpikingRNN` with ``steps`` IF steps per element (weights copied)."""
    if not isinstance(qrnn, QRNN):
        raise TypeError(f"convert_qrnn expects a QRNN, got {type(qrnn).__name__}")
    lam = float(qrnn.act.lam.item())
    if not lam > 0:
        raise ValueError(f"QRNN threshold lam must be > 0, got {lam:g}")
    copy = QRNN(qrnn.inp.in_features, qrnn.rec.in_features, qrnn.out.out_features)
    copy.load_state_dict(qrnn.state_dict())
    return SpikingRNN(copy.inp, copy.rec, copy.out, lam, steps).eval()
