"""CIFAR binary, CIFAR10-DVS (AEDAT 2.0) and ImageNet-folder readers on files written by hand here."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from spikeforge.data import load_dataset
from spikeforge.data.formats._errors import FormatError
from spikeforge.data.formats.aedat2 import decode_aedat2_dvs128, encode_aedat2_dvs128


def _cifar10_files(root: Path, records: list[tuple[int, np.ndarray]]) -> None:
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    blob = b"".join(bytes([y]) + img.tobytes() for y, img in records)
    for k in range(1, 6):
        (folder / f"data_batch_{k}.bin").write_bytes(blob if k == 1 else b"")
    (folder / "test_batch.bin").write_bytes(blob)


def test_cifar10_pixel_order_and_labels(tmp_path: Path) -> None:
    img = np.zeros(3072, np.uint8)
    img[0] = 255          # red plane, row 0, column 0
    img[1024 + 33] = 51   # green plane, row 1, column 1
    img[2048 + 1023] = 102  # blue plane, row 31, column 31
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    blob = bytes([3]) + img.tobytes() + bytes([9]) + np.full(3072, 255, np.uint8).tobytes()
    for k in range(1, 6):
        (folder / f"data_batch_{k}.bin").write_bytes(blob)
    (folder / "test_batch.bin").write_bytes(blob[: 3073])
    train = load_dataset("cifar10", "train", root=tmp_path)
    assert len(train) == 10 and len(load_dataset("cifar10", "test", root=tmp_path)) == 1
    x, y = train[0]
    assert int(y) == 3 and x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert x[0, 0, 0] == 1.0 and x[1, 1, 1] == pytest.approx(0.2) and x[2, 31, 31] == pytest.approx(0.4)
    assert float(x.sum()) == pytest.approx(1.0 + 0.2 + 0.4)
    assert int(train[9][1]) == 9 and int(train[-1][1]) == 9 and float(train[9][0].min()) == 1.0


def test_cifar100_fine_and_coarse_labels(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    blob = bytes([7, 42]) + bytes(3072) + bytes([19, 99]) + bytes(3072)
    (folder / "train.bin").write_bytes(blob)
    (folder / "test.bin").write_bytes(blob)
    fine = load_dataset("cifar100", "train", root=tmp_path)
    coarse = load_dataset("cifar100", "train", root=tmp_path, label="coarse")
    assert [int(fine[i][1]) for i in range(2)] == [42, 99]
    assert [int(coarse[i][1]) for i in range(2)] == [7, 19]
    with pytest.raises(ValueError, match="coarse"):
        load_dataset("cifar10", "train", root=tmp_path, label="coarse")


def test_cifar_bad_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data_batch_1.bin"):
        load_dataset("cifar10", "train", root=tmp_path)
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    (folder / "train.bin").write_bytes(bytes(3074 + 10))  # truncated second record
    (folder / "test.bin").write_bytes(bytes([0, 100]) + bytes(3072))  # fine label 100 is out of range
    with pytest.raises(FormatError, match="whole number"):
        load_dataset("cifar100", "train", root=tmp_path)
    with pytest.raises(FormatError, match="label 100"):
        load_dataset("cifar100", "test", root=tmp_path)[0]


def _aedat2(pairs: list[tuple[int, int]], header: bytes = b"#!AER-DAT2.0\r\n# created by hand\r\n") -> bytes:
    return header + b"".join(struct.pack(">II", a, t) for a, t in pairs)


def test_aedat2_address_bits_by_hand() -> None:
    # address = y << 8 | x << 1 | p; bit 15 marks an external event (dropped)
    pairs = [((5 << 8) | (3 << 1) | 1, 10), ((127 << 8) | (0 << 1) | 0, 20), ((1 << 15) | 7, 25),
             ((0 << 8) | (127 << 1), 30)]
    ev = decode_aedat2_dvs128(_aedat2(pairs))
    assert ev.t.tolist() == [10, 20, 30]
    assert ev.x.tolist() == [3, 0, 127] and ev.y.tolist() == [5, 127, 0] and ev.p.tolist() == [1, 0, 0]
    assert ev.sensor_size == (128, 128, 2)
    again = decode_aedat2_dvs128(encode_aedat2_dvs128(ev))
    assert again.t.tolist() == ev.t.tolist() and again.x.tolist() == ev.x.tolist() and again.y.tolist() == ev.y.tolist()
    assert decode_aedat2_dvs128(_aedat2(pairs, header=b"")).t.tolist() == [10, 20, 30]  # header is optional


def test_aedat2_rejects_other_versions_and_truncation() -> None:
    with pytest.raises(FormatError, match="3.1.*read_aedat31"):
        decode_aedat2_dvs128(b"#!AER-DAT3.1\r\n#!END-HEADER\r\n")
    with pytest.raises(FormatError, match="whole number"):
        decode_aedat2_dvs128(_aedat2([(0, 1)])[:-3])


def test_cifar10_dvs_split_and_orientation(tmp_path: Path) -> None:
    from spikeforge.data.datasets.cifar10_dvs import CIFAR10_CLASSES
    for c, name in enumerate(CIFAR10_CLASSES):
        (tmp_path / name).mkdir()
        for k in (0, 1, 2, 3, 10):  # numeric order: 0 1 2 3 10 (not the string order 0 1 10 2 3)
            # one event at raw (x=k, y=c, p=1), time = k µs
            (tmp_path / name / f"cifar10_{name}_{k}.aedat").write_bytes(_aedat2([((c << 8) | (k << 1) | 1, k)]))
    train = load_dataset("cifar10_dvs", "train", root=tmp_path, train_fraction=0.6, raw=True)
    test = load_dataset("cifar10_dvs", "test", root=tmp_path, train_fraction=0.6, raw=True)
    assert len(train) == 30 and len(test) == 20  # ceil(5 · 0.6) = 3 per class
    ev, y = test[1]  # class 0, file k = 10
    assert int(y) == 0 and ev.t.tolist() == [10]
    assert (ev.x.tolist(), ev.y.tolist(), ev.p.tolist()) == ([127 - 0], [127 - 10], [0])  # transposed, flipped
    assert [int(train[i][1]) for i in range(0, 30, 3)] == list(range(10))
    frames, _ = load_dataset("cifar10_dvs", "test", root=tmp_path, train_fraction=0.6)[1]
    assert frames.shape[1:] == (2, 128, 128) and frames[:, 0, 117, 127].sum() == 1


def test_imagenet_folder_crop_and_classes(tmp_path: Path) -> None:
    from PIL import Image
    for sub in ("train", "val"):
        for wnid in ("n02", "n01"):
            (tmp_path / sub / wnid).mkdir(parents=True)
    # 64 × 32 image: left half red, right half blue; shorter side -> 16, then a centre crop of 16
    arr = np.zeros((32, 64, 3), np.uint8)
    arr[:, :32, 0] = 255
    arr[:, 32:, 2] = 255
    Image.fromarray(arr).save(tmp_path / "val" / "n02" / "a.png")
    Image.fromarray(arr).save(tmp_path / "train" / "n01" / "b.png")
    (tmp_path / "train" / "n01" / "notes.txt").write_text("not an image")
    ds = load_dataset("imagenet", "test", root=tmp_path, img_size=16, resize=16)
    assert len(ds) == 1
    x, y = ds[0]
    assert int(y) == 1  # classes are the sorted train folders: n01 -> 0, n02 -> 1
    assert x.shape == (3, 16, 16)
    assert float(x[0, :, :7].min()) > 0.95 and float(x[2, :, 9:].min()) > 0.95  # crop keeps both halves
    assert len(load_dataset("imagenet", "train", root=tmp_path, img_size=16)) == 1
    (tmp_path / "val" / "n99").mkdir()
    with pytest.raises(FormatError, match="n99"):
        load_dataset("imagenet", "test", root=tmp_path, img_size=16)
    (tmp_path / "train" / "n01" / "bad.jpeg").write_bytes(b"not a jpeg")
    train = load_dataset("imagenet", "train", root=tmp_path, img_size=16)
    bad = [p.name for p, _ in train.files].index("bad.jpeg")
    with pytest.raises(FormatError, match="bad.jpeg"):
        train[bad]
