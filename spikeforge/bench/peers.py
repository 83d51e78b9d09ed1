"""The same LIF layer in every library, for side-by-side benchmarks.

Shared dynamics (issue 3): decay 0.9 per step, threshold 1, hard reset to 0, reset detached from
the graph, SuperSpike surrogate ``1 / (1 + |x|)^2`` (snnTorch ``fast_sigmoid(slope=1)``, SpikingJelly
``SuperSpike(alpha=1)``, Norse ``method="super"``, ours ``FastSigmoid(slope=1)``).

Each factory returns a module mapping ``[T, B, *]`` input to ``[T, B, *]`` spikes from rest.
Peers are imported lazily so the bench runs with any subset installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["LIBS", "PEERS", "JAX_PEERS", "installed", "lif_layer", "li_layer", "version"]

DECAY = 0.9
SLOPE = 1.0  # every peer defines its SuperSpike as 1 / (1 + |x|)^2 at this slope
LIBS = ("spikeforge", "spikeforge-torch", "snntorch", "spikingjelly", "norse")
PEERS = ("snntorch", "spikingjelly", "norse")
JAX_PEERS = ("jax", "spyx", "brainpy")  # run in .venv-jax by jax_bridge.py / jax_peers.py, never imported here
_MODULE = {"spikeforge": "spikeforge", "spikeforge-torch": "spikeforge", "spikeforge-nchw": "spikeforge",
           "snntorch": "snntorch",
           "spikingjelly": "spikingjelly", "norse": "norse", "dcls": "DCLS"}


def installed(lib: str) -> bool:
    return importlib.util.find_spec(_MODULE[lib]) is not None


def version(lib: str) -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as v
    try:
        return v(_MODULE[lib])
    except PackageNotFoundError:
        return "not installed"


class _Loop(nn.Module):
    """Python loop over time of a single-step cell ``cell(x, state) -> (out, state)``."""

    def __init__(self, cell: nn.Module, call: Callable) -> None:
        super().__init__()
        self.cell, self.call = cell, call

    def forward(self, xs: Tensor) -> Tensor:
        state, outs = None, []
        for x in xs:  # x: [B, *]
            out, state = self.call(self.cell, x, state)
            outs.append(out)
        return torch.stack(outs)  # [T, B, *]


def lif_layer(lib: str) -> nn.Module:
    """A LIF layer with the shared dynamics, as ``lib`` implements it."""
    if lib in ("spikeforge", "spikeforge-torch", "spikeforge-nchw"):
        from ..neurons import LIF
        from ..surrogate import FastSigmoid
        return LIF.from_decay(DECAY, reset="zero", detach_reset=True, surrogate=FastSigmoid(slope=SLOPE),
                              backend="torch" if lib == "spikeforge-torch" else "cpp")
    if lib == "snntorch":
        import snntorch as snn
        from snntorch import surrogate
        cell = snn.Leaky(beta=DECAY, threshold=1.0, reset_mechanism="zero",
                         spike_grad=surrogate.fast_sigmoid(slope=SLOPE))  # reset is detached
        return _Loop(cell, lambda c, x, mem: c(x, mem) if mem is not None else c(x, torch.zeros_like(x)))
    if lib == "spikingjelly":
        from spikingjelly.activation_based import neuron, surrogate
        # H = V - V / tau + X with tau = 1 / (1 - decay); multi-step mode, torch backend on CPU.
        node = neuron.LIFNode(tau=1.0 / (1.0 - DECAY), decay_input=False, v_threshold=1.0, v_reset=0.0,
                              detach_reset=True, surrogate_function=surrogate.SuperSpike(alpha=SLOPE),
                              step_mode="m")
        return _SJ(node)
    if lib == "norse":
        from norse.torch.functional.lif_box import LIFBoxParameters
        from norse.torch.module.lif_box import LIFBoxCell

        def detached_reset(z: Tensor, v: Tensor, reset: Tensor, th: Tensor) -> Tensor:
            z = z.detach()
            return (1 - z) * v + z * reset

        dt = 1e-3  # v += dt * tau_inv * (x' - v) with dt * tau_inv = 1 - decay; x' = x / (1 - decay)
        p = LIFBoxParameters(tau_mem_inv=torch.as_tensor((1 - DECAY) / dt), v_leak=torch.as_tensor(0.0),
                             v_th=torch.as_tensor(1.0), v_reset=torch.as_tensor(0.0), method="super",
                             alpha=torch.as_tensor(SLOPE), reset_method=detached_reset)
        return _Scale(_Loop(LIFBoxCell(p, dt=dt), lambda c, x, s: c(x, s)), 1.0 / (1.0 - DECAY))
    raise ValueError(f"unknown library {lib!r}; valid: {LIBS}")


def li_layer(lib: str, decay: float = 0.9) -> nn.Module:
    """A non-spiking leaky-integrator readout ``v' = decay * v + x`` (membrane out)."""
    if lib in ("spikeforge", "spikeforge-torch"):
        from ..neurons import LI
        return LI.from_decay(decay, backend="cpp" if lib == "spikeforge" else "torch")
    if lib == "snntorch":
        import snntorch as snn
        cell = snn.Leaky(beta=decay, threshold=1.0, reset_mechanism="none")
        return _Loop(cell, lambda c, x, mem: (lambda o: (o[1], o[1]))(
            c(x, mem if mem is not None else torch.zeros_like(x))))
    if lib == "spikingjelly":
        from spikingjelly.activation_based import neuron
        # A LIF that never fires (threshold 1e30) is a leaky integrator; its v_seq is the membrane.
        return _SJ(neuron.LIFNode(tau=1.0 / (1.0 - decay), decay_input=False, v_threshold=1e30,
                                  v_reset=0.0, step_mode="m", store_v_seq=True), output="v_seq")
    if lib == "norse":
        from norse.torch.functional.leaky_integrator_box import LIBoxParameters
        from norse.torch.module.leaky_integrator_box import LIBoxCell
        dt = 1e-3
        p = LIBoxParameters(tau_mem_inv=torch.as_tensor((1 - decay) / dt), v_leak=torch.as_tensor(0.0))
        return _Scale(_Loop(LIBoxCell(p, dt=dt), lambda c, x, s: c(x, s)), 1.0 / (1.0 - decay))
    raise ValueError(f"unknown library {lib!r}; valid: {LIBS}")


class _SJ(nn.Module):
    """SpikingJelly node in multi-step mode, reset before every sequence."""

    def __init__(self, node: nn.Module, output: str = "spikes") -> None:
        super().__init__()
        self.node: Any = node  # spikingjelly node: reset(), v_seq
        self.output = output

    def forward(self, xs: Tensor) -> Tensor:
        self.node.reset()
        out = self.node(xs)
        return self.node.v_seq if self.output == "v_seq" else out


class _Scale(nn.Module):
    def __init__(self, inner: nn.Module, k: float) -> None:
        super().__init__()
        self.inner, self.k = inner, k

    def forward(self, xs: Tensor) -> Tensor:
        return self.inner(xs * self.k)
