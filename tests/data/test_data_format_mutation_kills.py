"""Decoder details that planted bugs (``make mutation``, ``MUTATION.md``) showed untested: AEDAT
packets with spare capacity, SHD float32 seconds that sit just below a whole microsecond, and
event files in abstract time steps. Files are written byte by byte (``_sf_data_helpers``)."""

from __future__ import annotations

import struct

from _sf_data_helpers import AEDAT_HEADER, aedat_packet, polarity_word, write_shd_like
from spikeforge.data import make_events
from spikeforge.data.formats import SpikeH5Reader, decode_aedat31
from spikeforge.data.formats.hdf5_events import read_events_h5, write_events_h5


def test_aedat_packet_spans_its_capacity_not_its_event_count():
    """AEDAT 3.1: a packet's body is ``eventCapacity * eventSize`` bytes; only the first
    ``eventNumber`` slots hold events. The next packet starts after the spare slots."""
    records = [(polarity_word(3, 4, 1), 10), (polarity_word(5, 6, 0), 20)]
    spare = struct.pack("<Ii", polarity_word(7, 7, 1), 999) * 2  # two unused slots (not events)
    # type, source, eventSize, tsOffset, tsOverflow, eventCapacity=4, eventNumber=2, eventValid=2
    head = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 4, 2, 2)
    body = b"".join(struct.pack("<Ii", d, t) for d, t in records) + spare
    nxt = aedat_packet(1, [(polarity_word(9, 10, 1), 30)])
    _, ev = decode_aedat31(AEDAT_HEADER + head + body + nxt)
    assert ev.t.tolist() == [10, 20, 30]
    assert ev.x.tolist() == [3, 5, 9] and ev.y.tolist() == [4, 6, 10] and ev.p.tolist() == [1, 0, 1]


def test_shd_seconds_are_rounded_to_the_nearest_microsecond(tmp_path):
    """float32(1e-6) * 1e6 = 0.99999999747...: truncation would read 1 us as 0 us (and 13 us as 12)."""
    path = tmp_path / "shd.h5"
    write_shd_like(path, [[1e-6, 13e-6, 0.25]], [[0, 1, 2]], [0])
    ev, label = SpikeH5Reader(path, 3)[0]
    assert ev.t.tolist() == [1, 13, 250_000] and ev.time_unit == 1e-6 and label == 0


def test_events_h5_keeps_abstract_time_steps(tmp_path):
    """Events counted in time steps (``time_unit=None``) come back in steps, not as microseconds."""
    path = tmp_path / "steps.h5"
    ev = make_events([0, 2, 5], [1, 0, 1], sensor_size=(2, 1, 1), time_unit=None)
    write_events_h5(path, ev, label=3)
    back, label = read_events_h5(path)
    assert back.time_unit is None and back.t.tolist() == [0, 2, 5] and label == 3
    timed = make_events([7], [1], sensor_size=(2, 1, 1), time_unit=1e-3)
    write_events_h5(path, timed)
    assert read_events_h5(path)[0].time_unit == 1e-3
