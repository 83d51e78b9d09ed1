"""Plots return a Figure and write non-empty PNG files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from spikeforge.monitors import plots, record_rates, trace
from spikeforge.neurons import LI, LIF

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


def test_raster_marks_every_spike(tmp_path: Path) -> None:
    zs = (torch.rand(50, 2, 4, 5) < 0.1).float()
    fig = plots.plot_raster(zs, sample=1, path=tmp_path / "sub" / "raster.png")
    assert isinstance(fig, Figure)
    assert _is_png(tmp_path / "sub" / "raster.png")
    offsets = fig.axes[0].collections[0].get_offsets()
    assert len(offsets) == int(zs[:, 1].sum())
    t, n = torch.nonzero(zs[:, 1].flatten(1), as_tuple=True)
    assert sorted(map(tuple, offsets.tolist())) == sorted(zip(t.tolist(), n.tolist()))


def test_membrane_trace(tmp_path: Path) -> None:
    zs, states = trace(LIF(), torch.rand(60, 2, 3) * 30)
    fig = plots.plot_membrane(states.v, zs=zs, v_th=1.0, neurons=[0, 2], path=tmp_path / "v.png")
    assert _is_png(tmp_path / "v.png")
    ax = fig.axes[0]
    assert ax.lines[0].get_ydata().tolist() == pytest.approx(states.v[:, 0, 0].tolist())
    with pytest.raises(ValueError, match=r"neuron indices \[7\] out of range for 3 neurons"):
        plots.plot_membrane(states.v, neurons=[7])


def test_rate_histogram_and_layer_rates(tmp_path: Path) -> None:
    zs = (torch.rand(40, 8, 64) < 0.2).float()
    fig = plots.plot_rate_histogram(zs, bins=10, path=tmp_path / "hist.png")
    assert _is_png(tmp_path / "hist.png")
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert sum(heights) == 64  # one entry per neuron
    net = nn.Sequential(nn.Linear(4, 16), LIF(tau_mem=5e-3), nn.Linear(16, 8), LIF(), nn.Linear(8, 2), LI())
    with record_rates(net) as rec:
        net(torch.rand(20, 4, 4) * 20)
    fig = plots.plot_layer_rates(rec.rates(), path=tmp_path / "rates.png")
    assert _is_png(tmp_path / "rates.png")
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx(list(rec.rates().values()))


def test_training_curves_and_first_layer_raster(tmp_path: Path) -> None:
    history = [{"train_loss": 1.0 / (e + 1), "train_accuracy": 0.5 + e / 10, "val_accuracy": 0.4 + e / 10}
               for e in range(4)]
    fig = plots.plot_training_curves(history, path=tmp_path / "train.png")
    assert _is_png(tmp_path / "train.png")
    assert len(fig.axes[1].lines) == 2
    net = nn.Sequential(nn.Linear(4, 16), LIF(tau_mem=5e-3), nn.Linear(16, 2), LI()).train()
    fig = plots.plot_raster_of_first_layer(net, torch.rand(30, 2, 4) * 20, path=tmp_path / "first.png")
    assert _is_png(tmp_path / "first.png")
    assert net.training  # mode restored
    with pytest.raises(ValueError, match="has no spiking layer"):
        plots.plot_raster_of_first_layer(nn.Sequential(nn.Linear(2, 2)), torch.rand(3, 1, 2))


def test_plot_bad_input() -> None:
    with pytest.raises(ValueError, match=r"expected \[T, N\] or \[T, B, \*\]"):
        plots.plot_raster(torch.rand(5))
    with pytest.raises(ValueError, match="sample 5 out of range for batch size 2"):
        plots.plot_raster(torch.rand(5, 2, 3), sample=5)
    with pytest.raises(TypeError, match="expected a mapping"):
        plots.plot_layer_rates([0.1, 0.2])  # type: ignore[arg-type]
