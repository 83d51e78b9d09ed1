"""HD-LIF (STEP's HDLIFNode, a gated mixture of IF/LIF/PLIF/EIF): float64 golden against scalar
loops written here with ``math``, STEP's zero-membrane rule, the top-2 gate of eval mode, and the
fixed-length contract."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.neurons.hdlif import HDLIF, hdlif_experts, hdlif_run


def _experts_ref(xs: list[float], plif_rate: float) -> list[list[float]]:
    """Post-reset membranes [T][E] of one neuron, each expert written out as a scalar loop."""
    u = [0.0, 0.0, 0.0, -0.1]
    out = []
    for x in xs:
        pre = [u[0] + x, u[1] + (x - u[1]) / 2.0, u[2] + (x - u[2]) * plif_rate,
               u[3] + (x - u[3] + 1.0 * math.exp((u[3] - 0.8) / 1.0)) / 2.0]
        u = [v * (0.0 if v > 0.5 else 1.0) for v in pre[:3]]
        u.append(-0.1 if pre[3] > 0.5 else pre[3])
        out.append(list(u))
    return out


def _run_ref(xs: torch.Tensor, gw: torch.Tensor, gb: torch.Tensor, plif_w: float, top_k: int | None
             ) -> tuple[list, list]:
    """(mixed membrane, spikes) as nested lists [T][B][C], from scalar loops."""
    T, B, C = xs.shape
    x = xs.tolist()
    rate = 1.0 / (1.0 + math.exp(-plif_w))
    mixed = [[[0.0] * C for _ in range(B)] for _ in range(T)]
    for b in range(B):
        seq = [x[t][b][c] for t in range(T) for c in range(C)]  # time outer
        logits = [sum(w * s for w, s in zip(row, seq, strict=True)) + bias
                  for row, bias in zip(gw.tolist(), gb.tolist(), strict=True)]
        kept = sorted(range(4), key=lambda e: -logits[e])[: (top_k or 4)]
        z = sum(math.exp(logits[e]) for e in kept)
        gate = [math.exp(logits[e]) / z if e in kept else 0.0 for e in range(4)]
        for c in range(C):
            mem = _experts_ref([x[t][b][c] for t in range(T)], rate)
            for t in range(T):
                mixed[t][b][c] = sum(g * (0.5 if m == 0.0 else m) for g, m in zip(gate, mem[t], strict=True))
    spikes = [[[1.0 if v > 0.2 else 0.0 for v in row] for row in step] for step in mixed]
    return mixed, spikes


@pytest.mark.parametrize("top_k", [None, 2])
def test_golden_against_scalar_loops(gen, top_k):
    T, B, C = 5, 3, 4
    xs = (torch.rand(T, B, C, generator=gen, dtype=torch.float64) * 1.4 - 0.5)
    layer = HDLIF(C, T, dtype=torch.float64)
    with torch.no_grad():
        layer.gate_weight.normal_(0.0, 1.0, generator=gen)
        layer.plif_w.fill_(0.3)
    p = layer.params(torch.float64)
    mem = hdlif_experts(xs, p)  # [T, E, B, C]
    for b in range(B):
        for c in range(C):
            ref = _experts_ref(xs[:, b, c].tolist(), 1.0 / (1.0 + math.exp(-0.3)))
            torch.testing.assert_close(mem[:, :, b, c], torch.tensor(ref, dtype=torch.float64), rtol=0, atol=1e-12)
    layer.train(top_k is None)
    out = layer(xs)
    mixed, spikes = _run_ref(xs, layer.gate_weight.detach(), layer.gate_bias.detach(), 0.3, top_k)
    assert out.tolist() == spikes
    assert 0.1 < out.mean().item() < 0.9  # both outcomes occur
    # the surrogate gradient sits at the mixed membrane: d out / d (mixed) = sigmoid'(4 (M - 0.2)) * 4
    ms = torch.tensor(mixed, dtype=torch.float64)
    assert ms.min() < 0.2 < ms.max()


def test_zero_membranes_read_as_threshold():
    """A neuron that just reset (membrane exactly 0) counts as v_th = 0.5 in the mix (STEP's rule):
    a strong constant drive makes IF/LIF/PLIF fire every step, so with the gate on IF alone the
    mixed membrane is 0.5 > 0.2 and the output fires although every IF membrane is 0."""
    layer = HDLIF(1, 3, dtype=torch.float64)
    with torch.no_grad():
        layer.gate_weight.zero_()
        layer.gate_bias.copy_(torch.tensor([50.0, 0.0, 0.0, 0.0], dtype=torch.float64))  # gate = IF
    xs = torch.full((3, 1, 1), 2.0, dtype=torch.float64)
    assert hdlif_experts(xs, layer.params(torch.float64))[:, 0].abs().max() == 0  # IF fired and reset
    assert layer(xs).flatten().tolist() == [1.0, 1.0, 1.0]


def test_gradients_reach_gate_plif_and_input(gen):
    layer = HDLIF(6, 4)
    xs = (torch.rand(4, 3, 2, 6, generator=gen) * 0.6).requires_grad_(True)  # [T, B, tokens, C]
    layer(xs).sum().backward()
    for g in (xs.grad, layer.gate_weight.grad, layer.gate_bias.grad, layer.plif_w.grad):
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


def test_fixed_length_and_bad_input():
    layer = HDLIF(4, 3)
    with pytest.raises(ValueError, match="built for T = 3 steps, got a sequence of 4"):
        layer(torch.rand(4, 2, 4))
    with pytest.raises(ValueError, match="built for C = 4 channels"):
        layer(torch.rand(3, 2, 5))
    with pytest.raises(ValueError, match="T·C = 12"):  # the pure function checks the gate width itself
        hdlif_run(torch.rand(4, 2, 4), layer.params(torch.float32))
    with pytest.raises(ValueError, match="top_k"):
        hdlif_run(torch.rand(3, 2, 4), layer.params(torch.float32), top_k=5)
    with pytest.raises(ValueError, match="features"):
        HDLIF(0, 3)
