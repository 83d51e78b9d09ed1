"""The delay tasks' shipped YAML configs: each equals its Python preset field for field, unknown or
mistyped keys fail by name, and a tiny run works through each entry point's ``--config``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from spikeforge.config import ConfigError
from spikeforge.tasks.delays import motion, run
from spikeforge.tasks.delays._train import TrainConfig
from spikeforge.tasks.delays.motion import MotionConfig
from spikeforge.tasks.delays.run import PRESETS, DelayTaskConfig
from spikeforge.tasks.delays.yaml_config import load_task_config

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
CROSSING = replace(MotionConfig(), speed_range=(300.0, 450.0), merge_polarity=True)  # what motion --crossing runs


@pytest.mark.parametrize("name, cls, preset", [
    ("delays_xor.yaml", DelayTaskConfig, PRESETS["xor"]),
    ("delays_motif.yaml", DelayTaskConfig, PRESETS["motif"]),
    ("delays_motion.yaml", MotionConfig, MotionConfig()),
    ("delays_motion_crossing.yaml", MotionConfig, CROSSING),
])
def test_shipped_yaml_is_the_preset(name: str, cls: type, preset: object) -> None:
    path = CONFIGS / name
    assert load_task_config(path, cls) == preset
    raw = yaml.safe_load(path.read_text())  # every field the task uses is written out, none left to defaults
    unused = ({"channels", "n_motifs", "motif_len", "noise_rate", "jitter"} if name == "delays_xor.yaml"
              else {"delays"} if name == "delays_motif.yaml" else set())  # fields the task never reads
    assert set(cls.__dataclass_fields__) - set(raw) == unused
    assert set(raw["train"]) == set(TrainConfig.__dataclass_fields__)


def test_bad_keys_and_values_fail_by_name(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("task: xor\nhiden: 16\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['hiden'\]; valid keys: task, n_train"):
        load_task_config(f, DelayTaskConfig)
    f.write_text("task: xor\ntrain:\n  epoch: 3\n")
    with pytest.raises(ConfigError, match=r"train: unknown key\(s\) \['epoch'\]"):
        load_task_config(f, DelayTaskConfig)
    f.write_text("task: xor\nhidden: many\n")
    with pytest.raises(ConfigError, match="'hidden': cannot convert 'many'"):
        load_task_config(f, DelayTaskConfig)
    f.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping of key: value"):
        load_task_config(f, MotionConfig)
    with pytest.raises(ConfigError, match="does not exist"):
        load_task_config(tmp_path / "missing.yaml", MotionConfig)
    f.write_text("task: xnor\n")
    with pytest.raises(SystemExit):
        run.main(["--config", str(f), "--seeds", "1"])


def _tiny(src: str, dst: Path, **keys: object) -> Path:
    """The shipped file with a few keys overridden (sizes only), written to ``dst``."""
    raw = yaml.safe_load((CONFIGS / src).read_text())
    train = {**raw["train"], **keys.pop("train", {})}  # type: ignore[dict-item]
    dst.write_text(yaml.safe_dump({**raw, **keys, "train": train}))
    return dst


@pytest.mark.parametrize("src", ["delays_xor.yaml", "delays_motif.yaml"])
def test_tiny_run_from_yaml(src: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _tiny(src, tmp_path / "c.yaml", n_train=32, n_test=16, train={"epochs": 1, "batch": 16})
    out = tmp_path / "out.json"
    run.main(["--config", str(cfg), "--seeds", "1", "--kinds", "delay", "--json", str(out)])
    saved = json.loads(out.read_text())
    assert saved["config"]["task"] == yaml.safe_load(cfg.read_text())["task"]
    assert saved["config"]["n_train"] == 32 and saved["config"]["train"]["epochs"] == 1
    assert [r["kind"] for r in saved["rows"]] == ["delay"] and 0.0 <= saved["rows"][0]["test_accuracy"] <= 1.0
    assert "| delay |" in capsys.readouterr().out


def test_tiny_motion_run_from_yaml(tmp_path: Path) -> None:
    cfg = _tiny("delays_motion_crossing.yaml", tmp_path / "c.yaml", n_train=16, n_test=8, prune=[0.0, 0.5],
                train={"epochs": 1, "batch": 8})
    out = tmp_path / "out.json"
    motion.main(["--config", str(cfg), "--seeds", "1", "--json", str(out)])
    saved = json.loads(out.read_text())
    assert saved["config"]["merge_polarity"] is True and saved["config"]["speed_range"] == [300.0, 450.0]
    assert {(r["kind"], r["prune"]) for r in saved["rows"]} == {(k, p) for k in ("delay", "plain") for p in (0.0, 0.5)}
    with pytest.raises(SystemExit):  # the file says which variant; the preset flags would contradict it
        motion.main(["--config", str(cfg), "--crossing"])
