"""Contract over every registered dataset: (x, y) shapes match the registry metadata.

Everything comes from the registry: the dataset names, their metadata (source, licence, expected
files), how to build a small instance (``example``) and, for file-based data, the on-disk
``layout``. Each layout has a writer below that makes a tiny folder in the real byte format,
independent of spikeforge's own writers; a dataset registered with a known layout is tested with no
edit here, and one with a new layout fails until that layout gets a writer.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch

from _sf_data_helpers import AEDAT_HEADER, aedat_packet, atis_record, polarity_word, write_shd_like
from spikeforge.data import DATASETS, load_dataset, pad_collate


def _shd_h5(root: Path, meta: dict[str, Any]) -> None:
    for name in meta["files"]:  # e.g. shd_train.h5, shd_test.h5
        write_shd_like(root / name, [[0.0, 0.02], [0.015]], [[1, 2], [699]], [0, meta["num_classes"] - 1])


def _nmnist_bin(root: Path, meta: dict[str, Any]) -> None:
    for pattern in meta["files"]:  # e.g. Train/<digit>/*.bin
        for digit in range(2):
            path = root / pattern.replace("<digit>", str(digit)).replace("*", "a")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(atis_record(1, 1, 1, 0) + atis_record(2, 2, 0, 12_000))


def _dvs_gesture_aedat(root: Path, meta: dict[str, Any]) -> None:
    for split, trial in (("train", "user01_led"), ("test", "user24_led")):
        recs = [(polarity_word(k, k, k % 2), 10_000 * k) for k in range(20)]
        (root / f"{trial}.aedat").write_bytes(AEDAT_HEADER + aedat_packet(1, recs))
        (root / f"{trial}_labels.csv").write_text("class,startTime_usec,endTime_usec\n1,0,100000\n5,100000,190001\n")
        (root / f"trials_to_{split}.txt").write_text(f"{trial}.aedat\n")


def _neuromorse_h5(root: Path, meta: dict[str, Any]) -> None:
    for pattern in meta["files"]:  # Train/<variant>.h5: the published training layout
        if not pattern.startswith("Train/"):
            continue
        path = root / pattern.replace("<variant>", "Clean")
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            vl = h5py.vlen_dtype(np.dtype("float64"))
            times = f.create_group("Spikes").create_dataset("Times", (2,), dtype=vl)
            chans = f["Spikes"].create_dataset("Channels", (2,), dtype=h5py.vlen_dtype(np.dtype("int32")))
            words = f.create_group("Labels").create_dataset("Labels", (2,), dtype=h5py.string_dtype())
            for i, (t, c, w) in enumerate([([0, 6], [0, 1], "a"), ([0, 6, 17], [1, 1, 0], "me")]):
                times[i], chans[i], words[i] = np.asarray(t, np.float64), np.asarray(c, np.int32), w


def _cifar_bin(root: Path, meta: dict[str, Any]) -> None:
    label_bytes = 2 if meta["num_classes"] == 100 else 1
    rng = np.random.default_rng(0)
    for pattern in meta["files"]:  # e.g. cifar-10-batches-bin/data_batch_{1..5}.bin
        names = [pattern.replace("{1..5}", str(k)) for k in range(1, 6)] if "{1..5}" in pattern else [pattern]
        for name in names:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            labels = [[k % 20, (7 * k) % meta["num_classes"]][:label_bytes] for k in range(3)]
            recs = [bytes(lab) + rng.integers(0, 256, 3072, np.uint8).tobytes() for lab in labels]
            path.write_bytes(b"".join(recs))


def _cifar10_dvs_aedat(root: Path, meta: dict[str, Any]) -> None:
    from spikeforge.data.datasets.cifar10_dvs import CIFAR10_CLASSES
    for name in CIFAR10_CLASSES:
        (root / name).mkdir()
        for k in range(2):  # big-endian (address, µs) pairs after a '#' header
            body = b"".join(struct.pack(">II", (j << 8) | (j << 1) | (j % 2), 1000 * j) for j in range(20))
            (root / name / f"cifar10_{name}_{k}.aedat").write_bytes(b"#!AER-DAT2.0\r\n" + body)


def _imagenet_folder(root: Path, meta: dict[str, Any]) -> None:
    from PIL import Image
    for sub in ("train", "val"):
        for wnid in ("n01440764", "n01443537"):
            (root / sub / wnid).mkdir(parents=True)
            for k in range(2):
                Image.new("RGB", (300, 250), (40 * k, 100, 200)).save(root / sub / wnid / f"img_{k}.JPEG")


LAYOUT_WRITERS: dict[str, Callable[[Path, dict[str, Any]], None]] = {
    "shd_h5": _shd_h5, "nmnist_bin": _nmnist_bin, "dvs_gesture_aedat": _dvs_gesture_aedat,
    "neuromorse_h5": _neuromorse_h5, "cifar10_bin": _cifar_bin, "cifar100_bin": _cifar_bin,
    "cifar10_dvs_aedat": _cifar10_dvs_aedat, "imagenet_folder": _imagenet_folder,
}


def _configs(name: str) -> list[tuple[str, Any]]:
    """(id, name) pairs: every dataset from its files (if it has a layout) and offline (if it can)."""
    meta = DATASETS.meta(name)
    out = [(f"{name}-files", name)] if meta.get("layout") else []
    if meta.get("offline"):
        out.append((f"{name}-offline", name))
    return out or [(f"{name}-unbuildable", name)]


CASES = [c for n in DATASETS.names() for c in _configs(n)]


@pytest.mark.parametrize("case,name", CASES, ids=[c for c, _ in CASES])
def test_dataset_contract(case: str, name: str, tmp_path: Path) -> None:
    meta = DATASETS.meta(name)
    for package in meta.get("requires", ()):
        pytest.importorskip(package)
    for key in ("kind", "num_classes", "input_shape", "source", "license", "files", "offline"):
        assert key in meta, f"dataset {name!r} is registered without {key!r}"
    assert meta["kind"] in ("static", "temporal") and meta["num_classes"] >= 2
    assert meta["offline"] or meta["files"], f"{name}: a dataset that needs files must list them"
    assert not case.endswith("unbuildable"), f"{name}: neither offline nor a file layout"
    kwargs = dict(meta.get("example", {}))
    if case.endswith("-files"):
        layout = meta["layout"]
        assert layout in LAYOUT_WRITERS, f"{name}: no test writer for layout {layout!r} in {__file__}"
        LAYOUT_WRITERS[layout](tmp_path, meta)
        kwargs["root"] = tmp_path
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
