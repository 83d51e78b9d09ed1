"""Events container: validation, sorting, conversions."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from spikeforge.data import EventError, Events, make_events


def test_make_events_defaults_and_units() -> None:
    ev = make_events([0, 5, 5], [1, 0, 2], sensor_size=(3,), time_unit=None)
    assert ev.sensor_size == (3, 1, 1)
    assert ev.y.tolist() == [0, 0, 0] and ev.p.tolist() == [0, 0, 0]
    assert ev.time_unit is None and len(ev) == 3 and ev.duration == 5.0


def test_accepts_tensors_and_structured_roundtrip() -> None:
    ev = make_events(torch.tensor([1, 2]), torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([1, 1]),
                     sensor_size=(2, 2, 2))
    arr = ev.to_structured()
    assert arr.dtype.names == ("t", "x", "y", "p")
    back = Events.from_structured(arr, (2, 2, 2))
    assert back.t.tolist() == [1, 2] and back.y.tolist() == [1, 0]
    assert ev.to_tensor().shape == (2, 4)


def test_unsorted_raises_unless_sort() -> None:
    with pytest.raises(EventError, match="not sorted.*sort=True"):
        make_events([3, 1, 2], [0, 1, 2], sensor_size=(3,))
    ev = make_events([3, 1, 2], [0, 1, 2], sensor_size=(3,), sort=True)
    assert ev.t.tolist() == [1, 2, 3] and ev.x.tolist() == [1, 2, 0]


def test_negative_times_raise() -> None:
    with pytest.raises(EventError, match=r"events.t must be >= 0"):
        make_events([-1, 0], [0, 0], sensor_size=(1,))


@pytest.mark.parametrize("field,value,match", [
    ("x", [0, 4], r"events.x must lie in \[0, 4\)"),
    ("y", [0, -1], r"events.y must lie in \[0, 3\)"),
    ("p", [0, 2], r"events.p must lie in \[0, 2\)"),
])
def test_coordinates_outside_sensor(field: str, value: list[int], match: str) -> None:
    kw = {"t": [0, 1], "x": [0, 1], "y": [0, 1], "p": [0, 1]}
    kw[field] = value
    with pytest.raises(EventError, match=match):
        make_events(**kw, sensor_size=(4, 3, 2))


def test_wrong_dtypes_raise_type_error() -> None:
    with pytest.raises(TypeError, match="events.x must have an integer dtype"):
        make_events([0, 1], [0.5, 1.0], sensor_size=(2,))
    with pytest.raises(TypeError, match="events.t must have an integer or float dtype"):
        make_events(["a", "b"], [0, 1], sensor_size=(2,))
    with pytest.raises(TypeError, match="events.p must have an integer or float dtype"):
        make_events([0, 1], [0, 1], p=np.array([True, False]), sensor_size=(2, 1, 2))


def test_length_mismatch_and_nan() -> None:
    with pytest.raises(EventError, match="events.x has 1 entries but events.t has 2"):
        make_events([0, 1], [0], sensor_size=(2,))
    with pytest.raises(EventError, match="NaN"):
        make_events([0.0, np.nan], [0, 1], sensor_size=(2,))
    with pytest.raises(ValueError, match="sensor_size"):
        make_events([0], [0], sensor_size=(0,))


def test_slicing_and_pickle() -> None:
    ev = make_events(np.arange(5), np.arange(5) % 2, sensor_size=(2,))
    assert ev[1:3].t.tolist() == [1, 2]
    assert ev[-1].t.tolist() == [4]
    assert ev[ev.x == 1].t.tolist() == [1, 3]
    clone = pickle.loads(pickle.dumps(ev))
    assert clone.t.tolist() == ev.t.tolist() and clone.sensor_size == ev.sensor_size


def test_empty_events_are_valid() -> None:
    ev = make_events([], [], sensor_size=(2, 2, 2))
    assert len(ev) == 0 and ev.to_structured().shape == (0,)
