"""The shipped SHD DCLS config: parameter count (check 15), loss, σ schedule, optimizer, validation
split, and an end-to-end run on a tiny file in the real SHD layout."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from spikeforge.config import ConfigError, load_config
from spikeforge.experiment import make_split_loaders, run_training
from spikeforge.layers import DelayLinear
from spikeforge.learning.losses import ce_softmax_sum_loss
from spikeforge.models import build_model
from spikeforge.models.dcls import delay_optimizer, set_delay_sigma
from spikeforge.neurons import LIF
from spikeforge.surrogate import ATan

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "shd_dcls.yaml"


def test_shipped_config_builds_the_214016_parameter_model() -> None:
    cfg = load_config(CONFIG)
    model = build_model(cfg)
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # reference §2.1 (computed there): 106,496 weights + 106,496 positions + 1,024 BatchNorm
    assert n == 214_016
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, DelayLinear))
    assert weights == 140 * 256 + 256 * 256 + 256 * 20
    assert [m.K for m in model.modules() if isinstance(m, DelayLinear)] == [25, 25, 25]
    assert (cfg.val_fraction, cfg.data) == (0.2, "shd")
    lifs = [m for m in model.modules() if isinstance(m, LIF)]
    assert len(lifs) == 2 and all(m.surrogate == ATan(alpha=5.0) for m in lifs)  # the reference's ATan(5)
    out = model(torch.rand(7, 2, 700))
    assert out.shape == (7, 2, 20)


def test_ce_softmax_sum_matches_float64_formula() -> None:
    g = torch.Generator().manual_seed(0)
    v = torch.randn(6, 4, 5, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 4, 2, 2])
    s = v.exp() / v.exp().sum(-1, keepdim=True)  # softmax by hand
    logits = s.sum(0)  # [B, C]
    want = np.mean([math.log(sum(math.exp(x) for x in row)) - row[c] for row, c in zip(logits.tolist(), y.tolist())])
    assert ce_softmax_sum_loss(v, y).item() == pytest.approx(want, rel=1e-12)


def test_sigma_schedule_over_epochs() -> None:
    layer = torch.nn.Sequential(DelayLinear(3, 2, K=25))
    seen = []
    for e in range(10):  # decay over epochs // 4 = 2 epochs: 12 -> sqrt(12 * 0.23) -> 0.23, then constant
        set_delay_sigma(layer, e, 10)
        seen.append(float(layer[0].sig))
    assert seen[0] == pytest.approx(12.0)
    assert seen[1] == pytest.approx(math.sqrt(12 * 0.23))
    assert seen[2:] == pytest.approx([0.23] * 8)


def test_delay_optimizer_groups_and_clamp() -> None:
    model = torch.nn.Sequential(DelayLinear(3, 2, K=5), torch.nn.Linear(2, 2))
    opt = delay_optimizer(model, lr=1e-3, lr_positions=0.5, weight_decay=1e-5)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 0.5]
    assert opt.param_groups[1]["params"][0] is model[0].positions
    assert opt.param_groups[1]["weight_decay"] == 0.0
    with torch.no_grad():
        model[0].positions.fill_(1.9)  # range is [-2, 2]
    model[0].positions.grad = -torch.ones_like(model[0].positions)  # Adam moves each by +0.5
    opt.step()
    assert float(model[0].positions.detach().max()) == 2.0


def test_validation_split_is_held_out_of_training() -> None:
    cfg = load_config(None, ["data=synthetic_shd", "model=dcls", "hidden=8", "val_fraction=0.25", "batch_size=1000"])
    train, val, test, _ = make_split_loaders(cfg)
    assert val is not None
    tr, va = set(train.dataset.indices), set(val.dataset.indices)  # type: ignore[attr-defined]
    assert not tr & va and len(va) == 100 and len(tr | va) == 400
    assert len(test.dataset) == 400 and not hasattr(test.dataset, "indices")  # the test split, untouched
    with pytest.raises(ConfigError, match="val_fraction"):
        load_config(None, ["val_fraction=1.0"])


def _write_shd(path: Path, n: int, seed: int) -> None:
    """The SHD HDF5 layout: spikes/times (vlen float32, s), spikes/units (vlen uint16), labels (uint16)."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        g = f.create_group("spikes")
        times = g.create_dataset("times", (n,), dtype=h5py.vlen_dtype(np.float32))
        units = g.create_dataset("units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(n):
            k = int(rng.integers(5, 30))
            times[i] = np.sort(rng.uniform(0, 0.08, k)).astype(np.float32)
            units[i] = rng.integers(0, 700, k).astype(np.uint16)
        f.create_dataset("labels", data=(np.arange(n) % 20).astype(np.uint16))


def test_recipe_runs_on_files_in_the_real_shd_format(tmp_path: Path) -> None:
    for split, n in (("train", 8), ("test", 4)):
        _write_shd(tmp_path / f"shd_{split}.h5", n, seed=n)
    cfg = load_config(CONFIG, [f"root={tmp_path}", f"out_dir={tmp_path / 'run'}", "hidden=16,16",
                               "epochs=2", "batch_size=4", "val_fraction=0.25", "progress=false"])
    report = run_training(cfg, plots=False)
    assert report.val_accuracy is not None and 0.0 <= report.val_accuracy <= 1.0
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["val_accuracy"] == report.val_accuracy
    assert all("val_accuracy" in row for row in saved["history"])


def test_spikeforge_train_runs_the_shipped_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``spikeforge train --config configs/shd_dcls.yaml --root DIR`` end to end through the command line
    (tiny SHD-format files; sizes and epochs overridden, every other key from the shipped file)."""
    from spikeforge.cli.__main__ import main

    for split, n in (("train", 8), ("test", 4)):
        _write_shd(tmp_path / f"shd_{split}.h5", n, seed=n)
    argv = ["train", "--config", str(CONFIG), "--root", str(tmp_path), "--out", str(tmp_path / "run"),
            "--set", "hidden=16,16", "--set", "epochs=1", "--set", "batch_size=4", "--set", "progress=false",
            "--fresh", "--no-plots"]
    assert main(argv) == 0
    assert "test accuracy" in capsys.readouterr().out
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    shipped = load_config(CONFIG)
    for key in ("model", "data", "delay_taps", "channel_pool", "loss", "lr_positions", "val_fraction", "tau_mem"):
        assert saved["config"][key] == getattr(shipped, key), key
    assert saved["val_accuracy"] is not None  # 20 % of the 8 training samples held out


@pytest.mark.parametrize("neuron", ["alif", "ilif"])
def test_config_neuron_replaces_the_recipes_lif(neuron: str) -> None:
    """``neuron=`` is honoured by dcls (it was silently ignored: always the recipe's LIF)."""
    from dataclasses import replace

    from spikeforge.neurons import NEURONS

    cfg = replace(load_config(CONFIG), neuron=neuron, reset="subtract", hidden=[16, 8], channel_pool=5, delay_taps=3)
    model = build_model(cfg)
    cls = NEURONS.get(neuron)
    hidden = [m for m in model.modules() if isinstance(m, cls)]
    assert len(hidden) == 2 and not any(type(m) is LIF for m in model.modules())
    xs = torch.rand(6, 2, 700, requires_grad=True)  # [T, B, F]
    out = model(xs)
    assert out.shape == (6, 2, 20)
    out.sum().backward()
    assert xs.grad is not None and bool(torch.isfinite(xs.grad).all())
