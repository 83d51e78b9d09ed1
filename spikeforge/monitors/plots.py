"""Plots of spiking activity. Each function returns a matplotlib ``Figure`` and, when ``path``
(the second argument) is given, also writes it there as PNG (parent folders are created).

Figures are built with :class:`matplotlib.figure.Figure` directly (never ``pyplot``), so no global
figure registry fills up and no display backend is needed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

if TYPE_CHECKING:  # matplotlib is imported on first plot, not with spikeforge
    from matplotlib.figure import Figure

from .recorders import record_layer, spiking_layers

__all__ = [
    "plot_raster", "plot_membrane", "plot_rate_histogram", "plot_layer_rates",
    "plot_training_curves", "plot_raster_of_first_layer", "save_figure",
]

PathLike = str | os.PathLike[str]


def _figure(**kw: object) -> Figure:
    from matplotlib.figure import Figure
    return Figure(**kw)  # type: ignore[arg-type]


def save_figure(fig: Figure, path: PathLike) -> Path:
    """Write ``fig`` as PNG to ``path`` (parent folders are created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path


def _finish(fig: Figure, path: PathLike | None) -> Figure:
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def _per_sample(xs: Tensor, sample: int, who: str) -> Tensor:
    """``[T, N]`` or ``[T, B, *]`` (pick ``sample``, flatten features) -> ``[T, N]`` on the CPU."""
    if not isinstance(xs, Tensor):
        raise TypeError(f"{who}: expected a torch.Tensor, got {type(xs).__name__}")
    if xs.dim() < 2:
        raise ValueError(f"{who}: expected [T, N] or [T, B, *], got shape {tuple(xs.shape)}")
    xs = xs.detach().float().cpu()
    if xs.dim() == 2:
        return xs  # [T, N]
    if not -xs.shape[1] <= sample < xs.shape[1]:
        raise ValueError(f"{who}: sample {sample} out of range for batch size {xs.shape[1]}")
    return xs[:, sample].flatten(1)  # [T, B, *] -> [T, *] -> [T, N]


def plot_raster(
    zs: Tensor, path: PathLike | None = None, *, sample: int = 0, dt: float | None = None,
    title: str = "Spike raster",
) -> Figure:
    """Raster plot: a dot at (step, neuron) for every spike of one sample.

    Args:
        zs: Spikes ``[T, N]``, or ``[T, B, *]`` of which batch element ``sample`` is shown.
        dt: If given, the x axis is in seconds (``step * dt``) instead of steps.
        path: Optional PNG file to write.

    Example:
        >>> fig = plot_raster(torch.rand(100, 4, 32) < 0.1, path="raster.png")
    """
    z = _per_sample(zs, sample, "plot_raster")  # [T, N]
    t, n = torch.nonzero(z > 0, as_tuple=True)
    x = t.float() * dt if dt is not None else t
    fig = _figure(figsize=(7, 4))
    ax = fig.add_subplot()
    ax.scatter(x.numpy(), n.numpy(), s=4, marker="|", color="black")
    ax.set_xlim(-0.5 * (dt or 1), (z.shape[0] - 0.5) * (dt or 1))
    ax.set_ylim(-0.5, z.shape[1] - 0.5)
    ax.set_xlabel("time [s]" if dt is not None else "step")
    ax.set_ylabel("neuron")
    ax.set_title(f"{title} ({int(z.sum())} spikes)")
    return _finish(fig, path)


def plot_membrane(
    vs: Tensor, path: PathLike | None = None, *, sample: int = 0, neurons: Sequence[int] | None = None,
    v_th: float | None = None, zs: Tensor | None = None, dt: float | None = None,
    title: str = "Membrane potential",
) -> Figure:
    """Membrane traces of a few neurons, with the threshold and spike times if given.

    Args:
        vs: Membrane ``[T, N]`` or ``[T, B, *]`` (batch element ``sample`` is shown).
        neurons: Indices (into the flattened features) to draw; default the first 5.
        v_th: Draw the threshold as a dashed line.
        zs: Spikes of the same shape as ``vs``; spike times are marked on each trace.
        dt: If given, the x axis is in seconds.
        path: Optional PNG file to write.

    Example:
        >>> zs, states = trace(LIF(), torch.rand(100, 1, 3) * 30)
        >>> fig = plot_membrane(states.v, zs=zs, v_th=1.0)
    """
    v = _per_sample(vs, sample, "plot_membrane")  # [T, N]
    z = _per_sample(zs, sample, "plot_membrane") if zs is not None else None
    if z is not None and z.shape != v.shape:
        raise ValueError(f"plot_membrane: zs shape {tuple(z.shape)} differs from vs shape {tuple(v.shape)}")
    idx = list(range(min(5, v.shape[1]))) if neurons is None else list(neurons)
    bad = [i for i in idx if not 0 <= i < v.shape[1]]
    if bad:
        raise ValueError(f"plot_membrane: neuron indices {bad} out of range for {v.shape[1]} neurons")
    steps = torch.arange(v.shape[0]).float() * (dt if dt is not None else 1.0)
    fig = _figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for i in idx:
        (line,) = ax.plot(steps.numpy(), v[:, i].numpy(), label=f"neuron {i}")
        if z is not None:
            hit = z[:, i] > 0
            ax.plot(steps[hit].numpy(), v[hit, i].numpy(), "o", color=line.get_color(), ms=4)
    if v_th is not None:
        ax.axhline(float(v_th), ls="--", color="gray", label="threshold")
    ax.set_xlabel("time [s]" if dt is not None else "step")
    ax.set_ylabel("v")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize="small")
    return _finish(fig, path)


def plot_rate_histogram(
    zs: Tensor, path: PathLike | None = None, *, bins: int = 20, title: str = "Firing-rate distribution",
) -> Figure:
    """Histogram of per-neuron firing rates (spikes per step, averaged over time and batch).

    Args:
        zs: Spikes ``[T, B, *]``.
        bins: Number of bins on ``[0, 1]``.
        path: Optional PNG file to write.

    Example:
        >>> fig = plot_rate_histogram(torch.rand(100, 8, 64) < 0.2)
    """
    if not isinstance(zs, Tensor) or zs.dim() < 2:
        raise ValueError(f"plot_rate_histogram: expected spikes [T, B, *], got "
                         f"{tuple(zs.shape) if isinstance(zs, Tensor) else type(zs).__name__}")
    rates = zs.detach().float().cpu().mean(dim=(0, 1)).flatten()  # [T, B, *] -> [*] -> [N]
    fig = _figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.hist(rates.numpy(), bins=bins, range=(0.0, 1.0), color="tab:blue", edgecolor="black")
    ax.set_xlabel("firing rate [spikes / step]")
    ax.set_ylabel("neurons")
    ax.set_title(f"{title} (mean {rates.mean().item():.3f})")
    return _finish(fig, path)


def plot_layer_rates(
    rates: Mapping[str, float], path: PathLike | None = None, *, title: str = "Firing rate per layer",
) -> Figure:
    """Bar chart of per-layer firing rates, e.g. ``record_rates(model)``'s ``rec.rates()``.

    Example:
        >>> fig = plot_layer_rates({"body.1": 0.12, "body.3": 0.05}, path="rates.png")
    """
    if not isinstance(rates, Mapping):
        raise TypeError(f"plot_layer_rates: expected a mapping name -> rate, got {type(rates).__name__}")
    names = [n or "<model>" for n in rates]
    values = [float(v) for v in rates.values()]
    fig = _figure(figsize=(max(4.0, 0.8 * len(names) + 2), 4))
    ax = fig.add_subplot()
    bars = ax.bar(range(len(values)), values, color="tab:orange")
    ax.bar_label(bars, fmt="%.3f", fontsize="small")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("firing rate [spikes / step]")
    ax.set_title(title if names else f"{title} (no spiking layers recorded)")
    return _finish(fig, path)


def plot_training_curves(
    history: Sequence[Mapping[str, float]], path: PathLike | None = None, *, title: str = "Training",
) -> Figure:
    """Loss (left) and every ``*accuracy`` entry (right) per epoch, from ``fit``'s history.

    Example:
        >>> fig = plot_training_curves([{"train_loss": 1.2, "train_accuracy": 0.6},
        ...                             {"train_loss": 0.7, "train_accuracy": 0.8}])
    """
    epochs = list(range(1, len(history) + 1))
    keys = sorted({k for h in history for k in h})
    fig = _figure(figsize=(9, 3.5))
    ax_loss, ax_acc = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for key in keys:
        ax = ax_acc if "accuracy" in key else ax_loss if "loss" in key else None
        if ax is not None:
            ax.plot(epochs, [h.get(key, float("nan")) for h in history], marker="o", ms=3, label=key)
    for ax, label in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        if ax.lines:
            ax.legend(fontsize="small")
    fig.suptitle(title)
    return _finish(fig, path)


def plot_raster_of_first_layer(
    model: nn.Module, x: Tensor, path: PathLike | None = None, *, sample: int = 0,
) -> Figure:
    """Run ``model(x)`` without gradient and plot the raster of its first spiking layer.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 16), LIF())
        >>> fig = plot_raster_of_first_layer(net, torch.rand(50, 2, 4) * 3)
    """
    layers = spiking_layers(model)
    if not layers:
        raise ValueError(f"plot_raster_of_first_layer: {type(model).__name__} has no spiking layer")
    name = next(iter(layers))
    was_training = model.training
    model.eval()
    try:
        with record_layer(model, name) as rec, torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
    return plot_raster(rec.spikes, path, sample=sample, title=f"Spike raster of layer {name!r}")
