"""Small networks covering every NIR primitive, shared by the NIR tests (not a test module)."""

from __future__ import annotations

import torch
from torch import nn

from spikeforge.layers.delay import Delay
from spikeforge.layers.graph import ModuleGraph
from spikeforge.layers.nir_prims import Scale, SumPool2d, Threshold
from spikeforge.layers.time import TimeDistributed
from spikeforge.neurons import IF, LI, LIF, PLIF, CubaLIF
from spikeforge.neurons.cuba_li import CubaLI
from spikeforge.neurons.integrator import Integrator

DT = 1e-4


def _k(scale: float) -> tuple[float, float]:
    """A net built with ``scale`` steps at ``DT * scale`` with every time constant times ``scale`` and
    the integrators' ``r`` divided by it: the same dynamics per step as ``scale = 1`` (bit for bit
    when ``scale`` is a power of two), so exporting it at ``DT`` exercises every rescaling rule."""
    return DT * scale, scale


def per_neuron(n: int, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def mlp_lif(gen: torch.Generator, reset: str = "value", scale: float = 1.0) -> nn.Module:
    """Affine → LIF (per-neuron tau/r/v_leak/thresholds) → Linear → LI."""
    dt, k = _k(scale)
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Linear(6, 10),
        LIF(tau_mem=per_neuron(10, 5e-4, 3e-3, gen) * k, r=per_neuron(10, 0.5, 2.0, gen),
            v_leak=per_neuron(10, -0.1, 0.1, gen), v_th=per_neuron(10, 0.8, 1.2, gen),
            v_reset=per_neuron(10, -0.3, 0.0, gen), dt=dt, reset=reset),
        nn.Linear(10, 3, bias=False),
        LI(tau_mem=per_neuron(3, 1e-3, 4e-3, gen) * k, r=per_neuron(3, 1.0, 3.0, gen), dt=dt),
    )


def mlp_cuba(gen: torch.Generator, scale: float = 1.0) -> nn.Module:
    """Affine → CubaLIF → Affine → IF → Linear → CubaLI → Scale → Integrator."""
    dt, k = _k(scale)
    torch.manual_seed(2)
    to_if = nn.Linear(8, 5)
    nn.init.constant_(to_if.bias, 0.1)  # drive the IF layer so that every layer is active
    return nn.Sequential(
        nn.Linear(6, 8),
        CubaLIF(tau_syn=per_neuron(8, 3e-4, 1e-3, gen) * k, tau_mem=per_neuron(8, 1e-3, 3e-3, gen) * k,
                r=per_neuron(8, 1.0, 4.0, gen), w_in=per_neuron(8, 0.5, 2.0, gen), dt=dt, reset="zero"),
        to_if,
        IF(r=per_neuron(5, 5e3, 2e4, gen) / k, v_th=1.0, v_reset=-0.2, dt=dt, reset="value"),
        nn.Linear(5, 4, bias=False),
        CubaLI(tau_syn=per_neuron(4, 3e-4, 1e-3, gen) * k, tau_mem=2e-3 * k, r=2.0, dt=dt, size=4),
        Scale(per_neuron(4, -1.0, 2.0, gen)),
        Integrator(r=per_neuron(4, 1e3, 1e4, gen) / k, dt=dt),
    )


def mlp_misc(gen: torch.Generator, scale: float = 1.0) -> nn.Module:
    """Affine → Delay (per-neuron steps) → Threshold → Linear → PLIF."""
    dt, k = _k(scale)
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Linear(6, 7),
        Delay(torch.tensor([0, 1, 2, 3, 0, 5, 1])),
        Threshold(per_neuron(7, 0.0, 0.5, gen)),
        nn.Linear(7, 4),
        PLIF(tau_mem=per_neuron(4, 5e-4, 2e-3, gen) * k, r=4.0, dt=dt, reset="value"),
    )


def conv2d_net(gen: torch.Generator, scale: float = 1.0) -> nn.Module:
    """Conv2d → LIF → SumPool2d → Conv2d → IF → AvgPool2d → Flatten → Affine → LI."""
    dt, k = _k(scale)
    torch.manual_seed(4)
    return nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)),
        LIF(tau_mem=1e-3 * k, dt=dt, reset="value", size=(4, 8, 8)),
        SumPool2d(2),
        TimeDistributed(nn.Conv2d(4, 4, 3, stride=1, padding=0, bias=False)),
        IF(r=1e3 / k, dt=dt, reset="zero", size=(4, 2, 2)),
        TimeDistributed(nn.AvgPool2d(2)),
        TimeDistributed(nn.Flatten()),
        nn.Linear(4, 3),
        LI(tau_mem=2e-3 * k, dt=dt, size=3),
    )


def conv1d_net(gen: torch.Generator, scale: float = 1.0) -> nn.Module:
    """Conv1d (dilated) → LIF → Flatten (on [T, B, ...]) → Affine → LI."""
    dt, k = _k(scale)
    torch.manual_seed(5)
    return nn.Sequential(
        TimeDistributed(nn.Conv1d(2, 4, 3, padding=2, dilation=2)),
        LIF(tau_mem=per_neuron(4 * 12, 5e-4, 2e-3, gen).view(4, 12) * k, dt=dt, reset="value"),
        nn.Flatten(start_dim=2),
        nn.Linear(48, 3),
        LI(tau_mem=1e-3 * k, dt=dt, size=3),
    )


def recurrent_net(gen: torch.Generator, scale: float = 1.0) -> ModuleGraph:
    """input → fc → lif ⟲ rec (recurrent Affine) → out → LI; lif also feeds the readout."""
    dt, k = _k(scale)
    torch.manual_seed(6)
    return ModuleGraph(
        {"fc": nn.Linear(6, 8), "lif": LIF(tau_mem=per_neuron(8, 5e-4, 2e-3, gen) * k, dt=dt, reset="value"),
         "rec": nn.Linear(8, 8), "out": nn.Linear(8, 3), "li": LI(tau_mem=1e-3 * k, dt=dt, size=3)},
        [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out"), ("out", "li"),
         ("li", "output")],
    )


def nested_net(gen: torch.Generator, scale: float = 1.0) -> nn.Module:
    """A recurrent CubaLIF subgraph inside a Sequential: Affine → [CubaLIF ⟲ Linear] → Affine → LI."""
    dt, k = _k(scale)
    torch.manual_seed(7)
    sub = ModuleGraph(
        {"cuba": CubaLIF(tau_syn=5e-4 * k, tau_mem=1e-3 * k, r=3.0, dt=dt, reset="value", size=8),
         "w_rec": nn.Linear(8, 8, bias=False)},
        [("in", "cuba"), ("cuba", "w_rec"), ("w_rec", "cuba"), ("cuba", "out")], input="in", output="out")
    return nn.Sequential(nn.Linear(6, 8), sub, nn.Linear(8, 3), LI(tau_mem=1e-3 * k, dt=dt, size=3))


NETS = {
    "mlp_lif": (mlp_lif, (6,)),
    "mlp_cuba": (mlp_cuba, (6,)),
    "mlp_misc": (mlp_misc, (6,)),
    "conv2d": (conv2d_net, (2, 8, 8)),
    "conv1d": (conv1d_net, (2, 12)),
    "recurrent": (recurrent_net, (6,)),
    "nested": (nested_net, (6,)),
}


def sample(shape: tuple[int, ...], gen: torch.Generator, T: int = 40, B: int = 3, gain: float = 8.0) -> torch.Tensor:
    return gain * torch.rand((T, B, *shape), generator=gen)
