"""Registered delay-learning dataset: spiking-motif detection (:mod:`~spikeforge.data.generators.delay_tasks`).

The motifs depend only on ``motif_seed`` (shared by both splits); noise, onsets and jitter on
``(seed, split)``. The delayed XOR / coincidence task has a target per step, not per sample, so it
stays a generator (:func:`~spikeforge.data.generators.delayed_logic`).
"""

from __future__ import annotations

from typing import Any

import torch

from ..generators.delay_tasks import make_motifs, spiking_motifs
from . import DATASETS
from ._base import ArrayDataset

__all__ = ["spiking_motif_dataset"]

_SPLIT_SALT = {"train": 0, "test": 1}


@DATASETS.register("spiking_motifs", kind="temporal", num_classes=4, input_shape=(16,), offline=True,
                   source="generated offline by spikeforge", license="Apache-2.0 (spikeforge)", files=(),
                   example={"n_samples": 6, "steps": 30, "motif_len": 10})
def spiking_motif_dataset(split: str = "train", root: Any = None, *, n_samples: int = 512, channels: int = 16,
                          n_motifs: int = 4, motif_len: int = 40, steps: int = 80, noise_rate: float = 0.02,
                          jitter: int = 0, motif_seed: int = 0, seed: int = 0) -> ArrayDataset:
    """Which of ``n_motifs`` motifs (one spike per channel, fixed delays) is in the noise; x ``[T, C]``."""
    if split not in _SPLIT_SALT:
        raise ValueError(f"spiking_motifs split must be 'train' or 'test', got {split!r}")
    motifs = make_motifs(n_motifs, channels, motif_len, generator=torch.Generator().manual_seed(motif_seed))
    g = torch.Generator().manual_seed(seed * 2 + _SPLIT_SALT[split])
    x, y = spiking_motifs(n_samples, motifs, steps=steps, noise_rate=noise_rate, jitter=jitter, generator=g)
    return ArrayDataset(x, y)
