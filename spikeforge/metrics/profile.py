"""``profile(model)``: record NeuroBench-style cost metrics of forward passes, by hooks only.

Inside the context, two mechanisms observe the model and are both removed on exit, even when
the forward raises:

- forward pre/post hooks on every submodule keep a stack of the modules being executed (to name
  layers and to find the start and end of each forward pass) and record spiking layers
  (:class:`~spikeforge.neurons.Neuron` and any module with a class attribute ``spiking = True``)
  and the user's extra activation types;
- a :class:`~torch.overrides.TorchFunctionMode` sees every call to ``linear``, ``conv1d/2d/3d``,
  ``matmul``/``@``/``mm``/``bmm``, two-operand ``einsum``, ``relu`` and ``sigmoid``, whether made
  by ``nn.Linear``/``nn.Conv*``/``nn.ReLU``/``nn.Sigmoid`` modules or functionally inside custom
  modules, and counts its synaptic operations or zero activations;
- recurrent cells (``nn.RNNCell``/``LSTMCell``/``GRUCell``) and layers (``nn.RNN``/``LSTM``/
  ``GRU``) are counted from their pre-hook (see :mod:`~spikeforge.metrics.counts`).

Calls made inside spiking modules (the neuron's own arithmetic) are not counted as activations;
the synapses inside them (e.g. the recurrent ``nn.Linear`` of
:class:`~spikeforge.layers.RecurrentSpiking`) are.

Spike counts: when a spiking module outputs integers other than 0/±1 (a burst neuron's ``0 … Γ``,
I-LIF's counts), a synapse layer fed with that output (or a view of it: flatten, reshape) counts each
entry ``n`` as ``|n|`` accumulate events (:func:`~spikeforge.metrics.counts.linear_ops` with
``multiplicity=True``): a burst of ``k`` spikes is ``k × fan-out`` ACs. Signed ``−1`` spikes are one
AC each, as ``+1``. Only outputs of spiking modules are read this way; any other non-binary input is
an analog (MAC) input counted once per non-zero entry.

Samples: each forward pass contributes the batch size ``B`` read from the first time-major
module it runs (a neuron or a spiking module sees ``[T, B, ...]``), or ``batch_size`` if given.
All per-sample numbers divide totals over every pass, step and sample by the number of samples.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from ..neurons import Neuron, SequenceNeuron
from .cost import LayerCost
from .counts import (
    Footprint,
    connection_sparsity,
    SynapseCall,
    conv_ops,
    einsum_ops,
    footprint,
    is_count_tensor,
    is_spike_tensor,
    linear_ops,
    matmul_ops,
    parameter_count,
    recurrent_cell_synapses,
    recurrent_layer_synapses,
)
from .energy import DEFAULT_ENERGY_MODELS, EnergyModel, EnergyResult, price
from .neuron_ops import membrane_updates, ops_per_update
from .report import format_report, plot_energy

__all__ = ["Profile", "profile", "is_time_major_module"]

_CONV_DIMS = {F.conv1d: 1, F.conv2d: 2, F.conv3d: 3}
_ACTIVATIONS = {
    F.relu: "relu", torch.relu: "relu", torch.relu_: "relu", Tensor.relu: "relu", Tensor.relu_: "relu",
    F.sigmoid: "sigmoid", torch.sigmoid: "sigmoid", Tensor.sigmoid: "sigmoid", Tensor.sigmoid_: "sigmoid",
}
_ACTIVATION_MODULES = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}
_MATMUL = {torch.matmul, Tensor.matmul, torch.mm, Tensor.mm, torch.bmm, Tensor.bmm}
_RMATMUL = Tensor.__rmatmul__  # b.__rmatmul__(a) is a @ b


def _uncounted(module: nn.Module) -> bool:
    """Recurrent layers whose synapses cannot be counted (other RNNBase types, LSTM projections)."""
    if isinstance(module, nn.RNNBase):
        return not isinstance(module, (nn.RNN, nn.LSTM, nn.GRU)) or bool(getattr(module, "proj_size", 0))
    return False


def is_time_major_module(module: nn.Module) -> bool:
    """True for modules whose input is ``[T, B, ...]`` by contract: neurons, modules with
    ``spiking = True`` or ``time_major = True`` class attributes."""
    return isinstance(module, Neuron) or bool(getattr(module, "spiking", False)) or bool(
        getattr(module, "time_major", False))


def _is_spiking_module(module: nn.Module) -> bool:
    if isinstance(module, Neuron):
        return bool(module.spiking)
    return bool(getattr(module, "spiking", False))


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


class _Recorder(TorchFunctionMode):
    """Routes the interesting torch functions to the profile; everything else passes through."""

    def __init__(self, prof: Profile) -> None:
        super().__init__()
        self.prof = prof

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        try:
            watched = (func is F.linear or func in _CONV_DIMS or func in _ACTIVATIONS or func in _MATMUL
                       or func is _RMATMUL or func is torch.einsum)
        except TypeError:  # unhashable callables are never watched
            watched = False
        if watched and self.prof._counting():
            with torch.no_grad():
                self.prof._on_function(func, args, kwargs, out)
        return out


class Profile:
    """Cost metrics of the forward passes run inside ``with profile(model) as prof:``.

    Use :func:`profile` to create one. After (or during) the context:

    - static: :meth:`footprint`, :meth:`parameter_count`, :meth:`connection_sparsity`;
    - workload, per sample: :meth:`synops` (``Effective_MACs``, ``Effective_ACs``, ``Dense``),
      :meth:`membrane_updates`, :meth:`neuron_ops`; :meth:`activation_sparsity` over all
      samples, steps and activation layers; :meth:`layers` gives every count per layer;
    - :meth:`energy` under an energy model, :meth:`report` (aligned table), :meth:`to_dict`,
      :meth:`to_json`, :meth:`plot_energy`.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        batch_size: int | None = None,
        activations: Iterable[type[nn.Module]] = (),
        neuron_ops: Mapping[type, Any] | None = None,
        membrane: bool = True,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"profile() needs an nn.Module, got {type(model).__name__}")
        if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) < 1):
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
        self.model = model
        self.batch_size = None if batch_size is None else int(batch_size)
        self.activation_types = tuple(activations)
        for t in self.activation_types:
            if not (isinstance(t, type) and issubclass(t, nn.Module)):
                raise TypeError(f"activations must be nn.Module subclasses, got {t!r}")
        self.neuron_ops_table = dict(neuron_ops or {})
        self.membrane = bool(membrane)
        self.samples = 0
        self.steps: int | None = None  # T of the last pass (from its first time-major module)
        self.passes = 0
        self.unsized_passes = 0
        self._acc: dict[str, dict[str, Any]] = {}
        self._handles: list[Any] = []
        self._stack: list[tuple[str, nn.Module]] = []
        self._pass_batch: int | None = None
        self._counts: dict[int, Tensor] = {}  # storage address -> spike-count output of a spiking module (this pass)
        self._suspended = 0
        self._mode: _Recorder | None = None
        self.unsupported = sorted({f"{n} ({type(m).__name__})" if n else type(m).__name__
                                   for n, m in model.named_modules() if _uncounted(m)})

    # --- context -----------------------------------------------------------------------------
    def __enter__(self) -> Profile:
        if self._mode is not None:
            raise RuntimeError("this profile is already active; use a new profile() per context")
        try:
            for name, module in self.model.named_modules():
                self._handles.append(module.register_forward_pre_hook(self._make_pre(name), with_kwargs=True))
                self._handles.append(module.register_forward_hook(self._make_post(name), always_call=True))
            self._mode = _Recorder(self)
            self._mode.__enter__()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._remove()

    def _remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._stack.clear()
        if self._mode is not None:
            mode, self._mode = self._mode, None
            mode.__exit__(None, None, None)

    @property
    def active(self) -> bool:
        """True while the hooks are installed."""
        return self._mode is not None

    # --- hooks -------------------------------------------------------------------------------
    def _make_pre(self, name: str) -> Any:
        def pre(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            if self._suspended:
                return
            if not self._stack:
                self._pass_batch = None
                self._counts.clear()
            if self._pass_batch is None and is_time_major_module(module) and args and isinstance(args[0], Tensor) \
                    and args[0].dim() >= 2:
                self._pass_batch, self.steps = int(args[0].shape[1]), int(args[0].shape[0])
            self._stack.append((name, module))
            if isinstance(module, (nn.RNNCellBase, nn.RNNBase)) and self._counting():
                with torch.no_grad():
                    self._on_recurrent(name, module, args, kwargs)
        return pre

    def _make_post(self, name: str) -> Any:
        def post(module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
            if self._suspended or not self._stack:
                return
            self._stack.pop()
            failed = out is None
            if not failed and self._records_module(module):
                with torch.no_grad():
                    self._on_module(name, module, args, out)
            if not self._stack:  # end of a forward pass
                if failed:
                    return
                self.passes += 1
                size = self.batch_size if self.batch_size is not None else self._pass_batch
                if size is None:
                    self.unsized_passes += 1
                else:
                    self.samples += size
        return post

    def _counting(self) -> bool:
        """False while a neuron is being re-run for its membrane updates."""
        return not self._suspended

    def _inside(self, predicate: Any) -> bool:
        return any(predicate(m) for _, m in self._stack)

    def _records_module(self, module: nn.Module) -> bool:
        return isinstance(module, Neuron) or _is_spiking_module(module) or isinstance(module, self.activation_types)

    def _layer(self, name: str, kind: str) -> dict[str, Any]:
        acc = self._acc.get(name)
        if acc is None:
            acc = self._acc[name] = {"kind": kind, "is_activation": False, "spiking": False,
                                     "weights": 0, "weight_zeros": 0, "state_fields": 0, "ops_known": True}
        return acc

    @staticmethod
    def _add(acc: dict[str, Any], **values: float) -> None:
        for k, v in values.items():
            acc[k] = acc.get(k, 0) + v

    def _call_site(self, op: str, module_type: type | tuple[type, ...]) -> str:
        name, module = self._stack[-1] if self._stack else ("", None)
        if module is not None and isinstance(module, module_type):
            return name or type(module).__name__
        return f"{name}:{op}" if name else op

    def _is_counts(self, x: Any) -> bool:
        """``x`` is (a view of) a spiking module's integer-valued output in this pass: spike counts."""
        if not (isinstance(x, Tensor) and self._counts) or x.layout != torch.strided:
            return False
        return x.untyped_storage().data_ptr() in self._counts and is_count_tensor(x)

    def _on_synapses(self, key: str, kind: str, x: Tensor, weight: Tensor, eff: int, dense: int,
                     counts: bool = False) -> None:
        acc = self._layer(key, kind)
        acc["weights"], acc["weight_zeros"] = int(weight.numel()), int((weight == 0).sum())
        nz, total = int((x != 0).sum()), int(x.numel())
        if counts or is_spike_tensor(x):
            self._add(acc, eff_acs=eff, dense_acs=dense, in_nonzero_spike=nz, in_total_spike=total)
        else:
            self._add(acc, eff_macs=eff, dense_macs=dense, in_nonzero_analog=nz, in_total_analog=total)

    def _on_function(self, func: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], out: Any) -> None:
        if self._inside(lambda m: isinstance(m, SequenceNeuron)):
            return  # a sequence neuron's own products (HD-LIF's gate) are in its op_count
        if func is F.linear or func in _CONV_DIMS or func in _MATMUL or func is _RMATMUL or func is torch.einsum:
            if self._inside(lambda m: isinstance(m, (nn.RNNCellBase, nn.RNNBase))):
                return  # counted once per call by _on_recurrent
        elif self._inside(self._records_module):
            return  # a neuron's own arithmetic, not an activation layer
        if func is F.linear:
            x, w = _arg(args, kwargs, 0, "input", None), _arg(args, kwargs, 1, "weight", None)
            counts = self._is_counts(x)
            eff, dense = linear_ops(x, w, multiplicity=counts)
            self._on_synapses(self._call_site("linear", nn.Linear), "linear", x, w, eff, dense, counts)
        elif func in _CONV_DIMS:
            dims = _CONV_DIMS[func]
            x, w = _arg(args, kwargs, 0, "input", None), _arg(args, kwargs, 1, "weight", None)
            counts = self._is_counts(x)
            eff, dense = conv_ops(x, w, _arg(args, kwargs, 3, "stride", 1), _arg(args, kwargs, 4, "padding", 0),
                                  _arg(args, kwargs, 5, "dilation", 1), _arg(args, kwargs, 6, "groups", 1),
                                  multiplicity=counts)
            module_type = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1]
            self._on_synapses(self._call_site(f"conv{dims}d", module_type), f"conv{dims}d", x, w, eff, dense, counts)
        elif func in _MATMUL or func is _RMATMUL:
            a, b = _arg(args, kwargs, 0, "input", None), _arg(args, kwargs, 1, "other", None)
            if func is _RMATMUL:
                a, b = b, a
            if isinstance(a, Tensor) and isinstance(b, Tensor):
                mult = (self._is_counts(a), self._is_counts(b))
                self._on_product("matmul", a, b, *matmul_ops(a, b, multiplicity=mult), counts=mult)
        elif func is torch.einsum:
            self._on_einsum(args)
        elif isinstance(out, Tensor):
            op = _ACTIVATIONS[func]
            acc = self._layer(self._call_site(op, _ACTIVATION_MODULES[op]), op)
            acc["is_activation"] = True
            self._add(acc, out_nonzero=int((out != 0).sum()), out_total=int(out.numel()))

    def _on_product(self, op: str, a: Tensor, b: Tensor, eff: int, dense: int,
                    counts: tuple[bool, bool] = (False, False)) -> None:
        """A matrix product or einsum of ``a`` and ``b`` (rules in :mod:`~spikeforge.metrics.counts`);
        ``counts[i]``: operand ``i`` holds a spiking module's spike counts."""
        acc = self._layer(self._call_site(op, ()), op)
        a_w, b_w = isinstance(a, nn.Parameter), isinstance(b, nn.Parameter)
        if a_w != b_w:  # one weight, one input
            w, x = (a, b) if a_w else (b, a)
            acc["weights"], acc["weight_zeros"] = int(w.numel()), int((w == 0).sum())
            spikes, inputs = (counts[1] if a_w else counts[0]) or is_spike_tensor(x), [x]
        else:  # two activations: a spike operand only gates the other
            spikes = counts[0] or counts[1] or is_spike_tensor(a) or is_spike_tensor(b)
            inputs = [a, b]
        nz, total = sum(int((t != 0).sum()) for t in inputs), sum(int(t.numel()) for t in inputs)
        if spikes:
            self._add(acc, eff_acs=eff, dense_acs=dense, in_nonzero_spike=nz, in_total_spike=total)
        else:
            self._add(acc, eff_macs=eff, dense_macs=dense, in_nonzero_analog=nz, in_total_analog=total)

    def _on_einsum(self, args: tuple[Any, ...]) -> None:
        equation, operands = (args[0], args[1:]) if args else ("", ())
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = tuple(operands[0])
        if not isinstance(equation, str) or len(operands) != 2:
            if isinstance(equation, str) and len(operands) == 1:
                return  # one operand: a transpose, trace or sum, no product
            site = self._call_site("einsum", ())
            if f"{site} (einsum)" not in self.unsupported:
                self.unsupported.append(f"{site} (einsum)")
            return
        a, b = operands
        mult = (self._is_counts(a), self._is_counts(b))
        self._on_product("einsum", a, b, *einsum_ops(equation, a, b, multiplicity=mult), counts=mult)

    def _on_recurrent(self, name: str, module: nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        """Synapses of a recurrent cell or layer call, one group per step equation (a layer has
        one per layer, direction and step); a group is AC only if every input it multiplies is spikes."""
        x = _arg(args, kwargs, 0, "input", None)
        hx = _arg(args, kwargs, 1, "hx", None)
        if not isinstance(x, Tensor) or _uncounted(module):
            return  # e.g. a PackedSequence: left out, as the unsupported list says
        groups: list[list[SynapseCall]]
        if isinstance(module, nn.RNNBase):
            self._suspended += 1  # the layer-by-layer re-run is not part of the model's work
            try:
                groups = recurrent_layer_synapses(module, x, hx)
            finally:
                self._suspended -= 1
        else:
            cell: Any = module
            groups = [recurrent_cell_synapses(x, hx, cell.weight_ih, cell.weight_hh)]
        weights = list(module.parameters(recurse=False))
        acc = self._layer(name or type(module).__name__, type(module).__name__)
        acc["weights"] = sum(int(p.numel()) for p in weights)
        acc["weight_zeros"] = sum(int((p == 0).sum()) for p in weights)
        for group in groups:
            spikes = all(is_spike_tensor(c.x) for c in group)
            for c in group:
                eff, dense = linear_ops(c.x, c.weight)
                nz, total = int((c.x != 0).sum()), int(c.x.numel())
                if spikes:
                    self._add(acc, eff_acs=eff, dense_acs=dense, in_nonzero_spike=nz, in_total_spike=total)
                else:
                    self._add(acc, eff_macs=eff, dense_macs=dense, in_nonzero_analog=nz, in_total_analog=total)

    def _on_module(self, name: str, module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        z = out[0] if isinstance(out, (tuple, list)) else out
        if not isinstance(z, Tensor):
            return
        kind = type(module).__name__
        acc = self._layer(name or kind, kind)
        acc["spiking"] = _is_spiking_module(module)
        # spiking layers and user activation types are activations; a non-spiking neuron (the LI
        # readout) outputs its membrane, which is recorded but kept out of activation sparsity
        acc["is_activation"] = acc["spiking"] or not isinstance(module, Neuron)
        acc["dense_output"] = bool(getattr(module, "dense_output", False))  # outputs never exactly 0 (UltraLIF)
        self._add(acc, out_nonzero=int((z != 0).sum()), out_total=int(z.numel()))
        if acc["spiking"] and z.layout == torch.strided and not is_spike_tensor(z) and is_count_tensor(z):
            self._counts[z.untyped_storage().data_ptr()] = z  # held until the pass ends: the address stays its own
        xs = args[0] if args else None
        if isinstance(module, SequenceNeuron):
            if self.membrane and isinstance(xs, Tensor):
                self._on_sequence_neuron(acc, module, xs)
            return
        neuron = module if isinstance(module, Neuron) else getattr(module, "neuron", None)
        if not (self.membrane and isinstance(xs, Tensor) and xs.dim() >= 2 and hasattr(module, "init_state")
                and isinstance(neuron, Neuron)):
            return
        self._suspended += 1
        try:
            start = args[1] if len(args) > 1 else None  # a stepped graph node: module(xs, state)
            updates, elements, fields = membrane_updates(module, xs, start)
        finally:
            self._suspended -= 1
        ops = ops_per_update(neuron, self.neuron_ops_table)
        acc["state_fields"] = fields
        acc["ops_known"] = acc["ops_known"] and ops is not None
        self._add(acc, membrane_updates=updates, neuron_elements=elements,
                  neuron_ops=updates * (ops or 0), neuron_dense_ops=elements * (ops or 0))

    def _on_sequence_neuron(self, acc: dict[str, Any], module: SequenceNeuron, xs: Tensor) -> None:
        """A sequence neuron (PSN, HD-LIF) has no state to re-run: every element is computed at every
        step (updates = elements = ``xs.numel()``), at the cost its class counts (``op_count``), or
        ``profile(neuron_ops={cls: n})`` operations per element and step."""
        per = ops_per_update(module, self.neuron_ops_table)  # type: ignore[arg-type]  # a user entry, if any
        ops = per * xs.numel() if per is not None else module.op_count(xs)
        self._add(acc, membrane_updates=xs.numel(), neuron_elements=xs.numel(), neuron_ops=ops,
                  neuron_dense_ops=ops)

    # --- results -----------------------------------------------------------------------------
    def _require_samples(self) -> int:
        if self.unsized_passes:
            raise ValueError(
                f"{self.unsized_passes} forward pass(es) ran no time-major module (neuron or spiking layer), "
                "so the number of samples is unknown; pass profile(model, batch_size=B)")
        if self.samples == 0:
            raise ValueError("no forward pass was recorded: call the model inside `with profile(model) as prof:`")
        return self.samples

    def layers(self) -> dict[str, LayerCost]:
        """Per-layer costs per sample, in the order the layers first ran."""
        n = self._require_samples()
        result = {}
        per_sample = ("eff_macs", "eff_acs", "dense_macs", "dense_acs", "in_nonzero_spike", "in_total_spike",
                      "in_nonzero_analog", "in_total_analog", "out_nonzero", "out_total", "membrane_updates",
                      "neuron_elements", "neuron_ops", "neuron_dense_ops")
        for name, acc in self._acc.items():
            values = {k: acc.get(k, 0) / n for k in per_sample}
            if not acc["ops_known"]:
                values["neuron_ops"] = values["neuron_dense_ops"] = None
            result[name] = LayerCost(name=name, kind=acc["kind"], weights=acc["weights"],
                                     weight_zeros=acc["weight_zeros"], is_activation=acc["is_activation"],
                                     spiking=acc["spiking"], state_fields=acc["state_fields"], **values)
        return result

    def footprint(self) -> Footprint:
        """Bytes of parameters and buffers (see :func:`~spikeforge.metrics.counts.footprint`)."""
        return footprint(self.model)

    def parameter_count(self) -> int:
        return parameter_count(self.model)

    def connection_sparsity(self) -> float:
        """Zero weights / all weights of the connection layers (NeuroBench rounds this to 4 digits)."""
        return connection_sparsity(self.model)[0]

    def activation_sparsity(self) -> float:
        """Zero outputs / all outputs of every activation layer over all samples and steps."""
        self._require_samples()
        acts = [a for a in self._acc.values() if a["is_activation"]]
        total = sum(a.get("out_total", 0) for a in acts)
        if total == 0:
            raise ValueError("no activation layer (spiking neuron, ReLU, Sigmoid or profile(activations=...)) ran")
        return 1.0 - sum(a.get("out_nonzero", 0) for a in acts) / total

    def layer_activation_sparsity(self) -> dict[str, float]:
        """Activation sparsity of each activation layer over all samples and steps."""
        return {n: c.activation_sparsity for n, c in self.layers().items()
                if c.is_activation and c.activation_sparsity is not None}

    def synops(self) -> dict[str, float]:
        """Synaptic operations per sample: ``Effective_MACs``, ``Effective_ACs``, ``Dense``."""
        layers = self.layers().values()
        return {"Effective_MACs": sum(c.eff_macs for c in layers),
                "Effective_ACs": sum(c.eff_acs for c in layers),
                "Dense": sum(c.dense_ops for c in layers)}

    def membrane_updates(self) -> float:
        """Membrane updates per sample, summed over neuron layers."""
        return sum(c.membrane_updates for c in self.layers().values())

    def neuron_ops(self) -> dict[str, float]:
        """Neuron operations per sample: ``Effective`` and ``Dense`` (neurons of unknown cost,
        listed by :meth:`unpriced_neurons`, are left out)."""
        layers = [c for c in self.layers().values() if c.neuron_ops is not None]
        return {"Effective": sum(c.neuron_ops or 0.0 for c in layers),
                "Dense": sum(c.neuron_dense_ops or 0.0 for c in layers)}

    def unpriced_neurons(self) -> list[str]:
        """Neuron layers whose per-update cost is unknown (pass ``profile(neuron_ops={cls: n})``)."""
        return [n for n, c in self.layers().items() if c.membrane_updates and c.neuron_ops is None]

    def dense_output_layers(self) -> list[str]:
        """Layers whose outputs are never exactly zero (class attribute ``dense_output = True``, e.g.
        :class:`~spikeforge.neurons.UltraLIF`'s sigmoid spikes in (0, 1)): their activation sparsity is 0 and
        the next layer's effective SynOps equal its dense count; binarize them to count events."""
        self._require_samples()
        return [n for n, a in self._acc.items() if a.get("dense_output", False)]

    def energy(self, model: EnergyModel) -> EnergyResult:
        """Energy per sample, per layer and in total, under ``model``."""
        return price(self.layers().values(), model)

    def summary(self, models: Iterable[EnergyModel] = DEFAULT_ENERGY_MODELS) -> dict[str, Any]:
        """Totals as plain data (see :meth:`to_dict` for the per-layer part too)."""
        fp = self.footprint()
        out: dict[str, Any] = {
            "samples": self.samples, "steps": self.steps,
            "footprint_bytes": fp.total, "parameter_bytes": fp.parameter_bytes, "buffer_bytes": fp.buffer_bytes,
            "parameter_count": self.parameter_count(), "connection_sparsity": self.connection_sparsity(),
            "synops": self.synops(), "membrane_updates": self.membrane_updates(), "neuron_ops": self.neuron_ops(),
        }
        try:
            out["activation_sparsity"] = self.activation_sparsity()
        except ValueError:
            out["activation_sparsity"] = None
        out["energy"] = {m.name: {"unit": m.unit, "total": self.energy(m).total} for m in models}
        if self.unsupported:
            out["not_counted"] = list(self.unsupported)
        if self.unpriced_neurons():
            out["unpriced_neurons"] = self.unpriced_neurons()
        return out

    def to_dict(self, models: Iterable[EnergyModel] = DEFAULT_ENERGY_MODELS) -> dict[str, Any]:
        """Totals plus every layer's counts and energies, JSON-ready."""
        models = tuple(models)
        energies = {m.name: self.energy(m).per_layer for m in models}
        layers = []
        for name, c in self.layers().items():
            d = c.to_dict()
            d["energy"] = {m: e[name] for m, e in energies.items()}
            layers.append(d)
        return {"totals": self.summary(models), "layers": layers}

    def to_json(self, path: str | os.PathLike[str], models: Iterable[EnergyModel] = DEFAULT_ENERGY_MODELS) -> Path:
        """Write :meth:`to_dict` as JSON to ``path``; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(models), indent=2))
        return path

    def report(self, models: Iterable[EnergyModel] = DEFAULT_ENERGY_MODELS) -> str:
        """Aligned per-layer table plus totals (see :func:`~spikeforge.metrics.report.format_report`)."""
        return format_report(self, tuple(models))

    def plot_energy(self, path: str | os.PathLike[str], models: Iterable[EnergyModel] | None = None) -> Path:
        """Save a bar plot of energy per layer (PNG, Agg backend); see
        :func:`~spikeforge.metrics.report.plot_energy`."""
        return plot_energy(self, path, None if models is None else tuple(models))


def profile(
    model: nn.Module,
    *,
    batch_size: int | None = None,
    activations: Iterable[type[nn.Module]] = (),
    neuron_ops: Mapping[type, Any] | None = None,
    membrane: bool = True,
) -> Profile:
    """Context manager recording cost metrics of the forward passes of ``model``.

    Args:
        model: Any module built from spikeforge neurons and torch layers.
        batch_size: Samples per forward pass; by default read from the batch dim of the first
            time-major module of each pass (``[T, B, ...]``).
        activations: Extra module types whose outputs count as activations (besides spiking
            neurons and modules with ``spiking = True``, ReLU and Sigmoid, functional or not).
        neuron_ops: Operations per membrane update for neuron classes not in
            :data:`~spikeforge.metrics.neuron_ops.NEURON_OPS` (``{cls: n}`` or
            ``{cls: {reset: n}}``).
        membrane: Count membrane updates (re-runs each neuron layer's step function once).

    Example:
        >>> with profile(net) as prof:
        ...     out = net(xs)
        >>> table = prof.report()
        >>> prof.synops()["Effective_ACs"] >= 0
        True
    """
    return Profile(model, batch_size=batch_size, activations=activations, neuron_ops=neuron_ops,
                   membrane=membrane)
