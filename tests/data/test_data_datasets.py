"""Contract over every registered dataset: (x, y) shapes match the registry metadata.

File-based datasets get a tiny folder in their real layout; generated ones are built small. A newly
registered dataset fails here until it is given a builder below.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from _sf_data_helpers import AEDAT_HEADER, aedat_packet, atis_record, polarity_word, write_shd_like
from spikeforge.data import DATASETS, load_dataset, pad_collate


def _nmnist(root: Path) -> dict[str, Any]:
    for split in ("Train", "Test"):
        for digit in range(2):
            d = root / split / str(digit)
            d.mkdir(parents=True)
            (d / "a.bin").write_bytes(atis_record(1, 1, 1, 0) + atis_record(2, 2, 0, 12_000))
    return {"root": root}


def _gesture(root: Path) -> dict[str, Any]:
    for split, trial in (("train", "user01_led"), ("test", "user24_led")):
        recs = [(polarity_word(k, k, k % 2), 10_000 * k) for k in range(20)]
        (root / f"{trial}.aedat").write_bytes(AEDAT_HEADER + aedat_packet(1, recs))
        (root / f"{trial}_labels.csv").write_text("class,startTime_usec,endTime_usec\n1,0,100000\n5,100000,190001\n")
        (root / f"trials_to_{split}.txt").write_text(f"{trial}.aedat\n")
    return {"root": root}


def _h5(name: str) -> Callable[[Path], dict[str, Any]]:
    def build(root: Path) -> dict[str, Any]:
        for split in ("train", "test"):
            write_shd_like(root / f"{name}_{split}.h5", [[0.0, 0.02], [0.015]], [[1, 2], [699]], [0, 3])
        return {"root": root}
    return build


BUILDERS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "digits": lambda root: {}, "iris": lambda root: {}, "wine": lambda root: {},
    "shd": _h5("shd"), "ssc": _h5("ssc"), "nmnist": _nmnist, "dvs_gesture": _gesture,
    "neuromorse": lambda root: {},
    "moving_shape": lambda root: {"n_samples": 6},
    "synthetic_shd": lambda root: {"n_samples": 6},
    "delayed_cue": lambda root: {"n_samples": 6, "delay": 5},
    "mnist1d": lambda root: {"num_samples": 100},
    "mnist1d_seq": lambda root: {"num_samples": 100},
}


@pytest.mark.parametrize("name", DATASETS.names())
def test_dataset_contract(name: str, tmp_path: Path) -> None:
    if name in ("mnist1d", "mnist1d_seq"):
        pytest.importorskip("mnist1d")
    assert name in BUILDERS, f"registered dataset {name!r} has no test builder"
    meta = DATASETS.meta(name)
    assert meta["kind"] in ("static", "temporal") and meta["num_classes"] >= 2
    kwargs = BUILDERS[name](tmp_path)
    for split in ("train", "test"):
        ds = load_dataset(name, split, **kwargs)
        assert len(ds) >= 2
        items = [ds[i] for i in range(2)]
        for x, y in items:
            assert isinstance(x, torch.Tensor) and x.is_floating_point()
            assert y.dtype == torch.long and 0 <= int(y) < meta["num_classes"]
            feat = tuple(x.shape) if meta["kind"] == "static" else tuple(x.shape[1:])
            assert feat == tuple(meta["input_shape"])
        if meta["kind"] == "temporal":
            xs, ys, lengths = pad_collate(items)
            assert xs.shape[1] == 2 and xs.shape[2:] == tuple(meta["input_shape"])
        clone = pickle.loads(pickle.dumps(ds))  # DataLoader workers need picklable datasets
        torch.testing.assert_close(clone[0][0], items[0][0])


@pytest.mark.parametrize("name", ["moving_shape", "synthetic_shd", "delayed_cue"])
def test_generated_datasets_are_deterministic(name: str) -> None:
    a = load_dataset(name, "train", n_samples=4)
    b = load_dataset(name, "train", n_samples=4)
    c = load_dataset(name, "train", n_samples=4, seed=1)
    t = load_dataset(name, "test", n_samples=4)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(4))
    assert not all(torch.equal(a[i][0], c[i][0]) for i in range(4))
    assert not all(torch.equal(a[i][0], t[i][0]) for i in range(4))


def test_moving_shape_direction_is_visible_in_events() -> None:
    ds = load_dataset("moving_shape", "train", n_samples=12, noise_rate=0.0)
    for i in range(12):
        x, y = ds[i]
        on = x[:, 1]  # [T, H, W] ON events
        t = torch.arange(on.shape[0], dtype=torch.float32)
        w = on.sum((1, 2))
        keep = w > 0
        cx = (on.sum(1) * torch.arange(on.shape[2])).sum(1)[keep] / w[keep]
        cy = (on.sum(2) * torch.arange(on.shape[1])).sum(1)[keep] / w[keep]
        dx, dy = float(np.polyfit(t[keep], cx, 1)[0]), float(np.polyfit(t[keep], cy, 1)[0])
        heading = int(round(np.arctan2(dy, dx) / (np.pi / 2))) % 4  # 4 classes: +x, +y, -x, -y
        assert heading == int(y), i


def test_memory_tasks() -> None:
    from spikeforge.data.generators import adding_problem, delayed_cue
    x, target = adding_problem(8, 20, generator=torch.Generator().manual_seed(0))
    assert x.shape == (8, 20, 2) and torch.all(x[..., 1].sum(1) == 2)
    torch.testing.assert_close(target, (x[..., 0] * x[..., 1]).sum(1))
    x, y = delayed_cue(16, 3, cue_steps=4, delay=10, channels_per_class=2, noise_rate=0.0,
                       generator=torch.Generator().manual_seed(0))
    assert x.shape == (16, 15, 7) and torch.all(x[:, 4:-1] == 0) and torch.all(x[:, -1, -1] == 1)
    for i in range(16):
        active = x[i, :4, :6].sum(0).reshape(3, 2).sum(1)
        assert int(active.argmax()) == int(y[i]) or active.sum() == 0
    with pytest.raises(ValueError, match="steps >= 2"):
        adding_problem(1, 1)


def test_unknown_dataset_and_bad_split() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'nope'; valid names: .*neuromorse"):
        load_dataset("nope")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_dataset("neuromorse", "validation")
    with pytest.raises(ValueError, match="label must be 'direction' or 'speed'"):
        load_dataset("moving_shape", label="colour")


def test_mnist1d_has_no_side_effects_and_no_download(tmp_path, monkeypatch) -> None:
    pytest.importorskip("mnist1d")
    import random
    monkeypatch.chdir(tmp_path)
    np.random.seed(7)
    random.seed(7)
    before = (np.random.random(), random.random())
    np.random.seed(7)
    random.seed(7)
    ds = load_dataset("mnist1d", "train", num_samples=200, seed=3)
    assert (np.random.random(), random.random()) == before
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing downloaded
    assert len(ds) == 160 and float(ds.x.min()) >= 0 and float(ds.x.max()) <= 1
