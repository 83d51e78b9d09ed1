r"""Classification with reservoirs: spike inputs from offline data, spike-count features, a ridge readout.

- :func:`digits_spikes` — scikit-learn's 8×8 digits (bundled, no download) as Bernoulli spike trains
  ``[T, S, 64]``, pixel intensity × ``max_rate`` spikes per step.
- :func:`audio_spikes` — the SHD-shaped spike-audio generator
  (:class:`spikeforge.data.datasets.synthetic.SpikeAudioLike`, 700 channels) binarised per step, ``[T, S, 700]``.
- :func:`spike_counts` — run any ``[T, B, n_in] -> [T, B, N]`` reservoir in batches and count spikes per time
  bin, ``[S, bins·N]``.
- :func:`ridge_accuracy` — one-vs-all ridge regression on one-hot targets (features standardised with the
  training mean/std), prediction = argmax; returns the test accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..data.datasets.sklearn_data import digits
from ..data.datasets.synthetic import SpikeAudioLike
from ..encoders.rate import bernoulli_encode
from .readout import Ridge

__all__ = ["audio_spikes", "digits_spikes", "ridge_accuracy", "spike_counts"]

Split = tuple[Tensor, Tensor, Tensor, Tensor]


def digits_spikes(steps: int = 100, *, max_rate: float = 0.2, seed: int = 0) -> Split:
    """``(x_train [T, S, 64], y_train [S], x_test, y_test)``; the library's 75/25 digits split."""
    if steps < 1 or not 0.0 < max_rate <= 1.0:
        raise ValueError(f"digits_spikes: need steps >= 1 and 0 < max_rate <= 1, got {steps}, {max_rate}")
    g = torch.Generator()
    g.manual_seed(seed)
    tr, te = digits("train"), digits("test")
    enc = [bernoulli_encode(d.x * max_rate, steps, generator=g) for d in (tr, te)]  # [T, S, 64] each
    return enc[0], tr.y, enc[1], te.y


def audio_spikes(n_train: int = 200, n_test: int = 100, *, num_classes: int = 10, dt: float = 10e-3,
                 seed: int = 0, **kwargs: Any) -> Split:
    """``(x_train [T, S, 700], y_train, x_test, y_test)`` from the spike-audio generator (1 s, ``T = 1/dt``);
    ``kwargs`` go to :func:`~spikeforge.data.generators.audio_like_events` (``channel_shift``, ``noise_rate``, ...)."""
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        ds = SpikeAudioLike(split, n_samples=n, num_classes=num_classes, dt=dt, seed=seed, **kwargs)
        xs, ys = zip(*(ds[i] for i in range(n)))
        out += [(torch.stack(xs, 1) > 0).float(), torch.stack(ys)]  # [T, 700] per sample -> [T, S, 700] spikes
    return out[0], out[1], out[2], out[3]


@torch.no_grad()
def spike_counts(reservoir: Callable[[Tensor], Tensor], xs: Tensor, *, bins: int = 1, batch_size: int = 128) -> Tensor:
    """Spikes per neuron in ``bins`` equal time windows, ``[S, bins·N]`` (bin-major), running ``xs [T, S, n_in]``
    in batches; ``bins = 1`` counts over the whole presentation."""
    if xs.ndim != 3:
        raise ValueError(f"spike_counts: input must be [T, S, n_in], got {tuple(xs.shape)}")
    if not 1 <= bins <= xs.shape[0]:
        raise ValueError(f"spike_counts: bins must be in [1, T={xs.shape[0]}], got {bins}")
    edges = torch.linspace(0, xs.shape[0], bins + 1).round().long().tolist()
    out = []
    for i in range(0, xs.shape[1], batch_size):
        z = reservoir(xs[:, i: i + batch_size])  # [T, b, N]
        out.append(torch.cat([z[a:b].sum(0) for a, b in zip(edges[:-1], edges[1:])], -1))  # [b, bins*N]
    return torch.cat(out)


def ridge_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, *, ridge: float = 1.0) -> float:
    """Test accuracy of a ridge readout on one-hot targets (features ``[S, F]``, labels ``[S]``)."""
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"ridge_accuracy: need features [S, F] with equal F, got {tuple(train_x.shape)}, "
                         f"{tuple(test_x.shape)}")
    mu = train_x.double().mean(0)
    sd = train_x.double().std(0).clamp(min=1e-9)
    classes = int(max(train_y.max(), test_y.max())) + 1
    onehot = torch.nn.functional.one_hot(train_y.long(), classes).double()
    r = Ridge(ridge).fit((train_x.double() - mu) / sd, onehot)
    pred = r.predict((test_x.double() - mu) / sd).argmax(1)
    return float((pred == test_y).double().mean())
