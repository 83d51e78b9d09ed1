"""``spikeforge data list | inspect | convert`` through the CLI entry point, on files written here."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from _sf_data_helpers import AEDAT_HEADER, aedat_packet, atis_record, polarity_word, write_shd_like
from spikeforge.cli.__main__ import main
from spikeforge.data import DATASETS
from spikeforge.data.formats import decode_aedat31, read_events_h5


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["data", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_data_list_shows_every_registered_dataset(capsys) -> None:
    code, out, _ = _run(capsys, "list")
    assert code == 0
    blocks = {b.split(":", 1)[0]: b for b in out.strip().split("\n") if not b.startswith(" ")}
    assert sorted(blocks) == DATASETS.names()
    for name in DATASETS.names():
        meta = DATASETS.meta(name)
        section = out.split(f"{name}: ", 1)[1].split("\n  offline:", 1)[0]
        assert f"source:  {meta['source']}" in section and f"license: {meta['license']}" in section
        for f in meta["files"]:
            assert f in section
    assert "shd_train.h5, shd_test.h5" in out and "CC BY 4.0" in out


def test_inspect_shd(tmp_path, capsys) -> None:
    path = tmp_path / "shd_train.h5"
    write_shd_like(path, [[0.0, 0.0105, 0.031], [0.5], [0.25, 0.75]], [[0, 699, 3], [7], [1, 2]], [4, 19, 4])
    code, out, _ = _run(capsys, "inspect", str(path))
    assert code == 0
    assert "format: shd_h5" in out and "samples: 3" in out and "events: 6" in out
    assert "duration: 0.5 s" in out  # longest sample: 0.25 .. 0.75 s
    assert "sensor: 700 x 1 x 1" in out and "classes: 2 (4: 2, 19: 1)" in out


def test_inspect_atis_aedat_and_neuromorse(tmp_path, capsys) -> None:
    (tmp_path / "a.bin").write_bytes(atis_record(1, 2, 1, 1_000) + atis_record(33, 0, 0, 25_000))
    code, out, _ = _run(capsys, "inspect", str(tmp_path / "a.bin"))
    assert code == 0 and "format: atis" in out and "events: 2" in out and "duration: 0.024 s" in out
    assert "sensor: 34 x 34 x 2" in out and "classes: none" in out
    recs = [(polarity_word(10, 20, 1), 100), (polarity_word(127, 0, 0), 2_100)]
    (tmp_path / "g.aedat").write_bytes(AEDAT_HEADER + aedat_packet(1, recs))
    code, out, _ = _run(capsys, "inspect", str(tmp_path / "g.aedat"))
    assert code == 0 and "format: aedat" in out and "events: 2" in out and "duration: 0.002 s" in out
    with h5py.File(tmp_path / "nm.h5", "w") as f:  # NeuroMorse training layout, float64 times
        vl = h5py.vlen_dtype(np.dtype("float64"))
        t = f.create_group("Spikes").create_dataset("Times", (2,), dtype=vl)
        c = f["Spikes"].create_dataset("Channels", (2,), dtype=h5py.vlen_dtype(np.dtype("int32")))
        w = f.create_group("Labels").create_dataset("Labels", (2,), dtype=h5py.string_dtype())
        t[0], c[0], w[0] = np.array([0.0, 6.5]), np.array([0, 1], np.int32), "a"
        t[1], c[1], w[1] = np.array([0.0, 6.0, 17.25]), np.array([1, 1, 0], np.int32), "me"
    code, out, _ = _run(capsys, "inspect", str(tmp_path / "nm.h5"))
    assert code == 0 and "format: neuromorse" in out and "samples: 2" in out and "events: 5" in out
    assert "duration: 17.25 steps" in out and "classes: 2 (a: 1, me: 1)" in out


def test_convert_round_trip_atis_events_aedat(tmp_path, capsys) -> None:
    src = atis_record(1, 2, 1, 1_000) + atis_record(33, 0, 0, 25_000) + atis_record(5, 5, 1, 25_000)
    (tmp_path / "a.bin").write_bytes(src)
    assert _run(capsys, "convert", str(tmp_path / "a.bin"), str(tmp_path / "a.h5"))[0] == 0
    ev, label = read_events_h5(tmp_path / "a.h5")
    assert ev.t.tolist() == [1_000, 25_000, 25_000] and ev.x.tolist() == [1, 33, 5] and ev.p.tolist() == [1, 0, 1]
    assert ev.sensor_size == (34, 34, 2) and ev.time_unit == 1e-6 and label is None
    code, out, _ = _run(capsys, "convert", str(tmp_path / "a.h5"), str(tmp_path / "a.aedat"))
    assert code == 0 and "wrote 3 events" in out and "(aedat)" in out
    _, back = decode_aedat31((tmp_path / "a.aedat").read_bytes())
    assert back.t.tolist() == [1_000, 25_000, 25_000] and back.y.tolist() == [2, 0, 5]
    assert _run(capsys, "convert", str(tmp_path / "a.aedat"), str(tmp_path / "b.bin"))[0] == 0
    assert (tmp_path / "b.bin").read_bytes() == src  # byte-identical after three conversions


def test_convert_shd_sample_to_events_and_back(tmp_path, capsys) -> None:
    write_shd_like(tmp_path / "shd.h5", [[0.0, 0.5], [0.125, 0.25]], [[1, 699], [3, 4]], [2, 19])
    code, _, err = _run(capsys, "convert", str(tmp_path / "shd.h5"), str(tmp_path / "one.h5"))
    assert code == 2 and "holds 2 samples; pick one with --sample" in err
    assert _run(capsys, "convert", str(tmp_path / "shd.h5"), str(tmp_path / "one.h5"), "--sample", "1")[0] == 0
    ev, label = read_events_h5(tmp_path / "one.h5")
    assert ev.t.tolist() == [125_000, 250_000] and ev.x.tolist() == [3, 4] and label == 19
    assert ev.sensor_size == (700, 1, 1)
    code, _, _ = _run(capsys, "convert", str(tmp_path / "one.h5"), str(tmp_path / "shd_out.h5"), "--to", "shd_h5")
    assert code == 0
    with h5py.File(tmp_path / "shd_out.h5", "r") as f:  # read back without spikeforge
        assert f["spikes/times"][0].tolist() == [0.125, 0.25] and f["spikes/units"][0].tolist() == [3, 4]
        assert f["labels"][:].tolist() == [19]
    code, _, err = _run(capsys, "convert", str(tmp_path / "shd.h5"), str(tmp_path / "x.bin"), "--sample", "0")
    assert code == 2 and "ATIS addresses must fit 8 bits" in err  # channel 699 has no 8-bit address


def test_convert_step_time_events_needs_a_tick(tmp_path, capsys) -> None:
    from spikeforge.data import make_events
    from spikeforge.data.formats import write_events_h5
    write_events_h5(tmp_path / "steps.h5", make_events([0, 6, 17], [1, 1, 0], sensor_size=(2,), time_unit=None))
    code, _, err = _run(capsys, "convert", str(tmp_path / "steps.h5"), str(tmp_path / "s.aedat"))
    assert code == 2 and "--tick SECONDS" in err
    assert _run(capsys, "convert", str(tmp_path / "steps.h5"), str(tmp_path / "s.aedat"), "--tick", "1e-3")[0] == 0
    assert decode_aedat31((tmp_path / "s.aedat").read_bytes())[1].t.tolist() == [0, 6_000, 17_000]


@pytest.mark.parametrize("content,match", [
    (b"not an hdf5 file", "not a readable HDF5 file"),
    (None, "no such file"),
])
def test_inspect_errors_are_clear(tmp_path, capsys, content, match: str) -> None:
    path = tmp_path / "bad.h5"
    if content is not None:
        path.write_bytes(content)
    code, _, err = _run(capsys, "inspect", str(path))
    assert code == 2 and match in err and err.startswith("spikeforge data: error:")
    (tmp_path / "t.bin").write_bytes(atis_record(1, 1, 1, 5) + b"\x00")
    code, _, err = _run(capsys, "inspect", str(tmp_path / "t.bin"))
    assert code == 2 and "not a whole number of 5-byte ATIS events" in err
    (tmp_path / "notes.txt").write_text("hello")
    code, _, err = _run(capsys, "inspect", str(tmp_path / "notes.txt"))
    assert code == 2 and "cannot tell the format from the extension '.txt'" in err


def test_help_lists_the_data_command(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "data" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["data", "--help"])
    out = capsys.readouterr().out
    assert "list" in out and "inspect" in out and "convert" in out
