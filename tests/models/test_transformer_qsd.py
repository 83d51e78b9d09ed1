"""QSD-Transformer pieces: the multi-level neuron, LSQ weights, and the multi-level spike-driven
property (reference section 5 and 10.C)."""

from __future__ import annotations

import math

import torch
from torch import nn

from spikeforge.models import create_model
from spikeforge.models.transformers import LSQConv2d, MultiSpike, quantize_lsq
from spikeforge.models.transformers.qsd import lsq_quantize, multispike

from test_transformer_invariants import calibrate  # noqa: E402  (same folder, on sys.path under pytest)
from test_transformer_spike_driven import _linear_chain_inner, _record_inputs  # noqa: E402


def test_multispike_levels_and_masked_straight_through():
    x = torch.tensor([-0.3, 0.0, 0.1, 0.13, 0.2, 0.5, 0.62, 0.9, 1.0, 1.7], requires_grad=True)
    y = multispike(x)
    # floor(clamp(4x, 0, 4) + 0.5) / 4, by hand
    assert y.tolist() == [0.0, 0.0, 0.0, 0.25, 0.25, 0.5, 0.5, 1.0, 1.0, 1.0]
    y.sum().backward()
    assert x.grad.tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 0, 0]  # 0 < 4x < 4
    assert (MultiSpike(v_th=0.5)(torch.tensor([0.9])) == 2.0).all()  # attention variant: / 2


def test_lsq_grid_and_init():
    torch.manual_seed(0)
    conv = LSQConv2d(3, 5, 3)
    w_abs_mean = conv.weight.detach().abs().flatten(1).mean(1)
    torch.testing.assert_close(conv.alpha.detach(), 2 * w_abs_mean / math.sqrt(7))
    wq = lsq_quantize(conv.weight, conv.alpha.view(-1, 1, 1, 1)).detach()
    k = wq / conv.alpha.detach().view(-1, 1, 1, 1)
    torch.testing.assert_close(k, k.round(), rtol=0, atol=1e-5)
    assert k.round().min() >= -8 and k.round().max() <= 7
    for c in range(5):  # at most 16 distinct values k * alpha per output channel
        assert wq[c].unique().numel() <= 16
    # the step's gradient is scaled by 1 / sqrt(N_w * 7)
    alpha = conv.alpha.detach().clone().requires_grad_()
    lsq_quantize(conv.weight.detach(), alpha.view(-1, 1, 1, 1)).sum().backward()
    w = conv.weight.detach()
    u = w / alpha.detach().view(-1, 1, 1, 1)
    v = u.clamp(-8, 7)
    raw = (v.round() - v).flatten(1).sum(1)  # d/dalpha of round(v) * alpha with STE inside the grid
    raw = raw + ((u < -8) * -8.0 + (u > 7) * 7.0).flatten(1).sum(1)  # clipped: the bound itself
    torch.testing.assert_close(alpha.grad, raw / math.sqrt(w.numel() * 7))


def test_quantize_lsq_keeps_weights_within_half_a_step():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 5 * 5, 3))
    w0 = [net[0].weight.detach().clone(), net[2].weight.detach().clone()]
    quantize_lsq(net, bits=8)
    assert isinstance(net[0], LSQConv2d) and type(net[2]).__name__ == "LSQLinear"
    for layer, w, shape in ((net[0], w0[0], (-1, 1, 1, 1)), (net[2], w0[1], (-1, 1))):
        assert torch.equal(layer.weight.detach(), w)
        a = layer.alpha.detach().view(shape)
        err = (lsq_quantize(layer.weight, a, 8).detach() - w).abs()
        assert (err <= a / 2 + 1e-7).all()  # 8-bit grid covers +-127 alpha >> max|w| here
    assert net(torch.rand(2, 2, 5, 5)).shape == (2, 3)


def test_qsd_inputs_are_multilevel_spikes_after_the_stem():
    torch.manual_seed(0)
    net = create_model("qsd_tiny", num_classes=5, T=2)
    x = torch.rand(4, 3, 32, 32) * 2
    calibrate(net, x)
    seen, handles = _record_inputs(net)
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    exempt = _linear_chain_inner(net)
    levels, attn_levels = {0.0, 0.25, 0.5, 0.75, 1.0}, {0.0, 0.5, 1.0, 1.5, 2.0}
    proj_inputs = {blk.attn.out.body.module[0].pw1 for blk in net.features if hasattr(blk, "attn")}
    fractional = 0
    for m in convs[1:]:
        if m in exempt:
            continue
        vals = set(seen[m][0].unique().tolist())
        assert vals <= (attn_levels if m in proj_inputs else levels), f"{type(m).__name__}: {sorted(vals)[:8]}"
        fractional += len(vals - {0.0, 1.0})
    assert fractional > 0  # multi-level, not binary
