"""NeuroMorse as a registered dataset, plus the paper's linear-classifier baseline.

``neuromorse`` classifies the 50 keywords. Without ``root`` the words are regenerated (see
:mod:`spikeforge.data.generators.neuromorse`); with ``root`` the published training file
``root/Train/<variant>.h5`` is read (e.g. ``Train/Clean.h5``). The published training set has one
sample per word, so the task is memorisation: the "test" split is the same 50 words — for a noisy
variant, a fresh noise draw (seed + 1 per repeat); for the clean variant, identical to "train".
The keyword-spotting stream is :func:`load_neuromorse_stream`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..events import Events
from ..formats._errors import FormatError
from ..formats.hdf5_spikes import read_neuromorse_stream_h5, read_neuromorse_words_h5
from ..generators.neuromorse import (
    NEUROMORSE_SEED, TOP50_WORDS, WORD_SPACE, KeywordStream, NoiseLevels, keyword_stream, neuromorse_words,
)
from ..representations import bin_events
from . import DATASETS
from ._files import missing_files_error

__all__ = ["NeuroMorse", "neuromorse", "neuromorse_dense", "load_neuromorse_stream", "linear_baseline"]


def neuromorse_dense(events: Events, tail: int = WORD_SPACE) -> Tensor:
    """Dense spikes ``[T, 2]`` with ``T = last spike + 1 + tail`` (the paper's sample window)."""
    n = int(np.floor(events.t[-1])) + 1 + tail if len(events) else 1 + tail
    return bin_events(events, 1.0, n).flatten(1).clamp_max(1.0)  # [T, P*H*W] = [T, 2]


class NeuroMorse(Dataset[tuple[Tensor, Tensor]]):
    """The 50 NeuroMorse keywords as ``(x [T, 2], label)``; label indexes :data:`TOP50_WORDS`.

    Args:
        split: "train" or "test" (see module docs).
        root: Folder with the published ``Train/*.h5`` files; ``None`` regenerates offline.
        dropout, jitter, poisson: Noise levels "none" | "low" | "high".
        repeats: Noise draws per word (generated data only); sample count = 50 · repeats.
        seed: Seed of the first draw (100 as published).
        faithful: Generate with the published recipe (unrounded Poisson gaps, float times; see
            :mod:`spikeforge.data.generators.neuromorse`). Files are read as stored either way.
    """

    def __init__(self, split: str = "train", root: str | os.PathLike | None = None, *,
                 dropout: str = "none", jitter: str = "none", poisson: str = "none",
                 repeats: int = 1, seed: int = NEUROMORSE_SEED, faithful: bool = False) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"neuromorse split must be 'train' or 'test', got {split!r}")
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        noise = NoiseLevels(dropout, jitter, poisson)  # type: ignore[arg-type]
        self.noise = noise
        samples: list[tuple[Events, int]] = []
        if root is not None:
            path = Path(root).expanduser() / "Train" / f"{noise.file_stem}.h5"
            if not path.is_file():
                raise missing_files_error("neuromorse", Path(root), [f"Train/{path.name}"],
                                          "Download the NeuroMorse HDF5 files (Zenodo 10.5281/zenodo.12702379).")
            index = {w: i for i, w in enumerate(TOP50_WORDS)}
            for ev, word in read_neuromorse_words_h5(path):
                if word not in index:
                    raise FormatError(f"{path}: unknown NeuroMorse label {word!r} (not one of the 50 keywords)")
                samples.append((ev, index[word]))
        else:
            first = seed + (repeats if split == "test" and not noise.is_clean else 0)
            for r in range(repeats):
                samples += neuromorse_words(noise, seed=first + r, faithful=faithful)
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        ev, label = self.samples[i]
        return neuromorse_dense(ev), torch.tensor(label, dtype=torch.long)


@DATASETS.register("neuromorse", kind="temporal", num_classes=50, input_shape=(2,), offline=True,
                   source="generated offline (published files: Zenodo 10.5281/zenodo.12702379, Walters et al.)",
                   license="generated: Apache-2.0 (spikeforge); published files: see the Zenodo record",
                   files=("Train/<variant>.h5", "Test/<variant>.h5"), layout="neuromorse_h5")
def neuromorse(split: str = "train", root: str | os.PathLike | None = None, **kwargs: Any) -> NeuroMorse:
    """NeuroMorse keywords (two Morse channels, 50 classes), generated offline by default."""
    return NeuroMorse(split, root, **kwargs)


def load_neuromorse_stream(root: str | os.PathLike | None = None, noise: NoiseLevels | None = None, *,
                           text: str | None = None, seed: int = NEUROMORSE_SEED,
                           faithful: bool = False) -> KeywordStream:
    """The keyword-spotting stream: ``root/Test/<variant>.h5`` if ``root`` is given, else generated
    from ``text`` (default: the shipped public-domain text; ``faithful`` as in
    :func:`~spikeforge.data.generators.neuromorse.keyword_stream`)."""
    noise = NoiseLevels() if noise is None else noise
    if root is None:
        return keyword_stream(text, noise, seed=seed, faithful=faithful)
    path = Path(root).expanduser() / "Test" / f"{noise.file_stem}.h5"
    if not path.is_file():
        raise missing_files_error("neuromorse", Path(root), [f"Test/{path.name}"],
                                  "Download the NeuroMorse HDF5 files (Zenodo 10.5281/zenodo.12702379).")
    events, starts, ends = read_neuromorse_stream_h5(path)
    return KeywordStream(events, starts, ends)


def linear_baseline(samples: list[tuple[Events, int]], beta: float = 0.95) -> tuple[float, np.ndarray]:
    r"""The NeuroMorse paper's linear-classifier baseline.

    Both channels drive one leaky integrator, :math:`v_t = \beta v_{t-1} + x_{0,t} + x_{1,t}`, over
    the sample window (last spike + 1 + 15 steps). Its final value and a bias form the features
    ``[v_T, 1]``; least squares maps them to one-hot labels and the predicted class is the argmax
    per sample.

    Returns:
        ``(accuracy, predictions [N])`` on the same samples (training accuracy).
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    v_final = []
    for ev, _ in samples:
        x = neuromorse_dense(ev).sum(1).double()  # [T], both channels summed
        v = torch.zeros((), dtype=torch.float64)
        for xt in x:
            v = beta * v + xt
        v_final.append(float(v))
    labels = np.asarray([y for _, y in samples])
    n_classes = int(labels.max()) + 1
    feats = np.stack([np.asarray(v_final), np.ones(len(v_final))], axis=1)  # [N, 2]
    onehot = np.eye(n_classes)[labels]  # [N, C]
    coef, *_ = np.linalg.lstsq(feats, onehot, rcond=None)  # [2, C]
    pred = np.argmax(feats @ coef, axis=1)
    return float(np.mean(pred == labels)), pred
