"""Writers of tiny files in the real byte layouts, independent of spikeforge's own writers."""

from __future__ import annotations

import struct
from pathlib import Path

import h5py
import numpy as np


def atis_record(x: int, y: int, p: int, t: int) -> bytes:
    """One 40-bit N-MNIST event: x, y, polarity bit + timestamp bits 22..16, bits 15..8, bits 7..0."""
    return bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])


AEDAT_HEADER = (b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n"
                b"#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n")


def aedat_packet(event_type: int, records: list[tuple[int, int]], overflow: int = 0, size: int = 8,
                 ts_offset: int = 4) -> bytes:
    """A 28-byte AEDAT 3.1 packet header followed by (uint32 data, int32 timestamp) records."""
    n = len(records)
    head = struct.pack("<hhiiiiii", event_type, 1, size, ts_offset, overflow, n, n, n)
    return head + b"".join(struct.pack("<Ii", d, t) for d, t in records)


def polarity_word(x: int, y: int, p: int, valid: int = 1) -> int:
    return (x << 17) | (y << 2) | (p << 1) | valid


def write_shd_like(path: Path, times: list[list[float]], units: list[list[int]], labels: list[int]) -> None:
    """The SHD layout: spikes/times (vlen float32 s), spikes/units (vlen uint16), labels (uint16)."""
    with h5py.File(path, "w") as f:
        g = f.create_group("spikes")
        dt = g.create_dataset("times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
        du = g.create_dataset("units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(len(times)):
            dt[i] = np.asarray(times[i], np.float32)
            du[i] = np.asarray(units[i], np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint16))
        f.create_group("extra").create_dataset("speaker", data=np.zeros(len(labels), np.uint16))
