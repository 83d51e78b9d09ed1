"""jAER AEDAT 2.0 files from a DVS128 sensor (the CIFAR10-DVS recordings).

Layout: optional ASCII header lines that start with ``#`` (the first normally ``#!AER-DAT2.0``),
each ending in a newline; then big-endian ``uint32`` pairs ``(address, timestamp µs)``. A DVS128
address holds the polarity in bit 0, x in bits 1–7 and y in bits 8–14; bit 15 marks an external
(non-pixel) event, which is dropped. Coordinates and polarity are returned as stored (raw sensor
orientation); datasets apply their own orientation convention.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..events import EventError, Events, make_events
from ._errors import FormatError

__all__ = ["decode_aedat2_dvs128", "read_aedat2_dvs128", "encode_aedat2_dvs128"]

_SENSOR = (128, 128, 2)
_PAIR = np.dtype([("addr", ">u4"), ("t", ">u4")])


def _skip_header(data: bytes, source: str) -> int:
    pos = 0
    while pos < len(data) and data[pos:pos + 1] == b"#":
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise FormatError(f"{source}: AEDAT header line without a newline")
        line = data[pos:nl].strip()
        if line.startswith(b"#!AER-DAT") and not line.startswith(b"#!AER-DAT2"):
            version = line[len(b"#!AER-DAT"):].decode("ascii", errors="replace")
            hint = " (use read_aedat31)" if version.startswith("3") else ""
            raise FormatError(f"{source}: AEDAT version {version}, this reader handles 2.0{hint}")
        pos = nl + 1
    return pos


def decode_aedat2_dvs128(data: bytes, *, source: str = "<bytes>") -> Events:
    """Decode AEDAT 2.0 DVS128 bytes into events (µs, raw orientation, sorted by time).

    Raises:
        FormatError: another AEDAT version, a body that is not whole 8-byte records.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    pos = _skip_header(data, source)
    body = len(data) - pos
    if body % _PAIR.itemsize:
        raise FormatError(f"{source}: {body} bytes after the header is not a whole number of "
                          f"8-byte (address, timestamp) records (truncated file?)")
    rec = np.frombuffer(data, _PAIR, offset=pos)
    addr = rec["addr"].astype(np.int64)
    keep = (addr >> 15) & 1 == 0  # bit 15: external event, not a pixel
    addr = addr[keep]
    p, x, y = addr & 1, (addr >> 1) & 0x7F, (addr >> 8) & 0x7F
    try:
        return make_events(rec["t"][keep].astype(np.int64), x, y, p, sensor_size=_SENSOR,
                           time_unit=1e-6, sort=True)
    except EventError as e:
        raise FormatError(f"{source}: invalid events: {e}") from None


def read_aedat2_dvs128(path: str | os.PathLike) -> Events:
    """Read an AEDAT 2.0 DVS128 file; see :func:`decode_aedat2_dvs128`."""
    path = Path(path)
    return decode_aedat2_dvs128(path.read_bytes(), source=str(path))


def encode_aedat2_dvs128(events: Events) -> bytes:
    """AEDAT 2.0 bytes of DVS128 events (raw orientation, µs timestamps < 2**32)."""
    t = np.asarray(events.t, np.int64)
    if t.size and (t.min() < 0 or t.max() >= 2**32):
        raise ValueError("AEDAT 2.0 timestamps must lie in [0, 2**32) µs")
    x, y, p = (np.asarray(a, np.int64) for a in (events.x, events.y, events.p))
    addr = (y << 8) | (x << 1) | p
    rec = np.empty(t.size, _PAIR)
    rec["addr"], rec["t"] = addr, t
    return b"#!AER-DAT2.0\r\n# This is a raw AE data file created by spikeforge\r\n" + rec.tobytes()
