"""Meta-SpikeFormer's SDSA variants. Only SDSA-3 (``SN_0.5(Q (Kᵀ V) · 0.125)``) exists in the
released code (reference section 4, **[code]**); the paper's SDSA-1 … SDSA-4 table is marked
**[unverified]** in the reference (from memory of the paper, not re-checked). So SDSA-3 is
checked against a float64 product written out here, while the table's other rows are not used
as an oracle: SDSA-1 = ``kind="sdsa"`` and SDSA-2 = the SSA product are readings of that
unverified table, and SDSA-4 is refused with an error that says it is unverified."""

from __future__ import annotations

import pytest
import torch

from spikeforge.models import create_model
from spikeforge.models.transformers import MetaSpikeFormer, RepConvBN, SpikingSelfAttention, make_neuron


def test_meta_spikeformer_uses_the_released_sdsa3():
    # the tiny member defaults to s = 4 (1-4 tokens; test_meta_tiny_attention_alive.py); released s = 0.125
    net = create_model("meta_spikeformer_tiny", scale=0.125)
    attns = [m for m in net.modules() if isinstance(m, SpikingSelfAttention)]
    assert len(attns) == 2
    for a in attns:
        assert (a.kind, a.scale, a.shortcut) == ("ssa", 0.125, "ms")
        assert all(isinstance(p, RepConvBN) for p in (a.q, a.k, a.v, a.out))
    torch.manual_seed(0)
    T, B, h, N, d = 1, 2, 4, 9, 16
    q, k, v = ((torch.rand(T, B, h, N, d, dtype=torch.float64) < 0.4).double() for _ in range(3))
    by_hand = torch.einsum("tbhnd,tbhde->tbhne", q, torch.einsum("tbhnd,tbhne->tbhde", k, v)) * 0.125
    expected = make_neuron("lif", "sigmoid", v_th=0.5).double()(by_hand)  # a fresh threshold-0.5 neuron
    got = attns[0].double().attend(q, k, v)
    assert torch.equal(got, expected) and 0 < float(got.mean()) < 1


@pytest.mark.parametrize("kind", ["sdsa4", "SDSA-4", "sdsa_4"])
def test_sdsa4_is_refused_as_unverified(kind):
    with pytest.raises(ValueError, match="SDSA-4 .*unverified"):
        SpikingSelfAttention(16, 2, kind=kind)
    with pytest.raises(ValueError, match="unverified"):
        MetaSpikeFormer(embed_dims=(8, 16, 32, 32), depths=(1, 1), num_heads=2, img_size=32, attention=kind)
