"""``surrogate_alpha``: the config key that sets the surrogate's sharpness in every model built from a
config (the DCLS SHD recipe uses ATan with α = 5)."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.config import ConfigError, TrainConfig
from spikeforge.models import build_model
from spikeforge.neurons import LI


def _spiking_surrogates(model: torch.nn.Module) -> list[object]:
    return [m.surrogate for m in model.modules() if hasattr(m, "surrogate") and not isinstance(m, LI)]


@pytest.mark.parametrize("over", [dict(model="mlp", hidden=(8,)),
                                  dict(model="dcls", data="synthetic_shd", hidden=(8,), delay_taps=5),
                                  dict(model="sdt_tiny", data="dvs_gesture", steps=3)])
def test_every_spiking_neuron_gets_the_configured_alpha(over: dict[str, object]) -> None:
    cfg = TrainConfig(surrogate="atan", surrogate_alpha=5.0, **over)  # type: ignore[arg-type]
    surrogates = _spiking_surrogates(build_model(cfg))
    assert surrogates and all(getattr(s, "alpha", None) == 5.0 for s in surrogates)
    # the gradient is ATan's at α = 5, written out independently: (α/2) / (1 + (π/2 · α · x)²)
    x = torch.tensor([-0.3, 0.0, 0.2], dtype=torch.float64)
    want = [2.5 / (1 + (math.pi / 2 * 5.0 * v) ** 2) for v in x.tolist()]
    got = surrogates[0].grad(x)  # type: ignore[attr-defined]
    assert got.tolist() == pytest.approx(want, rel=1e-12)
    default = _spiking_surrogates(build_model(TrainConfig(surrogate="atan", **over)))  # type: ignore[arg-type]
    assert all(getattr(s, "alpha", None) == 2.0 for s in default)


def test_bad_surrogate_alpha_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="surrogate 'triangle' has no alpha; surrogates with one: atan"):
        TrainConfig(surrogate="triangle", surrogate_alpha=5.0)
    with pytest.raises(ConfigError, match="surrogate_alpha must be > 0"):
        TrainConfig(surrogate_alpha=0.0)
