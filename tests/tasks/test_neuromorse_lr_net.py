"""The NeuroMorse likelihood-ratio statistic as a delay network (:mod:`spikeforge.tasks.neuromorse_lr_net`)
against the numpy statistic :func:`spikeforge.tasks.neuromorse_lr.lr_statistic` on a generated stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.data.generators.neuromorse import NoiseLevels, keyword_stream
from spikeforge.tasks.neuromorse_kws import stream_tensors, validation_text
from spikeforge.tasks.neuromorse_lr import lr_statistic
from spikeforge.tasks.neuromorse_lr_net import as_delay_network

torch.set_num_threads(1)


def _stream() -> np.ndarray:
    stream = keyword_stream(validation_text(120), NoiseLevels("low", "high", "low"), seed=7)
    return stream_tensors(stream, 1, 0)[0].numpy()  # [T, 2]


@pytest.mark.parametrize("rate,sigma,keep", [(0.05, 2.0, 0.95), (0.1, 1.0, 0.9), (0.0, 0.0, 1.0), (0.02, 0.5, 0.99)])
def test_delay_network_equals_lr_statistic(rate: float, sigma: float, keep: float) -> None:
    x = _stream()
    rho = np.array([0.06, 0.04])
    want = lr_statistic(x, rate, sigma, keep, rho)  # [T, 50] float64
    with torch.no_grad():
        got = as_delay_network(rate, sigma, keep, rho)(torch.as_tensor(x)[:, None])[:, 0].numpy()  # [T, 50]
    assert got.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


def test_an_off_by_one_delay_or_tap_is_detected() -> None:
    """The comparison above is sensitive: one template delay, or one jitter tap, moved by one step changes
    the statistic by far more than the tolerance."""
    x = _stream()
    rho = np.array([0.06, 0.04])
    want = lr_statistic(x, 0.05, 1.5, 0.95, rho)
    xt = torch.as_tensor(x)[:, None]  # [T, 1, 2]
    for layer, (row, col) in (("template", (3, 0)), ("jitter", (0, 2))):
        net = as_delay_network(0.05, 1.5, 0.95, rho)
        with torch.no_grad():
            getattr(net, layer).positions[row, col] += 1  # one step less delay
            got = net(xt)[:, 0].numpy()
        assert np.abs(got - want).max() > 1e-3, layer


def test_bad_input_raises() -> None:
    net = as_delay_network(0.05, 1.0, 0.9, (0.05, 0.03))
    with pytest.raises(ValueError, match=r"\[T, B, 2\]"):
        net(torch.zeros(10, 3))
    with pytest.raises(ValueError, match="keep"):
        as_delay_network(0.05, 1.0, 0.0, (0.05, 0.03))


def test_detector_with_network_statistic_gives_the_same_detections() -> None:
    """``LRDetector.detections(..., network=True)`` (the CLI's ``--network``) against the numpy statistic, with
    thresholds fitted on the stream itself: they are values of the numpy statistic, so many values tie with
    them exactly (no detection); the network's rounding (~10⁻¹⁴) must not turn those ties into detections."""
    from spikeforge.tasks.neuromorse_lr import LRDetector, fit_thresholds

    stream = keyword_stream(validation_text(120), NoiseLevels("low", "high", "low"), seed=7)
    x = stream_tensors(stream, 1, 0)[0].numpy()  # [T, 2]
    rho = (0.06, 0.04)
    llr = lr_statistic(x, 0.05, 2.0, 0.95, np.asarray(rho))
    th, _ = fit_thresholds(llr, stream)
    assert int((llr == th).sum()) > 20  # exact ties present
    det = LRDetector(0.05, 2.0, 0.95, rho, th)
    want = det.detections(stream)
    assert len(want) > 10
    assert det.detections(stream, network=True) == want
