"""The ``attention`` config key: a sweep axis that reaches the zoo model, refused clearly elsewhere."""

from __future__ import annotations

import pytest

from spikeforge.config import ConfigError, TrainConfig
from spikeforge.models import build_model
from spikeforge.models.transformers.attention import SpikingSelfAttention


def _attn(model: str, attention: str | None) -> list[SpikingSelfAttention]:
    cfg = TrainConfig.from_dict({"model": model, "data": "moving_shape", "steps": 2, "attention": attention})
    return [m for m in build_model(cfg).modules() if isinstance(m, SpikingSelfAttention)]


@pytest.mark.parametrize("model,default", [("spikformer_tiny", "ssa"), ("sdt_tiny", "sdsa")])
def test_attention_kind_reaches_every_block(model: str, default: str) -> None:
    assert {a.kind for a in _attn(model, None)} == {default}
    for kind in ("ssa", "sdsa", "softmax"):
        blocks = _attn(model, kind)
        assert blocks and {a.kind for a in blocks} == {kind}
        assert all(p.requires_grad for a in blocks for p in a.parameters())


def test_random_qk_freezes_q_and_k_only() -> None:
    blocks = _attn("spikformer_tiny", "random_qk")
    assert blocks and {a.kind for a in blocks} == {"ssa"}  # the model's own attention
    for a in blocks:
        assert not any(p.requires_grad for p in (*a.q.parameters(), *a.k.parameters()))
        assert all(p.requires_grad for p in (*a.v.parameters(), *a.out.parameters()))


def test_attention_refused_with_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="attention='ssa' applies to zoo transformers only; model 'mlp'"):
        TrainConfig(model="mlp", attention="ssa")
    with pytest.raises(ConfigError, match="zoo model 'maxformer_tiny' .*has no attention option"):
        TrainConfig(model="maxformer_tiny", data="moving_shape", attention="ssa")
    with pytest.raises(ConfigError, match=r"attention must be one of \('ssa', 'sdsa', 'softmax', 'random_qk'\)"):
        TrainConfig(model="sdt_tiny", attention="linear")
    assert TrainConfig(model="mlp").attention is None  # unset: every model, as before
