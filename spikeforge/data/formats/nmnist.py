"""N-MNIST / N-Caltech101 ATIS binary events (Orchard et al., 2015).

Every event is 40 bits, big-endian across 5 bytes::

    byte 0: x address (8 bits)          byte 1: y address (8 bits)
    byte 2: bit 7 = polarity (1 = ON), bits 6..0 = timestamp bits 22..16
    byte 3: timestamp bits 15..8         byte 4: timestamp bits 7..0

Timestamps are microseconds. N-MNIST's sensor is 34 × 34 with two polarities.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..events import EventError, Events, make_events
from ._errors import FormatError

__all__ = ["NMNIST_SENSOR_SIZE", "decode_atis_bytes", "read_atis_bin", "encode_atis_bytes", "write_atis_bin"]

NMNIST_SENSOR_SIZE = (34, 34, 2)
_MAX_T = (1 << 23) - 1


def decode_atis_bytes(data: bytes, sensor_size: tuple[int, int, int] = NMNIST_SENSOR_SIZE, *,
                      source: str = "<bytes>") -> Events:
    """Decode ATIS 40-bit events.

    Raises:
        FormatError: length not a multiple of 5, addresses outside ``sensor_size`` or time stamps
            that go backwards (random or truncated bytes).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if len(data) % 5:
        raise FormatError(f"{source}: {len(data)} bytes is not a whole number of 5-byte ATIS events "
                          "(truncated or not an N-MNIST .bin file)")
    raw = np.frombuffer(bytes(data), dtype=np.uint8).reshape(-1, 5).astype(np.int64)  # [N, 5]
    x, y = raw[:, 0], raw[:, 1]
    p = raw[:, 2] >> 7
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    back = np.flatnonzero(np.diff(t) < 0)  # an ATIS recording's time stamps never decrease
    if back.size:
        i = int(back[0]) + 1
        raise FormatError(f"{source}: time stamps are not sorted (event {i} at {t[i]} µs follows one at "
                          f"{t[i - 1]} µs): not ATIS events (an N-MNIST .bin file), or damaged ones")
    try:
        return make_events(t, x, y, p, sensor_size=sensor_size, time_unit=1e-6)
    except EventError as e:
        raise FormatError(f"{source}: not valid ATIS events for sensor {tuple(sensor_size)}: {e}") from None


def read_atis_bin(path: str | os.PathLike, sensor_size: tuple[int, int, int] = NMNIST_SENSOR_SIZE) -> Events:
    """Read one N-MNIST ``.bin`` file (see :func:`decode_atis_bytes`)."""
    path = Path(path)
    return decode_atis_bytes(path.read_bytes(), sensor_size, source=str(path))


def encode_atis_bytes(events: Events) -> bytes:
    """Encode events as ATIS 40-bit records (inverse of :func:`decode_atis_bytes`)."""
    t = np.asarray(events.t)
    if len(t) and (t.max() > _MAX_T or np.any(np.mod(t, 1) != 0)):
        raise ValueError(f"ATIS time stamps must be integer microseconds <= {_MAX_T}")
    if len(t) and (events.x.max() > 255 or events.y.max() > 255 or events.p.max() > 1):
        raise ValueError("ATIS addresses must fit 8 bits and polarity 1 bit")
    t = t.astype(np.int64)
    out = np.empty((len(t), 5), np.uint8)  # [N, 5]
    out[:, 0] = events.x
    out[:, 1] = events.y
    out[:, 2] = (events.p << 7) | ((t >> 16) & 0x7F)
    out[:, 3] = (t >> 8) & 0xFF
    out[:, 4] = t & 0xFF
    return out.tobytes()


def write_atis_bin(path: str | os.PathLike, events: Events) -> None:
    """Write events as an N-MNIST ``.bin`` file."""
    Path(path).write_bytes(encode_atis_bytes(events))
