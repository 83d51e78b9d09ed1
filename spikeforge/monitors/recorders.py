"""Hook-based recorders: firing rates of every spiking layer, and outputs/states of one layer.

Recorders observe ``module(...)`` calls (forward hooks), never edit the model, and always remove
their hooks when the ``with`` block ends, also when it ends with an exception. Calls that bypass
``__call__`` (``neuron.run``/``neuron.step`` used directly, e.g. when streaming) are not seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..neurons._base import Neuron, check_sequence

__all__ = ["RateRecord", "LayerRecord", "record_rates", "record_layer", "spiking_layers", "trace"]


def spiking_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Named submodules (``model`` itself included, as ``""``) whose class sets ``spiking = True``.

    Neurons nested inside another spiking layer (e.g. the neuron of a :class:`RecurrentSpiking`,
    which is driven through ``step``) are skipped: their parent reports for them.
    """
    found: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        if getattr(type(module), "spiking", False) is True:
            if not any(name.startswith(parent + ".") or parent == "" for parent in found):
                found[name] = module
    return found


@dataclass
class RateRecord:
    """Spike totals per layer, filled while :func:`record_rates` is active."""

    spikes: dict[str, float] = field(default_factory=dict)  # total spikes over all calls
    elements: dict[str, int] = field(default_factory=dict)  # total neuron-steps (T * B * N) over all calls
    calls: dict[str, int] = field(default_factory=dict)

    def rates(self) -> dict[str, float]:
        """Firing rate per layer that was called: spikes / (neurons x batch x steps), in spikes per step."""
        return {name: self.spikes[name] / self.elements[name] for name in self.spikes if self.elements[name]}

    def total_rate(self) -> float:
        """Firing rate over all recorded layers together (NaN if nothing was recorded)."""
        n = sum(self.elements.values())
        return sum(self.spikes.values()) / n if n else float("nan")


@contextmanager
def record_rates(model: nn.Module) -> Iterator[RateRecord]:
    """Record the firing rate of every spiking layer of ``model`` during the ``with`` block.

    A layer counts if its class has ``spiking = True`` (all spiking :class:`Neuron` models and
    :class:`~spikeforge.layers.RecurrentSpiking`; readouts such as ``LI`` set it to False).
    The rate of a layer is its total spikes divided by total elements of its outputs
    (``T * B * N`` per call), summed over every call inside the block.

    Yields:
        A :class:`RateRecord`; read ``.rates()`` (``{layer name: rate}``) after the block.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), LIF())
        >>> with record_rates(net) as rec:
        ...     zs = net(torch.rand(10, 2, 4) * 50)
        >>> rec.rates()["1"] == zs.mean().item()
        True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"record_rates expects an nn.Module, got {type(model).__name__}")
    record = RateRecord()

    def make_hook(name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            zs = _first_tensor(output)
            if zs is None:
                return
            record.spikes[name] = record.spikes.get(name, 0.0) + float(zs.detach().sum())
            record.elements[name] = record.elements.get(name, 0) + zs.numel()
            record.calls[name] = record.calls.get(name, 0) + 1
        return hook

    handles = [m.register_forward_hook(make_hook(n)) for n, m in spiking_layers(model).items()]
    try:
        yield record
    finally:
        for h in handles:
            h.remove()


def trace(neuron: Neuron[Any, Any], xs: Tensor, state: Any = None) -> tuple[Tensor, Any]:
    """Run ``neuron`` over ``xs`` step by step and keep every intermediate state.

    Args:
        neuron: Any neuron module.
        xs: Input currents.
        state: Initial state (rest if ``None``).

    Shapes:
        ``xs [T, B, *] -> (zs [T, B, *], states)``; ``states`` is the neuron's State NamedTuple
        with each field stacked over time to ``[T, B, *]`` (the state *after* each step, i.e.
        after reset; e.g. ``states.v`` is the membrane trace).

    Example:
        >>> zs, states = trace(LIF(), torch.rand(50, 1, 3) * 30)
        >>> states.v.shape
        torch.Size([50, 1, 3])
    """
    if not isinstance(neuron, Neuron):
        raise TypeError(f"trace expects a Neuron module, got {type(neuron).__name__}")
    check_sequence(xs)
    zs, states = [], []
    for x in xs:  # x: [B, *]
        z, state = neuron.step(x, state)
        zs.append(z)
        states.append(state)
    stacked = type(states[0])(*(torch.stack(f) for f in zip(*states)))  # fields [T, B, *]
    return torch.stack(zs), stacked


@dataclass
class LayerRecord:
    """Outputs (and, for neurons, states) of one layer, one entry per call, detached."""

    name: str
    outputs: list[Tensor] = field(default_factory=list)  # each [T, B, *]
    states: list[Any] = field(default_factory=list)  # each a State NamedTuple of [T, B, *] fields

    @property
    def spikes(self) -> Tensor:
        """All recorded outputs concatenated along the batch dim, ``[T, sum B, *]``."""
        if not self.outputs:
            raise ValueError(f"layer {self.name!r} was not called while recording")
        return torch.cat(self.outputs, dim=1)

    @property
    def membranes(self) -> Tensor:
        """Recorded membrane traces ``states.v`` concatenated along the batch dim, ``[T, sum B, *]``."""
        if not self.states:
            raise ValueError(f"no states recorded for layer {self.name!r} (record_layer(..., states=True) "
                             f"on a neuron layer, and call the model inside the block)")
        return torch.cat([s.v for s in self.states], dim=1)


@contextmanager
def record_layer(model: nn.Module, name: str, *, states: bool = False) -> Iterator[LayerRecord]:
    """Record the outputs of the submodule ``name`` of ``model`` (``""`` for ``model`` itself).

    With ``states=True`` (neuron layers only) the layer's input is re-run through :func:`trace`
    inside the hook, without gradient, to also keep every intermediate state (membrane etc.);
    this costs one extra pass of that layer.

    Yields:
        A :class:`LayerRecord` with ``outputs`` (and ``states``), one entry per call.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), LIF())
        >>> with record_layer(net, "1", states=True) as rec:
        ...     zs = net(torch.rand(10, 2, 4))
        >>> rec.spikes.shape, rec.membranes.shape
        (torch.Size([10, 2, 8]), torch.Size([10, 2, 8]))
    """
    modules = dict(model.named_modules())
    if name not in modules:
        raise ValueError(f"record_layer: model has no submodule {name!r}; names: {', '.join(repr(n) for n in modules)}")
    layer = modules[name]
    if states and not isinstance(layer, Neuron):
        raise ValueError(f"record_layer: states=True needs a Neuron layer, {name!r} is {type(layer).__name__}")
    record = LayerRecord(name)

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        out = _first_tensor(output)
        if out is not None:
            record.outputs.append(out.detach())
        if states and inputs and isinstance(inputs[0], Tensor):
            with torch.no_grad():
                record.states.append(trace(module, inputs[0].detach())[1])  # type: ignore[arg-type]

    handle = layer.register_forward_hook(hook)
    try:
        yield record
    finally:
        handle.remove()


def _first_tensor(output: Any) -> Tensor | None:
    """The output tensor, or the first element of an ``(output, state)`` tuple."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    return None
