"""Real-format loaders on files written in the real byte layout, and parser fuzzing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _sf_data_helpers import AEDAT_HEADER, aedat_packet, atis_record, polarity_word, write_shd_like
from spikeforge.data import FormatError, load_dataset, make_events
from spikeforge.data.formats import (
    SpikeH5Reader, decode_aedat31, decode_atis_bytes, encode_aedat31, encode_atis_bytes, read_atis_bin, write_shd_h5,
)
from spikeforge.data.formats.hdf5_spikes import read_neuromorse_words_h5, write_neuromorse_words_h5

# ---------------------------------------------------------------- N-MNIST (ATIS 40-bit events)


def test_atis_decode_hand_made_bytes() -> None:
    data = atis_record(1, 2, 1, 0x012345) + atis_record(33, 0, 0, 0x7FFFFF)
    ev = decode_atis_bytes(data)
    assert ev.t.tolist() == [0x012345, 0x7FFFFF]
    assert ev.x.tolist() == [1, 33] and ev.y.tolist() == [2, 0] and ev.p.tolist() == [1, 0]
    assert ev.sensor_size == (34, 34, 2) and ev.time_unit == 1e-6
    assert encode_atis_bytes(ev) == data


def test_atis_truncated_and_out_of_range() -> None:
    data = atis_record(1, 2, 1, 10) + atis_record(3, 4, 0, 20)
    with pytest.raises(FormatError, match="not a whole number of 5-byte ATIS events"):
        decode_atis_bytes(data[:-2])
    with pytest.raises(FormatError, match=r"events.x must lie in \[0, 34\)"):
        decode_atis_bytes(atis_record(40, 2, 1, 10))
    with pytest.raises(FormatError, match="not sorted"):
        decode_atis_bytes(atis_record(1, 1, 1, 20) + atis_record(1, 1, 1, 10))


def test_nmnist_loader_on_folder(tmp_path) -> None:
    for split in ("Train", "Test"):
        for digit in (3, 7):
            d = tmp_path / split / str(digit)
            d.mkdir(parents=True)
            (d / "00001.bin").write_bytes(atis_record(digit, 5, 1, 1000) + atis_record(0, 0, 0, 25_000))
    ds = load_dataset("nmnist", "train", root=tmp_path)
    assert len(ds) == 2
    x, y = ds[1]
    assert int(y) == 7 and x.shape == (3, 2, 34, 34)  # 10 ms bins up to 25 ms
    assert x[0, 1, 5, 7] == 1 and x[2, 0, 0, 0] == 1 and x.sum() == 2
    raw = load_dataset("nmnist", "test", root=tmp_path, raw=True)
    assert raw[0][0].t.tolist() == [1000, 25_000]
    with pytest.raises(FileNotFoundError, match=r"nmnist: missing Train/<digit>/\*.bin.*Orchard"):
        load_dataset("nmnist", "train", root=tmp_path / "nowhere")


def test_fuzz_atis_random_bytes() -> None:
    rng = np.random.default_rng(0)
    valid = 0
    for _ in range(400):
        data = rng.integers(0, 256, int(rng.integers(0, 60)), dtype=np.uint8).tobytes()
        try:
            ev = decode_atis_bytes(data)
        except FormatError:
            continue
        valid += 1
        assert len(data) % 5 == 0 and (len(ev) == 0 or ev.x.max() < 34)
    assert 0 < valid < 400  # some random inputs are valid events, most are not
    # a reader that rejects everything would pass the loop: a valid file must still parse exactly
    ev = decode_atis_bytes(atis_record(3, 4, 1, 70_000) + atis_record(33, 33, 0, 70_001))
    assert ev.t.tolist() == [70_000, 70_001] and ev.x.tolist() == [3, 33] and ev.p.tolist() == [1, 0]


def test_read_atis_file(tmp_path) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(atis_record(1, 1, 1, 5) + b"\x00")
    with pytest.raises(FormatError, match=str(p)):
        read_atis_bin(p)


# ---------------------------------------------------------------- DVS128 Gesture (AEDAT 3.1)


def _gesture_file() -> bytes:
    special = aedat_packet(0, [(0x1234, 0)])  # a special-event packet: skipped
    pol1 = aedat_packet(1, [(polarity_word(10, 20, 1), 100), (polarity_word(127, 0, 0), 150),
                            (polarity_word(5, 5, 1, valid=0), 160)])  # last one invalid: dropped
    pol2 = aedat_packet(1, [(polarity_word(1, 2, 0), 5)], overflow=1)  # t = 5 + 2**31
    return AEDAT_HEADER + special + pol1 + pol2


def test_aedat_decode_hand_made_file() -> None:
    header, ev = decode_aedat31(_gesture_file())
    assert header["Format"] == "RAW" and header["Source 1"] == "DVS128"
    assert ev.t.tolist() == [100, 150, 5 + 2**31]
    assert ev.x.tolist() == [10, 127, 1] and ev.y.tolist() == [20, 0, 2] and ev.p.tolist() == [1, 0, 0]
    assert ev.sensor_size == (128, 128, 2)
    # our writer produces bytes the reader (and the layout above) agree on
    ev2 = make_events([1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 0, 1], sensor_size=(128, 128, 2))
    assert decode_aedat31(encode_aedat31(ev2, packet_events=2))[1].x.tolist() == [4, 5, 6]


@pytest.mark.parametrize("mutate,match", [
    (lambda b: b.replace(b"#!AER-DAT3.1", b"#!AER-DAT2.0"), "not an AEDAT 3.1 file"),
    (lambda b: b.replace(b"#!END-HEADER\r\n", b""), "no '#!END-HEADER'"),
    (lambda b: b[:-3], "truncated"),
    (lambda b: b[: len(AEDAT_HEADER) + 10], "truncated packet header"),
])
def test_aedat_corrupt(mutate, match: str) -> None:
    with pytest.raises(FormatError, match=match):
        decode_aedat31(mutate(_gesture_file()))


def test_aedat_wrong_event_size_and_coordinates() -> None:
    bad_size = AEDAT_HEADER + aedat_packet(1, [(polarity_word(1, 1, 1), 1)], size=8, ts_offset=0)
    with pytest.raises(FormatError, match="polarity packet with eventSize"):
        decode_aedat31(bad_size)
    outside = AEDAT_HEADER + aedat_packet(1, [(polarity_word(200, 1, 1), 1)])
    with pytest.raises(FormatError, match=r"events.x must lie in \[0, 128\)"):
        decode_aedat31(outside)


def test_fuzz_aedat_random_and_truncated() -> None:
    rng = np.random.default_rng(1)
    good = _gesture_file()
    for _ in range(300):
        body = rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8).tobytes()
        for data in (body, AEDAT_HEADER + body):
            try:
                decode_aedat31(data)
            except FormatError:
                pass
    parsed = 0
    for cut in range(len(good)):
        try:
            _, ev = decode_aedat31(good[:cut])
        except FormatError:
            continue
        parsed += 1
        assert len(ev) <= 3  # only whole packets can parse
    assert parsed == 3  # cut after the header, after the special packet, after the first polarity packet
    header, ev = decode_aedat31(good)  # the untouched file still parses, with every event
    assert header["Source 1"] == "DVS128" and ev.t.tolist() == [100, 150, 5 + 2**31]


def test_dvs_gesture_loader(tmp_path) -> None:
    records = [(polarity_word(x % 128, (3 * x) % 128, x % 2), 1000 * x) for x in range(40)]
    (tmp_path / "user01_led.aedat").write_bytes(AEDAT_HEADER + aedat_packet(1, records))
    (tmp_path / "user01_led_labels.csv").write_text(
        "class,startTime_usec,endTime_usec\n3,5000,15000\n11,20000,39001\n")
    (tmp_path / "trials_to_train.txt").write_text("user01_led.aedat\n")
    ds = load_dataset("dvs_gesture", "train", root=tmp_path, transform=None, raw=True)
    assert len(ds) == 2
    ev0, y0 = ds[0]
    assert int(y0) == 2 and ev0.t.tolist() == [1000 * k for k in range(10)]
    ev1, y1 = ds[1]
    assert int(y1) == 10 and len(ev1) == 20
    frames = load_dataset("dvs_gesture", "train", root=tmp_path)[0][0]
    assert frames.shape == (1, 2, 128, 128) and frames.sum() == 10
    with pytest.raises(FileNotFoundError, match="trials_to_test.txt.*IBM"):
        load_dataset("dvs_gesture", "test", root=tmp_path)
    (tmp_path / "user01_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n12,0,1\n")
    with pytest.raises(FormatError, match="class must be 1–11"):
        load_dataset("dvs_gesture", "train", root=tmp_path)


# ---------------------------------------------------------------- SHD / SSC (HDF5)


def test_shd_loader_on_real_layout(tmp_path) -> None:
    write_shd_like(tmp_path / "shd_train.h5", [[0.0, 0.0105, 0.031], [0.5]], [[0, 699, 3], [7]], [4, 19])
    ds = load_dataset("shd", "train", root=tmp_path)
    assert len(ds) == 2
    x, y = ds[0]
    assert int(y) == 4 and x.shape == (4, 700)  # 10 ms bins up to 31 ms
    assert x[0, 0] == 1 and x[1, 699] == 1 and x[3, 3] == 1 and x.sum() == 3
    fixed = load_dataset("shd", "train", root=tmp_path, max_time=1.0)
    assert fixed[1][0].shape == (100, 700)
    write_shd_h5(tmp_path / "ssc_valid.h5", [np.array([0.2])], [np.array([1])], [34])
    from spikeforge.data.datasets.shd import ssc
    assert int(ssc("valid", tmp_path)[0][1]) == 34


def test_shd_missing_and_corrupt(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"shd: missing shd_test.h5.*zenkelab"):
        load_dataset("shd", "test", root=tmp_path)
    (tmp_path / "shd_test.h5").write_bytes(b"\x89HDF\r\n" + bytes(range(200)))
    with pytest.raises(FormatError, match="not a readable HDF5 file"):
        load_dataset("shd", "test", root=tmp_path)
    import h5py
    with h5py.File(tmp_path / "shd_train.h5", "w") as f:
        f.create_dataset("labels", data=np.zeros(2, np.uint16))
    with pytest.raises(FormatError, match="missing dataset 'spikes/times'"):
        load_dataset("shd", "train", root=tmp_path)
    write_shd_like(tmp_path / "ssc_train.h5", [[0.1]], [[800]], [1])
    with pytest.raises(FormatError, match=r"events.x must lie in \[0, 700\)"):
        load_dataset("ssc", "train", root=tmp_path)[0]


def test_fuzz_hdf5_readers(tmp_path) -> None:
    rng = np.random.default_rng(2)
    write_shd_like(tmp_path / "good.h5", [[0.1, 0.2]], [[1, 2]], [1])
    good = (tmp_path / "good.h5").read_bytes()
    for k in range(25):
        p = tmp_path / f"f{k}.h5"
        if k % 2:
            p.write_bytes(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
        else:
            p.write_bytes(good[: int(rng.integers(0, len(good)))])
        for reader in (lambda q: SpikeH5Reader(q)[0], read_neuromorse_words_h5):
            try:
                reader(p)
            except FormatError:
                pass
    # the valid files still parse after the loop, to the values written
    ev, label = SpikeH5Reader(tmp_path / "good.h5", num_classes=20)[0]
    assert ev.t.tolist() == [100_000, 200_000] and ev.x.tolist() == [1, 2] and label == 1
    write_neuromorse_words_h5(tmp_path / "nm.h5", [(make_events([0, 6], [0, 1], sensor_size=(2,), time_unit=None),
                                                    "a")])
    [(nm, word)] = read_neuromorse_words_h5(tmp_path / "nm.h5")
    assert word == "a" and nm.t.tolist() == [0, 6] and nm.x.tolist() == [0, 1]


def test_reader_pickles_for_workers(tmp_path) -> None:
    import pickle
    write_shd_like(tmp_path / "shd_train.h5", [[0.1]], [[5]], [2])
    r = SpikeH5Reader(tmp_path / "shd_train.h5")
    r[0]  # opens the file handle
    clone = pickle.loads(pickle.dumps(r))
    assert clone[0][1] == 2 and torch.equal(torch.as_tensor(clone[0][0].x), torch.tensor([5]))


def test_shd_multiworker_fork_loader(tmp_path) -> None:
    from torch.utils.data import DataLoader

    from spikeforge.data import pad_collate
    write_shd_like(tmp_path / "shd_train.h5", [[0.01 * k] for k in range(1, 9)], [[k] for k in range(8)],
                   list(range(8)))
    ds = load_dataset("shd", "train", root=tmp_path)
    ds[0]  # the parent opens a handle before the workers fork
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=pad_collate,
                        multiprocessing_context="fork")
    labels = torch.cat([ys for _, ys, _ in loader])
    assert labels.tolist() == list(range(8))
