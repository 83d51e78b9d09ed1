"""AEDAT 3.1 (jAER / cAER) files with polarity events, as used by DVS128 Gesture.

Layout: ASCII header lines starting with ``#``, the first ``#!AER-DAT3.1``, the last
``#!END-HEADER``, each ending in CRLF; then packets. A packet is a 28-byte little-endian header

    int16 eventType, int16 eventSource, int32 eventSize, int32 eventTSOffset,
    int32 eventTSOverflow, int32 eventCapacity, int32 eventNumber, int32 eventValid

followed by ``eventCapacity × eventSize`` bytes. Polarity events (type 1, 8 bytes each) are a
``uint32`` word — bit 0 valid, bit 1 polarity, bits 2–16 y, bits 17–31 x — and an ``int32``
timestamp in microseconds, extended by ``eventTSOverflow << 31``. Other packet types are skipped;
events whose valid bit is 0 are dropped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..events import EventError, Events, make_events
from ._errors import FormatError

__all__ = ["DVS128_SENSOR_SIZE", "decode_aedat31", "read_aedat31", "encode_aedat31", "write_aedat31"]

DVS128_SENSOR_SIZE = (128, 128, 2)
_MAGIC = b"#!AER-DAT3.1"
_END = b"#!END-HEADER\r\n"
_PACKET_HEADER = np.dtype([("type", "<i2"), ("source", "<i2"), ("size", "<i4"), ("ts_offset", "<i4"),
                           ("ts_overflow", "<i4"), ("capacity", "<i4"), ("number", "<i4"), ("valid", "<i4")])
_POLARITY = np.dtype([("data", "<u4"), ("t", "<i4")])
_POLARITY_TYPE = 1


def decode_aedat31(data: bytes, sensor_size: tuple[int, int, int] = DVS128_SENSOR_SIZE, *,
                   source: str = "<bytes>") -> tuple[dict[str, str], Events]:
    """Decode an AEDAT 3.1 byte string into ``(header, events)``.

    ``header`` maps header keys (``"Format"``, ``"Source 1"``, …) to values. Events are sorted by
    time (stable), in microseconds.

    Raises:
        FormatError: missing magic line or end of header, truncated or inconsistent packets,
            addresses outside ``sensor_size``.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data.startswith(_MAGIC):
        raise FormatError(f"{source}: not an AEDAT 3.1 file (first line must be '#!AER-DAT3.1')")
    end = data.find(_END)
    if end < 0:
        raise FormatError(f"{source}: AEDAT header has no '#!END-HEADER' line")
    header: dict[str, str] = {}
    for line in data[:end].split(b"\r\n")[1:]:
        if not line:
            continue
        if not line.startswith(b"#"):
            raise FormatError(f"{source}: AEDAT header line does not start with '#': {line[:40]!r}")
        text = line[1:].decode("ascii", errors="replace")
        key, _, value = text.partition(":")
        header[key.strip()] = value.strip()
    pos = end + len(_END)
    words: list[np.ndarray] = []
    times: list[np.ndarray] = []
    while pos < len(data):
        if len(data) - pos < _PACKET_HEADER.itemsize:
            raise FormatError(f"{source}: truncated packet header at byte {pos}")
        h = np.frombuffer(data, _PACKET_HEADER, count=1, offset=pos)[0]
        size, cap, num = int(h["size"]), int(h["capacity"]), int(h["number"])
        if size <= 0 or cap < 0 or not 0 <= num <= cap or not 0 <= int(h["valid"]) <= num:
            raise FormatError(f"{source}: corrupt packet header at byte {pos} "
                              f"(size={size}, capacity={cap}, number={num}, valid={int(h['valid'])})")
        pos += _PACKET_HEADER.itemsize
        n_bytes = cap * size
        if len(data) - pos < n_bytes:
            raise FormatError(f"{source}: packet at byte {pos} needs {n_bytes} bytes, "
                              f"only {len(data) - pos} left (truncated file)")
        if int(h["type"]) == _POLARITY_TYPE:
            if size != _POLARITY.itemsize or int(h["ts_offset"]) != 4:
                raise FormatError(f"{source}: polarity packet with eventSize {size} and "
                                  f"tsOffset {int(h['ts_offset'])} (expected 8 and 4)")
            ev = np.frombuffer(data, _POLARITY, count=num, offset=pos)
            ev = ev[(ev["data"] & 1) == 1]
            words.append(ev["data"].astype(np.int64))
            times.append(ev["t"].astype(np.int64) + (int(h["ts_overflow"]) << 31))
        pos += n_bytes
    w = np.concatenate(words) if words else np.zeros(0, np.int64)
    t = np.concatenate(times) if times else np.zeros(0, np.int64)
    x, y, p = (w >> 17) & 0x7FFF, (w >> 2) & 0x7FFF, (w >> 1) & 1
    try:
        events = make_events(t, x, y, p, sensor_size=sensor_size, time_unit=1e-6, sort=True)
    except EventError as e:
        raise FormatError(f"{source}: invalid polarity events: {e}") from None
    return header, events


def read_aedat31(path: str | os.PathLike,
                 sensor_size: tuple[int, int, int] = DVS128_SENSOR_SIZE) -> tuple[dict[str, str], Events]:
    """Read an ``.aedat`` (3.1) file; see :func:`decode_aedat31`."""
    path = Path(path)
    return decode_aedat31(path.read_bytes(), sensor_size, source=str(path))


def encode_aedat31(events: Events, *, packet_events: int = 4096, source_name: str = "DVS128") -> bytes:
    """Encode polarity events as AEDAT 3.1 (one header, packets of ``packet_events`` events)."""
    if packet_events < 1:
        raise ValueError(f"packet_events must be >= 1, got {packet_events}")
    t = np.asarray(events.t)
    if len(t) and np.any(np.mod(t, 1) != 0):
        raise ValueError("AEDAT time stamps must be integer microseconds")
    t = t.astype(np.int64)
    lines = [b"#!AER-DAT3.1", b"#Format: RAW", f"#Source 1: {source_name}".encode(),
             b"#Start-Time: 1970-01-01 00:00:00 (TZ+0000)", b"#!END-HEADER"]
    out = [b"\r\n".join(lines) + b"\r\n"]
    for start in range(0, len(t), packet_events):
        sl = slice(start, start + packet_events)
        tt = t[sl]
        overflow = int(tt[0] >> 31)
        if np.any((tt >> 31) != overflow):
            raise ValueError("a packet may not span a timestamp overflow; use smaller packets")
        body = np.empty(len(tt), _POLARITY)
        body["data"] = (events.x[sl] << 17) | (events.y[sl] << 2) | (events.p[sl] << 1) | 1
        body["t"] = tt - (overflow << 31)
        head = np.array([(_POLARITY_TYPE, 1, 8, 4, overflow, len(tt), len(tt), len(tt))], _PACKET_HEADER)
        out += [head.tobytes(), body.tobytes()]
    return b"".join(out)


def write_aedat31(path: str | os.PathLike, events: Events, **kwargs: int | str) -> None:
    """Write polarity events as an AEDAT 3.1 file (see :func:`encode_aedat31`)."""
    Path(path).write_bytes(encode_aedat31(events, **kwargs))  # type: ignore[arg-type]
