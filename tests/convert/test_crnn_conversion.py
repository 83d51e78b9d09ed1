"""Quantized RNN -> recurrent SNN (reference §2.4): the SNN approaches the quantized RNN as T grows."""

from __future__ import annotations

import pytest
import torch

from spikeforge.convert.recurrent import QRNN, SpikingRNN, convert_qrnn


def _net(levels: int = 8) -> QRNN:
    torch.manual_seed(0)
    q = QRNN(3, 32, 2, levels=levels, lam=1.0)
    with torch.no_grad():  # strong input and recurrence, so many neurons sit between 0 and λ
        q.rec.weight.mul_(1.5)
        q.inp.weight.mul_(2.0)
    return q


def _requantized(q: QRNN, levels: int) -> QRNN:
    """The same weights with L = levels (the QRNN the SNN with T = levels steps is meant to equal)."""
    out = QRNN(3, 32, 2, levels=levels, lam=float(q.act.lam))
    out.load_state_dict(q.state_dict())
    return out


def test_snn_approaches_the_quantized_rnn_as_T_grows(gen: torch.Generator) -> None:
    q = _net()
    xs = torch.rand(10, 64, 3, generator=gen)  # [S, B, n_in]
    errs = []
    with torch.no_grad():
        for T in (2, 4, 8, 16, 32):
            hs = convert_qrnn(q, T).hidden(xs)  # [S, B, H]
            hq = _requantized(q, T).hidden(xs)
            # first element: constant input, u0 = θ/2 -> exactly QCFS with L = T (reference check 2)
            assert torch.equal(hs[0], hq[0]), T
            errs.append((hs - hq).abs().mean().item())
        # later elements get uneven recurrent spikes: error shrinks with T (measured 0.015 -> 0.0016)
        assert all(a > b for a, b in zip(errs, errs[1:])), errs
        assert errs[-1] < 0.2 * errs[0]
        assert errs[0] > 1e-3  # not vacuous
        # against the trained L = 8 network, T = L is the best window; longer windows approach clip()
        e8 = {T: (convert_qrnn(q, T).hidden(xs) - q.hidden(xs)).abs().mean().item() for T in (2, 4, 8, 16)}
        assert min(e8, key=e8.__getitem__) == 8, e8
        # the readout follows the hidden state
        y_err = (convert_qrnn(q, 32)(xs) - _requantized(q, 32)(xs)).abs().mean().item()
        assert y_err < 0.01


def test_crnn_bad_input() -> None:
    q = _net()
    with pytest.raises(ValueError, match=r"\[S, B, n_in\]"):
        convert_qrnn(q, 4)(torch.rand(5, 3))
    with pytest.raises(ValueError, match="steps"):
        SpikingRNN(q.inp, q.rec, q.out, 1.0, 0)
    with pytest.raises(TypeError, match="QRNN"):
        convert_qrnn(torch.nn.RNN(3, 4), 4)  # type: ignore[arg-type]
