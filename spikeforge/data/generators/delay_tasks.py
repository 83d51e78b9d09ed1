r"""Delay-learning tasks: delayed logic (coincidence / XOR) and spiking-motif detection.

Both are solved exactly by a network that can delay each input by a fixed, task-specific number of
steps, and are hard without delays:

* :func:`delayed_logic` — two Bernoulli spike trains ``a``, ``b``; the target at every step is

  .. math:: y_t = a_{t-d_a} \;\mathrm{op}\; b_{t-d_b}, \qquad \mathrm{op} \in \{\mathrm{and}, \mathrm{xor}\},

  with zeros before the first input (:math:`a_{t<0} = b_{t<0} = 0`). A per-step (sequence
  labelling) target, so it is a generator only: the dataset registry holds one label per sample.
* :func:`spiking_motifs` — ``n_motifs`` random motifs, each fixing one spike time (its delay,
  ``0 … motif_len-1`` steps after the motif onset) on every channel; a sample is Bernoulli noise on
  all channels with one motif of its class pasted in at a random onset. Every motif puts exactly
  one spike on every channel, so spike counts carry no class information — only the relative
  timing does (Grimaldi & Perrinet, Biol. Cybern. 2023, detect such motifs with a layer of
  heterogeneous delays).

Pure functions of a ``torch.Generator``; no import from the rest of spikeforge.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["delayed_logic", "make_motifs", "spiking_motifs"]

_OPS = ("and", "xor")


def delayed_logic(n: int, steps: int, *, delays: tuple[int, int] = (12, 4), op: str = "xor", rate: float = 0.5,
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    r"""Delayed coincidence (``op="and"``) or delayed XOR of two spike trains.

    Args:
        n: Number of sequences.
        steps: Steps per sequence ``T``.
        delays: ``(d_a, d_b)`` in steps, each in ``[0, steps)``.
        op: ``"and"`` (coincidence: positive rate ``rate²``) or ``"xor"`` (``2 rate (1 - rate)``,
            balanced at ``rate = 0.5``).
        rate: Spike probability per step of ``a`` and ``b``.
        generator: Randomness.

    Returns:
        ``(x [n, T, 2], y [n, T])``: spikes (float32, channel 0 = ``a``) and the per-step target (int64).

    Example:
        >>> x, y = delayed_logic(1, 6, delays=(1, 0), op="and", generator=torch.Generator().manual_seed(0))
        >>> bool((y[0, 1:] == (x[0, :-1, 0] * x[0, 1:, 1]).long()).all()) and int(y[0, 0]) == 0
        True
    """
    if op not in _OPS:
        raise ValueError(f"delayed_logic: op must be one of {_OPS}, got {op!r}")
    if n < 1 or steps < 1:
        raise ValueError(f"delayed_logic: need n >= 1 and steps >= 1, got n={n}, steps={steps}")
    if len(delays) != 2 or any(not 0 <= int(d) < steps for d in delays):
        raise ValueError(f"delayed_logic: delays must be two ints in [0, steps={steps}), got {delays}")
    if not 0.0 < rate < 1.0:
        raise ValueError(f"delayed_logic: rate must be in (0, 1), got {rate}")
    x = (torch.rand(n, steps, 2, generator=generator) < rate).float()  # [n, T, 2]
    shifted = []
    for c, d in enumerate(delays):
        s = torch.zeros(n, steps, dtype=torch.bool)  # [n, T]: input c delayed by d, zero-filled
        s[:, int(d):] = x[:, : steps - int(d), c] > 0
        shifted.append(s)
    y = shifted[0] & shifted[1] if op == "and" else shifted[0] ^ shifted[1]
    return x, y.long()


def make_motifs(n_motifs: int, channels: int, motif_len: int, *,
                generator: torch.Generator | None = None) -> Tensor:
    """Random motifs: the spike time of every channel, ``0 … motif_len-1`` steps after the onset.

    Returns:
        ``[n_motifs, channels]`` int64 offsets.
    """
    if n_motifs < 2 or channels < 1 or motif_len < 2:
        raise ValueError(f"make_motifs: need n_motifs >= 2, channels >= 1, motif_len >= 2, "
                         f"got {n_motifs}, {channels}, {motif_len}")
    return torch.randint(0, motif_len, (n_motifs, channels), generator=generator)


def spiking_motifs(n: int, motifs: Tensor, *, steps: int = 100, noise_rate: float = 0.02, jitter: int = 0,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Samples of Bernoulli noise with one motif (of the sample's class) at a random onset.

    Args:
        n: Number of samples; labels are balanced (``i % n_motifs``).
        motifs: ``[n_motifs, C]`` spike offsets from :func:`make_motifs`.
        steps: Steps per sample ``T`` (at least the motif length + ``jitter``).
        noise_rate: Background spike probability per step and channel.
        jitter: Each motif spike moves by a uniform integer in ``[-jitter, jitter]`` (clipped to the sample).
        generator: Randomness (noise, onsets, jitter).

    Returns:
        ``(x [n, T, C], label [n])``: spikes (float32) and the motif index (int64).
    """
    if motifs.dim() != 2 or motifs.dtype != torch.long or bool((motifs < 0).any()):
        raise ValueError(f"spiking_motifs: motifs must be non-negative int64 offsets [n_motifs, C], "
                         f"got {motifs.dtype} {tuple(motifs.shape)}")
    n_motifs, C = motifs.shape
    span = int(motifs.max()) + 1 + 2 * jitter
    if n < 1 or steps < span:
        raise ValueError(f"spiking_motifs: need n >= 1 and steps >= motif length + 2*jitter = {span}, "
                         f"got n={n}, steps={steps}")
    if not 0.0 <= noise_rate < 1.0 or jitter < 0:
        raise ValueError(f"spiking_motifs: need 0 <= noise_rate < 1 and jitter >= 0, got {noise_rate}, {jitter}")
    label = torch.arange(n) % n_motifs  # [n]
    x = (torch.rand(n, steps, C, generator=generator) < noise_rate).float()  # [n, T, C]
    onset = torch.randint(jitter, steps - span + jitter + 1, (n, 1), generator=generator)  # [n, 1]
    t = onset + motifs[label]  # [n, C]
    if jitter:
        t = t + torch.randint(-jitter, jitter + 1, (n, C), generator=generator)
    t = t.clamp(0, steps - 1)
    rows = torch.arange(n).unsqueeze(1).expand(n, C)  # [n, C]
    cols = torch.arange(C).unsqueeze(0).expand(n, C)  # [n, C]
    x[rows, t, cols] = 1.0
    return x, label
