"""``spikeforge profile``: the report function directly, and the command end to end."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from spikeforge.cli import cmd_profile
from spikeforge.neurons import LI, LIF


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Linear(5, 8), LIF(), nn.Linear(8, 3), LI())


def test_profile_report_writes_json_and_plot(tmp_path: Path) -> None:
    net = _net().train()
    text = cmd_profile.profile_report(net, torch.rand(4, 2, 5) * 3, json_path=tmp_path / "c.json",
                                      plot_path=tmp_path / "e.png", latency=True, compare_ann=True)
    assert net.training  # mode restored
    for needle in ("Effective_MACs", "footprint", "latency", "samples/s", "ANN vs SNN 45nm_fp32", "c.json", "e.png"):
        assert needle in text
    data = json.loads((tmp_path / "c.json").read_text())
    assert {"totals", "layers", "latency", "ann_vs_snn"} <= set(data)
    assert (tmp_path / "e.png").stat().st_size > 0


def test_register_adds_profile_command() -> None:
    parser = argparse.ArgumentParser()
    cmd_profile.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["profile", "ckpt.pt", "--samples", "4", "--latency"])
    assert args.func is cmd_profile._profile and args.samples == 4 and args.latency
    with pytest.raises(FileNotFoundError):
        args.func(args)


def test_profile_command_on_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spikeforge.config import TrainConfig
    from spikeforge.learning.snapshot import save_checkpoint

    cfg = TrainConfig(hidden=(16,), steps=4, out_dir=str(tmp_path))
    from spikeforge.models import build_model

    model = build_model(cfg)
    ckpt = save_checkpoint(tmp_path / "checkpoint.pt", model=model, epoch=0, config=cfg.to_dict())
    parser = argparse.ArgumentParser()
    cmd_profile.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["profile", str(ckpt), "--samples", "8"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "cost per sample (8 samples, T=4)" in out and "Effective_ACs" in out
