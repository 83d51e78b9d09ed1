"""Spike-driven property (forward hooks on every Conv/Linear), shape contracts, RepConv merging
and neuron drop-in for the spiking-transformer families (reference sections 10.B and 10.C)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.models import create_model
from spikeforge.models.transformers import SPS, MetaSpikeFormer, MSDownsample, RepConvBN, SepConv, Spikformer
from spikeforge.models.transformers.conv import _RepConv
from spikeforge.neurons import NEURONS

from test_transformer_invariants import calibrate  # noqa: E402  (same folder, on sys.path under pytest)


def _record_inputs(net):
    seen: dict[nn.Module, list[torch.Tensor]] = {}
    handles = [m.register_forward_pre_hook(lambda mod, args: seen.setdefault(mod, []).append(args[0].detach()))
               for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return seen, handles


def _run_and_record(name, **kw):
    torch.manual_seed(0)
    net = create_model(name, in_channels=3, num_classes=5, img_size=32, T=2, **kw)
    x = torch.rand(4, 3, 32, 32) * 2
    calibrate(net, x)
    seen, handles = _record_inputs(net)
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return net, seen, convs


def _linear_chain_inner(net):
    """Convs that read another conv's output inside a linear chain (RepConv, SepConv): they see
    real values until the chain is merged into one conv (reference 10.C)."""
    inner = set()
    for m in net.modules():
        if isinstance(m, _RepConv):
            inner |= {m.dw, m.pw2}
        if isinstance(m, SepConv):
            inner.add(m.dw_pw2.module[1])
    return inner


@pytest.mark.parametrize("name", ["sdt_tiny", "meta_spikeformer_tiny", "maxformer_tiny"])
def test_ms_families_feed_only_spikes_to_convs_after_the_stem(name):
    net, seen, convs = _run_and_record(name)
    stem, rest = convs[0], convs[1:]
    assert not set(seen[stem][0].unique().tolist()) <= {0.0, 1.0}  # the stem sees the image
    exempt = _linear_chain_inner(net)
    assert len(exempt) == (2 * 4 * 2 + 4 if name.startswith("meta") else 0)  # 4 RepConvs / block, 4 SepConvs
    ones = 0.0
    for m in rest:
        if m in exempt:
            continue
        (x,) = seen[m]
        assert set(x.unique().tolist()) <= {0.0, 1.0}, f"{type(m).__name__} input is not binary"
        ones += float(x.sum())
    assert ones > 0
    if exempt:  # the exceptions really are real-valued (the test would notice a change)
        assert any(not set(seen[m][0].unique().tolist()) <= {0.0, 1.0} for m in exempt)


def test_spikformer_sew_inputs_are_integer_counts_and_qkv_binary():
    net, seen, convs = _run_and_record("spikformer_tiny")
    counts_above_one = 0
    for m in convs[1:-1]:  # after the stem, before the head (which sees a token mean)
        (x,) = seen[m]
        assert torch.equal(x, x.round()) and x.min() >= 0
        counts_above_one += int((x > 1).sum())
    assert counts_above_one > 0  # SEW: spike + spike reaches 2, so "all inputs binary" is false here
    assert not torch.equal(seen[convs[-1]][0], seen[convs[-1]][0].round())
    attn = net.features[1].attn
    spikes = {}
    hooks = [getattr(attn, n).register_forward_hook(lambda m, a, out, n=n: spikes.__setitem__(n, out))
             for n in ("q_lif", "k_lif", "v_lif")]
    with torch.no_grad():
        net(torch.rand(4, 3, 32, 32) * 2)
    for h in hooks:
        h.remove()
    for n in ("q_lif", "k_lif", "v_lif"):
        assert set(spikes[n].unique().tolist()) <= {0.0, 1.0}


def test_repconv_merges_into_one_3x3_conv():
    """RepConv + BN in eval is one 3x3 conv with zero padding: the BN-padding makes the borders
    right. Merged weights computed here by hand from the module's own weights."""
    torch.manual_seed(0)
    C, Co = 4, 6
    rep = RepConvBN(C, Co).double()
    chain, bn3 = rep.body.module[0], rep.body.module[1]
    for bn in (chain.bn1, chain.bn2, bn3):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        nn.init.uniform_(bn.weight, 0.5, 2)
        nn.init.uniform_(bn.bias, -1, 1)
    rep.eval()

    def affine(bn):
        a = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        return a, bn.bias - bn.running_mean * a

    a1, c1 = affine(chain.bn1)
    a2, c2 = affine(chain.bn2)
    a3, c3 = affine(bn3)
    w1, wd, w2 = chain.pw1.weight[:, :, 0, 0], chain.dw.weight[:, 0], chain.pw2.weight[:, :, 0, 0]
    kernel = torch.einsum("oc,cuv,c,ci->oiuv", w2, wd, a1, w1) * (a3 * a2)[:, None, None, None]
    bias = a3 * (a2 * (w2 @ (c1 * wd.sum((1, 2)))) + c2) + c3
    x = torch.rand(2, 3, C, 7, 5, dtype=torch.float64).round()  # [T, B, C, H, W] spikes
    with torch.no_grad():
        merged = F.conv2d(x.flatten(0, 1), kernel, bias, padding=1).unflatten(0, (2, 3))
        torch.testing.assert_close(rep(x), merged, rtol=1e-12, atol=1e-12)


def test_token_counts():
    x = torch.rand(1, 1, 3, 32, 32)
    assert SPS(3, 16, pooling="0011")(x).shape == (1, 1, 16, 8, 8)  # CIFAR: 64 tokens
    assert SPS(3, 16, pooling="1111")(torch.rand(1, 1, 3, 224, 224)).shape[-2:] == (14, 14)  # 196 tokens
    assert SPS(3, 16, pooling="0111", shortcut="ms")(torch.rand(1, 1, 3, 128, 128)).shape[-2:] == (16, 16)
    dvs = create_model("spikformer_dvs_2_256", embed_dim=32, num_heads=4)
    assert dvs.forward_features(torch.rand(2, 1, 2, 128, 128)).shape == (2, 1, 32, 8, 8)  # 64 tokens
    assert dvs.num_tokens == 64
    full = Spikformer()  # CIFAR 4-384: [B, 3, 32, 32] -> SPS [T, B, 384, 8, 8] (reference: [4, 2, 64, 384])
    assert full.features[0](torch.rand(1, 1, 3, 32, 32)).shape == (1, 1, 384, 8, 8)
    assert full.num_tokens == 64


def test_sdsa_kv_shape():
    net = create_model("sdt_tiny", num_heads=4, embed_dim=64, T=3)
    got = {}
    net.features[1].attn.attn_lif.register_forward_hook(lambda m, a, out: got.setdefault("kv", out))
    net(torch.rand(2, 3, 16, 16))
    assert got["kv"].shape == (3, 2, 4, 1, 16)  # [T, B, h, 1, D/h]


@pytest.mark.parametrize(("name", "size", "in_ch", "stages"), [
    ("maxformer_cifar10_4_384", 32, 3, [32, 16, 8]),
    ("maxformer_imagenet_10_384", 224, 3, [56, 28, 14]),
    ("maxformer_dvs128_2_256", 128, 2, [16, 8]),
])
def test_maxformer_stage_sizes(name, size, in_ch, stages):
    from spikeforge.models.transformers import MaxFormerEmbedding

    kw = {"widths": (8, 16, 32)[-len(stages):], "num_heads": 2, "T": 1}
    net = create_model(name, **kw)
    got = []
    for m in net.modules():
        if isinstance(m, MaxFormerEmbedding):
            m.register_forward_hook(lambda mod, a, out: got.append(out.shape[-1]))
    net(torch.rand(1, in_ch, size, size))
    assert got == stages and net.num_tokens == stages[-1] ** 2


def test_meta_spikeformer_stage_sizes_at_224():
    net = MetaSpikeFormer(embed_dims=(4, 8, 16, 16), depths=(1, 1), num_heads=2, num_classes=3)
    sizes = []
    for m in net.modules():
        if isinstance(m, MSDownsample):
            m.register_forward_hook(lambda mod, a, out: sizes.append(tuple(out.shape[2:])))
    assert net(torch.rand(1, 3, 224, 224)).shape == (1, 1, 3)
    assert sizes == [(2, 112, 112), (4, 56, 56), (8, 28, 28), (16, 14, 14), (16, 14, 14)]
    assert net.num_tokens == 196


SPIKING = [n for n, cls in NEURONS.items() if getattr(cls, "spiking", True)]


@pytest.mark.parametrize("neuron", SPIKING)
def test_any_registered_spiking_neuron_drops_in(neuron):
    torch.manual_seed(0)
    net = create_model("sdt_tiny", neuron=neuron, surrogate="atan", embed_dim=32, num_heads=2, img_size=8, T=2)
    lifs = [m for m in net.modules() if isinstance(m, NEURONS.get(neuron))]
    assert len(lifs) >= 10
    out = net(torch.rand(2, 3, 8, 8))
    assert out.shape == (2, 2, 10) and torch.isfinite(out).all()
    out.sum().backward()


def test_a_neuron_factory_and_bad_neurons():
    made = []

    def factory(v_th):
        made.append(v_th)
        return NEURONS.create("if", v_th=v_th)

    net = Spikformer(embed_dim=16, depth=1, num_heads=2, img_size=8, neuron=factory)
    assert 0.5 in made and 1.0 in made
    assert net(torch.rand(1, 3, 8, 8)).shape == (4, 1, 10)
    with pytest.raises(ValueError, match="non-spiking"):
        Spikformer(embed_dim=16, depth=1, num_heads=2, neuron="li")
    with pytest.raises(ValueError, match="divisible by num_heads"):
        Spikformer(embed_dim=16, depth=1, num_heads=3)
