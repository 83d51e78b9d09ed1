"""Cost of attention, hand-counted on 2-block Spikformer / SDT models (D=16, 2 heads, 8x8 input, T=2).

Hand rules (written out here, independent of the profiler's binarise-and-reapply counting):

- 1x1 conv / linear: effective = nonzero inputs × fan-out (C_out); dense = T·B·H·W·C_in·C_out.
- 3x3 conv, stride 1, padding 1, on H×W: a nonzero input at (i, j) reaches C_out·r(i)·r(j) outputs,
  r(i) = 3 - [i = 0] - [i = H-1]; dense = T·B·C_in·C_out·(3H-2)(3W-2).
- SSA ``Q (Kᵀ V)``: Kᵀ V costs Σ_n nnz(k_n)·nnz(v_n), Q (KᵀV) costs Σ_{n,c} [q_nc ≠ 0]·nnz((KᵀV)_c,:);
  dense 2·N·d·d per head and step.
- SDSA v1: column sum Σ [k ≠ 0][v ≠ 0], Hadamard Σ [q ≠ 0][kv ≠ 0]; dense 2·N·d.
- AC if every input is in {0, 1} (for a product of two activations: if one operand is), else MAC:
  the stem (real image) and, in Spikformer, every layer fed by a SEW sum (values up to 2 and more).
"""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch
from torch import Tensor, nn

import spikeforge as sf
from spikeforge.metrics.papers import paper_energy
from spikeforge.models.transformers import SpikeDrivenTransformer, Spikformer
from spikeforge.models.transformers.attention import SpikingSelfAttention, to_heads

B = 2


def _net(cls: type) -> nn.Module:
    torch.manual_seed(0)
    net = cls(embed_dim=16, depth=2, num_heads=2, mlp_ratio=2, img_size=8, T=2).eval()
    with torch.no_grad():  # strong weights so that every layer spikes
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.normal_(0, 5 / m.weight[0].numel() ** 0.5)
    return net


def _binary(x: Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


def _reach(n: int) -> Tensor:
    r = torch.full((n,), 3.0)
    r[0] -= 1
    r[-1] -= 1
    return r


def _hand(net: nn.Module, x: Tensor) -> dict[str, dict[str, float]]:
    """Per-sample counts per layer name from captured inputs."""
    seen: dict[str, list[Tensor]] = defaultdict(list)
    handles = []
    for name, m in net.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            handles.append(m.register_forward_pre_hook(lambda m, a, n=name: seen[n].append(a[0].detach())))
        if isinstance(m, SpikingSelfAttention):
            for part in ("q_lif", "k_lif", "v_lif", "attn_lif"):
                handles.append(getattr(m, part).register_forward_hook(
                    lambda m, a, o, n=f"{name}.{part}": seen[n].append(o.detach())))
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    out: dict[str, dict[str, float]] = {}
    for name, m in net.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            (xin,) = seen[name]
            c_out = m.weight.shape[0]
            if isinstance(m, nn.Linear) or m.kernel_size == (1, 1):
                eff = int((xin != 0).sum()) * c_out
                dense = xin.numel() * c_out
            else:
                assert m.kernel_size == (3, 3) and m.stride == (1, 1) and m.padding == (1, 1)
                h, w = xin.shape[-2:]
                reach = _reach(h)[:, None] * _reach(w)[None, :]  # [H, W]
                eff = int(((xin != 0).float() * reach).sum()) * c_out
                dense = xin.shape[0] * xin.shape[1] * c_out * (3 * h - 2) * (3 * w - 2)
            kind = "acs" if _binary(xin) else "macs"
            out[name] = {kind: eff / B, "dense": dense / B}
        if isinstance(m, SpikingSelfAttention):
            q, k, v = (to_heads(seen[f"{name}.{p}_lif"][0], m.num_heads) for p in "qkv")  # [T, B, h, N, d]
            assert _binary(q) and _binary(k) and _binary(v)
            n_tok, d = q.shape[-2:]
            heads = q.shape[0] * q.shape[1] * q.shape[2]
            if m.kind == "ssa":
                kv = k.transpose(-2, -1) @ v  # [T, B, h, d, d] integers
                eff = int(((k != 0).sum(-1) * (v != 0).sum(-1)).sum())  # Kᵀ V
                eff += int(((q != 0).float() * (kv != 0).sum(-1).unsqueeze(-2)).sum())  # Q (Kᵀ V)
                dense = heads * 2 * n_tok * d * d
                op = "matmul"
            else:
                kvs = seen[f"{name}.attn_lif"][0]  # [T, B, h, 1, d] spikes
                eff = int(((k != 0) & (v != 0)).sum()) + int(((q != 0) & (kvs != 0)).sum())
                dense = heads * 2 * n_tok * d
                op = "einsum"
            out[f"{name}:{op}"] = {"acs": eff / B, "dense": dense / B}
    return out


@pytest.mark.parametrize("cls", [Spikformer, SpikeDrivenTransformer])
def test_profile_counts_equal_hand_counts(cls: type) -> None:
    net = _net(cls)
    x = torch.rand(B, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    hand = _hand(net, x)
    with sf.metrics.profile(net) as prof:
        net(x)
    got = {n: c for n, c in prof.layers().items() if c.dense_ops}
    assert set(got) == set(hand)
    for name, h in hand.items():
        c = got[name]
        assert (c.eff_macs, c.eff_acs, c.dense_ops) == (h.get("macs", 0.0), h.get("acs", 0.0), h["dense"]), name
    attn = [n for n in hand if ":" in n]
    assert len(attn) == 2 and all(hand[n]["acs"] > 0 for n in attn)  # both blocks' attention active
    stem = "features.0.convs.0.body.module.0"
    assert hand[stem]["macs"] == hand[stem]["dense"] == 2 * 16 // 8 * 3 * 22 * 22  # T·C_out·C_in·(3H-2)²
    macs_after_stem = [n for n in hand if n != stem and "macs" in hand[n]]
    if cls is Spikformer:  # SEW sums reach q/k/v, fc1 and the head: integer, so MACs
        assert "features.1.attn.q.body.module.0" in macs_after_stem
    else:  # SDT: membrane shortcuts, every conv after the stem sees spikes
        assert macs_after_stem == []
    # papers' energy convention and STEP's memory term, from the same counts
    e = paper_energy(prof)
    macs = sum(h.get("macs", 0.0) for h in hand.values())
    acs = sum(h.get("acs", 0.0) for h in hand.values())
    assert (e["macs"], e["acs"]) == (macs, acs)
    assert e["compute_pj"] == pytest.approx(4.6 * macs + 0.9 * acs, rel=1e-12)
    assert e["memory_pj"] == pytest.approx(3.12 * e["bits_moved"], rel=1e-12) and e["weight_bits"] == 32
