"""Attention and time invariants of the spiking-transformer blocks (reference section 10.D/E).

Independent oracles: explicit float64 einsum products, the LIF(tau=2) closed form from rest,
token permutations, and perturbations of later time steps."""

from __future__ import annotations

import pytest
import torch

from spikeforge.models import create_model
from spikeforge.models.transformers import (
    SpikingSelfAttention, from_heads, make_neuron, sdsa_v1_kv, ssa_product, to_heads,
)

T, B, H, N, D = 2, 3, 4, 37, 16


def calibrate(net, xs):
    """Set every BN's running statistics to those of ``xs`` (one train-mode pass, cumulative
    average), so that an untrained net spikes in eval mode; returns the net in eval mode."""
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        net.train()(xs)
    return net.eval()


def _binary(*shape, p=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < p).to(torch.float64)


def test_ssa_both_orders_equal_the_explicit_product_exactly():
    q, k, v = (_binary(T, B, H, N, D, seed=s) for s in range(3))
    ref = torch.einsum("tbhnd,tbhmd,tbhme->tbhne", q, k, v)  # sum_m (q_n . k_m) v_m
    a = ssa_product(q, k, v, 1.0, order="qk_v")
    b = ssa_product(q, k, v, 1.0, order="q_kv")
    assert torch.equal(a, ref) and torch.equal(b, ref)  # exact: integer counts
    assert torch.equal(a, a.round()) and a.min() >= 0 and a.max() <= N * D
    qk = q @ k.transpose(-2, -1)
    assert qk.min() >= 0 and qk.max() <= D
    torch.testing.assert_close(ssa_product(q, k, v, 0.125), ref * 0.125, rtol=0, atol=0)
    with pytest.raises(ValueError, match="order"):
        ssa_product(q, k, v, 1.0, order="kqv")


def test_sdsa_v1_column_sum_and_single_step_closed_form():
    q, k, v = (_binary(1, B, H, N, D, seed=s) for s in range(3, 6))
    kv = sdsa_v1_kv(k, v)
    assert kv.shape == (1, B, H, 1, D)
    assert torch.equal(kv, kv.round()) and kv.min() >= 0 and kv.max() <= N
    attn = SpikingSelfAttention(H * D, H, kind="sdsa", shortcut="ms").double()
    out = attn.attend(q, k, v)
    # one step of LIF(tau=2) from rest charges kv / 2; the attention threshold is 0.5
    expected = q * (kv / 2 > 0.5).to(q.dtype)
    assert torch.equal(out, expected)
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_heads_round_trip_and_channel_to_head_map():
    x = torch.arange(2 * 1 * 6 * 2 * 3, dtype=torch.float64).reshape(2, 1, 6, 2, 3)  # [T, B, C, H, W]
    h = to_heads(x, 3)  # d = 2: channels (0,1) -> head 0, (2,3) -> head 1 ...
    assert h.shape == (2, 1, 3, 6, 2)
    assert torch.equal(h[0, 0, 1, 4, 1], x[0, 0, 3].flatten()[4])
    assert torch.equal(from_heads(h, (2, 3)), x)


@pytest.mark.parametrize(("kind", "shortcut"), [("ssa", "sew"), ("ssa", "ms"), ("sdsa", "ms"), ("sdsa", "sew"),
                                               ("softmax", "ms")])
def test_attention_is_token_permutation_equivariant(kind, shortcut):
    torch.manual_seed(0)
    # train mode: BN normalises with batch statistics over T*B*H*W (unchanged by a token
    # permutation), so the fresh layer spikes; in eval the untrained BN passes too little drive
    ann = {"neuron": lambda v_th: torch.nn.ReLU()} if kind == "softmax" else {}  # the ANN yardstick
    attn = SpikingSelfAttention(32, 4, kind=kind, shortcut=shortcut, **ann).double().train()
    for m in attn.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.constant_(m.weight, 4.0)  # dense spikes, so that attention neurons fire
    x = torch.rand(3, 2, 32, 4, 5, dtype=torch.float64) * 3  # [T, B, C, H, W], N = 20
    perm = torch.randperm(20)

    def permute(t):
        return t.flatten(3)[..., perm].unflatten(-1, (4, 5))  # permute tokens

    out = attn(x)
    assert out.abs().sum() > 0 and attn.attend(*[to_heads(attn.q_lif(attn.q(x)), 4)] * 3).sum() > 0
    torch.testing.assert_close(attn(permute(x)), permute(out), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["spikformer_tiny", "sdt_tiny", "meta_spikeformer_tiny"])
def test_two_forwards_from_rest_are_identical_and_causal_in_eval(name):
    torch.manual_seed(0)
    net = create_model(name, in_channels=2, num_classes=5, img_size=16, T=4).double()
    xs = torch.rand(4, 2, 2, 16, 16, dtype=torch.float64) * 2  # an event-like sequence [T, B, C, H, W]
    calibrate(net, xs)
    with torch.no_grad():
        a, b = net(xs), net(xs)
        assert torch.equal(a, b)  # nothing carried over: every neuron starts from rest
        ys = xs.clone()
        ys[2:] = torch.rand(2, 2, 2, 16, 16, dtype=torch.float64) * 2  # change steps >= 2
        c = net(ys)
    assert torch.equal(c[:2], a[:2])  # outputs before the change are untouched
    assert not torch.equal(c[2:], a[2:])


def test_attention_neuron_threshold_and_sj_lif_reference():
    lif = make_neuron("lif")
    zs, state = lif.run(torch.full((2, 1), 1.5))  # reference 10.E: H = 0.75, 1.125 -> spikes 0, 1
    assert zs.flatten().tolist() == [0.0, 1.0] and state.v.item() == 0.0
    zs, state = lif.run(torch.full((1, 1), 1.5))
    assert state.v.item() == 0.75
    attn = SpikingSelfAttention(8, 2)
    assert float(attn.attn_lif.v_th) == 0.5 and float(attn.q_lif.v_th) == 1.0


def test_random_qk_ablation_freezes_q_and_k_only():
    attn = SpikingSelfAttention(16, 2, random_qk=True)
    frozen = {n for n, p in attn.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith(("q.", "k.")) for n in frozen)
    assert all(p.requires_grad for n, p in attn.named_parameters() if n.startswith(("v.", "out.")))
    assert len(frozen) == len([n for n, _ in attn.named_parameters() if n.startswith(("q.", "k."))])
