"""One converter pair per NIR primitive: spikeforge module ⟷ NIR node.

Conventions shared by both directions:

- NIR shapes are per sample (no time, no batch); spikeforge tensors are ``[T, B, *]``.
- Neuron parameters are written per neuron (arrays of the neuron's shape, never 0-d scalars).
- NIR time constants are in seconds. A neuron stepping at ``neuron.dt`` is exported for a
  simulator stepping at the export ``dt``: every time constant is scaled by ``dt / neuron.dt``
  (and the integrators' ``r`` by its inverse), so that one step of the NIR simulator at ``dt``
  is exactly one step of the neuron. With ``dt == neuron.dt`` nothing is rescaled.
- NIR does not specify the discrete-time reset. The mode is written in each spiking node's
  ``metadata["reset_mode"]`` (``"value"``, ``"zero"``, ``"subtract"`` or ``"none"``); readers that
  ignore metadata apply NIR's reset to ``v_reset``.
- NIR's neurons are continuous-time ODEs; how a step integrates them is the simulator's choice.
  Each neuron node's ``metadata["integrator"]`` records the module's: ``"euler"`` (forward Euler,
  also for ``integrator="decay"`` modules, whose ``params()`` are Euler's reading of their decays)
  or ``"exp"`` (exact exponential integration); spikeforge re-imports with it, other readers
  (snnTorch, Norse, SpikingJelly) step with forward Euler.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nir
import numpy as np
import torch
from torch import Tensor, nn

from ...layers.dcls import DelayLinear, LearnableDelay
from ...layers.delay import Delay
from ...layers.delrec import DelayedRecurrentSpiking
from ...layers.nir_prims import Scale, SumPool2d, Threshold
from ...layers.sparse_linear import EventLinear
from ...layers.time import TimeDistributed
from ...neurons import CubaLIF, IF, LI, LIF, NEURONS, PLIF, RESETS, MetaNeuron, Neuron
from ...neurons.cuba_li import CubaLI
from ...neurons.hdlif import HDLIF
from ...neurons.integrator import Integrator
from ...neurons.psn import PSN
from ._delays import export_delay_linear, export_delrec, export_learnable_delay

__all__ = [
    "NIRWarning", "NIRFormatError", "NIR_UNSUPPORTED", "NEURON_TO_NIR", "RESET_KEY", "DT_KEY", "INTEGRATOR_KEY",
    "ExportContext", "ImportContext", "EXPORTERS", "IMPORTERS", "export_leaf", "import_leaf",
]

RESET_KEY = "reset_mode"  # node metadata: discrete reset of a spiking neuron
INTEGRATOR_KEY = "integrator"  # node metadata: "euler" or "exp" (how a step integrates the ODE)
NIR_INTEGRATORS = ("euler", "exp")
DT_KEY = "dt"  # graph metadata: integration step [s] the graph was written for


class NIRWarning(UserWarning):
    """A NIR conversion that is not exact: reset mode, dt or a peer convention."""


class NIRFormatError(ValueError):
    """A NIR graph or file is corrupt, inconsistent or uses values spikeforge cannot run."""


NEURON_TO_NIR: dict[str, str] = {
    "i": "I",
    "if": "IF",
    "li": "LI",
    "lif": "LIF",
    "plif": "LIF",
    "meta": "LIF",
    "cuba_li": "CubaLI",
    "cuba_lif": "CubaLIF",
}
"""Registered neuron name → the NIR primitive it is exported as."""

NIR_UNSUPPORTED: dict[str, str] = {
    "alif": "NIR has no adaptive-threshold primitive (the threshold is a constant v_threshold); "
    "exporting ALIF as LIF would drop the adaptation variable",
    "astro_lif": "NIR has no adaptive-threshold primitive; AstroLIF's astrocyte state (a slow trace of its "
    "domain's spikes that scales the threshold) cannot be expressed with NIR's LIF",
    "izhikevich": "NIR has no quadratic (Izhikevich) neuron; its recovery variable u and reset "
    "u <- u + d cannot be expressed with the NIR neuron primitives",
    "burst_if": "NIR's IF emits at most one binary spike per step; a burst of n spikes (reset by n·θ) "
    "has no NIR primitive",
    "signed_if": "NIR has no signed spikes or spike memory; SignedIF's negative spikes (gated by the net "
    "count m) cannot be expressed with the NIR neuron primitives",
    "ultralif": "NIR has no soft max-plus (log-sum-exp) neuron; UltraLIF's LSE membrane and sigmoid spike "
    "cannot be expressed with the NIR neuron primitives",
    "ultradlif": "NIR has no soft max-plus (log-sum-exp) neuron and no coupling between the neurons of a "
    "layer; UltraDLIF's LSE over ring neighbours and sigmoid spike cannot be expressed with the NIR neuron "
    "primitives",
    "klif": "NIR has no rectified, rescaled membrane; KLIF's ReLU(k v) after the LIF charge cannot be "
    "expressed with NIR's LIF (exporting it as LIF would drop the ReLU and k)",
    "clif": "NIR has no complementary memory; CLIF's second state m and its sigmoid-gated extra reset "
    "cannot be expressed with the NIR neuron primitives",
    "eif": "NIR has no exponential integrate-and-fire neuron; the exp((v - theta_rh)/delta_t) term has no "
    "NIR primitive",
    "ilif": "NIR neurons emit binary spikes; I-LIF emits integers in {0..D} with a reset by s·v_th",
    "nilif": "NIR has no rounded, normalised spike; NI-LIF's round(clip(v/v_th, 0, D)/D) with a reset by "
    "v_th (not the firing level D v_th/2) cannot be expressed with NIR's LIF",
    "glif": "NIR has no gated neuron; GLIF's mixed multiplicative/linear leak and delayed gated reset "
    "(a second state: the previous spike) have no NIR primitive",
    "hh": "NIR has no conductance-based (Hodgkin-Huxley) neuron; the m, h, n gating variables cannot be "
    "expressed with the NIR neuron primitives",
    "tc_lif": "NIR has no two-compartment neuron; TC-LIF's coupled dendrite/soma pair (and its reset of both) "
    "cannot be expressed with the NIR neuron primitives",
}
"""Registered neuron name → why it has no NIR counterpart (an explicit opt-out)."""

NIR_UNSUPPORTED_MODULES: dict[type[nn.Module], str] = {
    PSN: "each output step mixes all T input steps (a learned T×T map over time, non-causal); NIR nodes are "
    "causal step-by-step dynamics with no whole-sequence primitive",
    HDLIF: "its gate reads the whole input sequence (non-causal) and mixes four neuron types (IF, LIF, PLIF, "
    "EIF) with hard resets to different values; NIR has no gated mixture of neurons",
}
"""Unregistered neuron modules (STEP's PSN and HD-LIF, outside ``NEURONS``) → why they have no NIR
counterpart (an explicit opt-out)."""


# ------------------------------------------------------------------------------------------------
# export: module -> node
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportContext:
    dt: float  # step the graph is written for [s]
    reset: str | None  # override of every spiking neuron's reset mode, or None
    round_delays: bool = False  # export interpolated (training-mode) learnable delays rounded


def _np(t: Tensor | float, shape: tuple[int, ...]) -> np.ndarray:
    """Detached per-element array of ``shape`` (scalars and per-neuron tensors broadcast)."""
    a = torch.as_tensor(t).detach().cpu()
    if a.dtype not in (torch.float32, torch.float64):
        a = a.float()
    try:
        return np.ascontiguousarray(np.broadcast_to(a.numpy(), shape)).copy()
    except ValueError:
        raise ValueError(f"parameter of shape {tuple(a.shape)} does not broadcast to the neuron shape "
                         f"{shape}") from None


def _scaled(t: Tensor | float, factor: float, shape: tuple[int, ...]) -> np.ndarray:
    """``t * factor`` computed in float64, returned in ``t``'s dtype (exact when factor == 1)."""
    a = _np(t, shape)
    if factor == 1.0:
        return a
    return (a.astype(np.float64) * factor).astype(a.dtype)


def _reset_mode(module: Neuron[Any, Any], name: str, ctx: ExportContext) -> tuple[str, bool]:
    """Reset mode to record for a spiking neuron and whether NIR's ``v_reset`` must be 0."""
    own = module.reset_name
    if own not in RESETS:
        if ctx.reset is None:
            raise ValueError(
                f"module {name!r} ({type(module).__name__}) uses a custom reset function {own!r} that NIR "
                f"cannot describe; pass to_nir(..., reset=...) to export it with a named mode"
            )
    mode = ctx.reset if ctx.reset is not None else own
    problems = []
    if mode != own:
        problems.append(f"the module resets with {own!r} but is exported with reset={mode!r}, so the graph "
                        f"does not reproduce the module")
    if mode in ("subtract", "none"):
        problems.append(f"NIR defines only a reset to v_reset; {mode!r} is kept in metadata[{RESET_KEY!r}] "
                        f"for spikeforge but other NIR readers will reset to v_reset")
    if problems:
        warnings.warn(f"module {name!r} ({type(module).__name__}): " + "; ".join(problems), NIRWarning, stacklevel=4)
    return mode, mode == "zero"


def _time_scale(module: Neuron[Any, Any], ctx: ExportContext) -> float:
    """Time scale factor ``dt / module.dt`` (see the module docstring)."""
    return ctx.dt / module.dt


def _meta(m: Neuron[Any, Any], **extra: str) -> dict[str, str]:
    """Node metadata of a neuron: its registered name, integrator and ``extra`` (the reset mode)."""
    integrator = "exp" if m.integrator == "exp" else "euler"  # "decay": params() are Euler's reading
    return {**extra, "neuron": _neuron_name(m), INTEGRATOR_KEY: integrator}


def _export_lif(m: LIF, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    p, k = m.params(), _time_scale(m, ctx)
    mode, zero = _reset_mode(m, name, ctx)
    v_reset = _np(p.v_reset, shape) * (0 if zero else 1)
    return nir.LIF(tau=_scaled(p.tau_mem, k, shape), r=_np(p.r, shape), v_leak=_np(p.v_leak, shape),
                   v_threshold=_np(p.v_th, shape), v_reset=v_reset, metadata=_meta(m, **{RESET_KEY: mode}))


def _export_if(m: IF, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    p, k = m.params(), _time_scale(m, ctx)
    mode, zero = _reset_mode(m, name, ctx)
    v_reset = _np(p.v_reset, shape) * (0 if zero else 1)
    return nir.IF(r=_scaled(p.r, 1 / k, shape), v_threshold=_np(p.v_th, shape), v_reset=v_reset,
                  metadata=_meta(m, **{RESET_KEY: mode}))


def _export_cuba_lif(m: CubaLIF, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    p, k = m.params(), _time_scale(m, ctx)
    mode, zero = _reset_mode(m, name, ctx)
    v_reset = _np(p.v_reset, shape) * (0 if zero else 1)
    return nir.CubaLIF(tau_syn=_scaled(p.tau_syn, k, shape), tau_mem=_scaled(p.tau_mem, k, shape),
                       r=_np(p.r, shape), v_leak=_np(p.v_leak, shape), v_threshold=_np(p.v_th, shape),
                       v_reset=v_reset, w_in=_np(p.w_in, shape), metadata=_meta(m, **{RESET_KEY: mode}))


def _export_li(m: LI, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    p, k = m.params(), _time_scale(m, ctx)
    return nir.LI(tau=_scaled(p.tau_mem, k, shape), r=_np(p.r, shape), v_leak=_np(p.v_leak, shape),
                  metadata=_meta(m))


def _export_cuba_li(m: CubaLI, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    p, k = m.params(), _time_scale(m, ctx)
    return nir.CubaLI(tau_syn=_scaled(p.tau_syn, k, shape), tau_mem=_scaled(p.tau_mem, k, shape),
                      r=_np(p.r, shape), v_leak=_np(p.v_leak, shape), w_in=_np(p.w_in, shape),
                      metadata=_meta(m))


def _export_integrator(m: Integrator, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    p, k = m.params(), _time_scale(m, ctx)
    return nir.I(r=_scaled(p.r, 1 / k, shape), metadata=_meta(m))


def _neuron_name(m: nn.Module) -> str:
    for n, cls in NEURONS.items():
        if type(m) is cls:
            return n
    return type(m).__name__


def _export_linear(m: nn.Linear, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    if len(shape) != 1:
        raise ValueError(f"module {name!r} (Linear) gets per-sample shape {shape}; NIR Affine/Linear act on "
                         f"vectors [N]: flatten first")
    w = _np(m.weight, tuple(m.weight.shape))
    if m.bias is None:
        return nir.Linear(weight=w)
    return nir.Affine(weight=w, bias=_np(m.bias, tuple(m.bias.shape)))


def _conv_padding(m: nn.Conv1d | nn.Conv2d, name: str) -> tuple[int, ...]:
    if m.padding_mode != "zeros":
        raise ValueError(f"module {name!r}: NIR convolutions are zero-padded, got padding_mode={m.padding_mode!r}")
    if isinstance(m.padding, str):  # 'valid' or 'same': write explicit symmetric ints
        if m.padding == "valid":
            return (0,) * len(m.kernel_size)
        total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        if any(t % 2 for t in total):
            raise ValueError(f"module {name!r}: padding='same' with an even effective kernel is asymmetric and "
                             f"has no NIR equivalent; use explicit padding")
        return tuple(t // 2 for t in total)
    return tuple(int(p) for p in m.padding)


def _check_groups(m: nn.Conv1d | nn.Conv2d, name: str) -> None:
    if m.groups != 1:
        raise ValueError(f"module {name!r}: grouped convolution (groups={m.groups}) cannot be written: nir 1.0.8 "
                         f"types a conv's input as weight.shape[1] channels, ignoring groups, so its type check "
                         f"rejects the graph")


def _conv_bias(m: nn.Conv1d | nn.Conv2d) -> np.ndarray:
    if m.bias is None:
        return np.zeros(m.out_channels, dtype=_np(m.weight, tuple(m.weight.shape)).dtype)
    return _np(m.bias, tuple(m.bias.shape))


def _export_conv1d(m: nn.Conv1d, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    if len(shape) != 2:
        raise ValueError(f"module {name!r} (Conv1d) expects per-sample shape [C, L], got {shape}")
    _check_groups(m, name)
    return nir.Conv1d(input_shape=int(shape[1]), weight=_np(m.weight, tuple(m.weight.shape)),
                      stride=int(m.stride[0]), padding=_conv_padding(m, name)[0], dilation=int(m.dilation[0]),
                      groups=int(m.groups), bias=_conv_bias(m))


def _export_conv2d(m: nn.Conv2d, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    if len(shape) != 3:
        raise ValueError(f"module {name!r} (Conv2d) expects per-sample shape [C, H, W], got {shape}")
    _check_groups(m, name)
    if m.kernel_size[0] != m.kernel_size[1]:
        raise ValueError(f"module {name!r}: kernel {tuple(m.kernel_size)} is not square; nir's type inference "
                         f"(nir 1.0.8) assumes square Conv2d kernels and would reject the graph")
    return nir.Conv2d(input_shape=(int(shape[1]), int(shape[2])), weight=_np(m.weight, tuple(m.weight.shape)),
                      stride=tuple(int(s) for s in m.stride), padding=_conv_padding(m, name),
                      dilation=tuple(int(d) for d in m.dilation), groups=int(m.groups), bias=_conv_bias(m))


def _pool_args(kernel: Any, stride: Any, padding: Any) -> dict[str, np.ndarray]:
    def pair(v: Any) -> np.ndarray:
        t = [int(x) for x in (v if isinstance(v, (tuple, list)) else (v, v))]
        return np.array(t, dtype=np.int64)

    return {"kernel_size": pair(kernel), "stride": pair(stride if stride is not None else kernel),
            "padding": pair(padding)}


def _export_avgpool2d(m: nn.AvgPool2d, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    if m.ceil_mode or m.divisor_override is not None:
        raise ValueError(f"module {name!r}: AvgPool2d with ceil_mode=True or divisor_override has no NIR equivalent")
    if not m.count_include_pad and np.any(_pool_args(m.kernel_size, m.stride, m.padding)["padding"] > 0):
        raise ValueError(f"module {name!r}: AvgPool2d(count_include_pad=False) with padding has no NIR equivalent "
                         f"(NIR AvgPool2d is SumPool2d scaled by 1/kernel area)")
    if len(shape) != 3:
        raise ValueError(f"module {name!r} (AvgPool2d) expects per-sample shape [C, H, W], got {shape}")
    return nir.AvgPool2d(**_pool_args(m.kernel_size, m.stride, m.padding))


def _export_sumpool2d(m: SumPool2d, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    if len(shape) != 3:
        raise ValueError(f"module {name!r} (SumPool2d) expects per-sample shape [C, H, W], got {shape}")
    return nir.SumPool2d(**_pool_args(m.kernel_size, m.stride, m.padding))


def _flatten_node(start: int, end: int, offset: int, name: str, shape: tuple[int, ...]) -> nir.NIRNode:
    """NIR Flatten (per-sample dims) for a torch flatten acting on tensors with ``offset`` leading dims."""
    n = len(shape)

    def per_sample(d: int) -> int:
        return d - offset if d >= 0 else n + d

    s, e = per_sample(start), per_sample(end)
    if not 0 <= s <= e < n:
        raise ValueError(f"module {name!r}: Flatten(start_dim={start}, end_dim={end}) would merge the time or "
                         f"batch dimension of [T, B, *{list(shape)}]; NIR flattens per-sample dims only")
    return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=s, end_dim=e)


def _export_flatten_seq(m: nn.Flatten, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    return _flatten_node(m.start_dim, m.end_dim, 2, name, shape)  # acts on [T, B, *]


def _export_scale(m: Scale, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    return nir.Scale(scale=_np(m.scale, shape))


def _export_threshold(m: Threshold, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    return nir.Threshold(threshold=_np(m.threshold, shape))


def _export_delay(m: Delay, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    d = np.broadcast_to(m.delays.cpu().numpy(), shape).astype(np.float64) * ctx.dt
    return nir.Delay(delay=np.ascontiguousarray(d))


ExportFn = Callable[[Any, str, tuple[int, ...], ExportContext], nir.NIRNode]

EXPORTERS: dict[type, ExportFn] = {
    LIF: _export_lif,
    PLIF: _export_lif,  # PLIF is LIF dynamics; params() gives the physical tau_mem
    MetaNeuron: _export_lif,  # lif_step with every parameter learned; imports as a plain LIF
    IF: _export_if,
    CubaLIF: _export_cuba_lif,
    LI: _export_li,
    CubaLI: _export_cuba_li,
    Integrator: _export_integrator,
    nn.Linear: _export_linear,
    EventLinear: _export_linear,  # nn.Linear whose forward may run event-driven (same values)
    nn.Flatten: _export_flatten_seq,
    Scale: _export_scale,
    Threshold: _export_threshold,
    SumPool2d: _export_sumpool2d,
    Delay: _export_delay,
    LearnableDelay: export_learnable_delay,
    DelayLinear: export_delay_linear,  # a fan-out -> Delay -> summing Affine subgraph (see _delays)
    DelayedRecurrentSpiking: export_delrec,  # a subgraph with a delayed feedback cycle (see _delays)
}
"""Exact module type → exporter. Subclasses are *not* matched, so a subclass with other dynamics
is never silently exported as its parent."""

_TIME_DISTRIBUTED: dict[type, ExportFn] = {
    nn.Linear: _export_linear,
    nn.Conv1d: _export_conv1d,
    nn.Conv2d: _export_conv2d,
    nn.AvgPool2d: _export_avgpool2d,
    nn.Flatten: lambda m, name, shape, ctx: _flatten_node(m.start_dim, m.end_dim, 1, name, shape),
}
"""Modules accepted inside :class:`~spikeforge.layers.time.TimeDistributed` (they see ``[T*B, *]``)."""


def export_leaf(module: nn.Module, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    """NIR node for one leaf module with per-sample input ``shape``; ``TypeError`` names unsupported modules."""
    if isinstance(module, TimeDistributed):
        fn = _TIME_DISTRIBUTED.get(type(module.module))
        if fn is None:
            raise TypeError(f"module {name!r}: TimeDistributed({type(module.module).__name__}) has no NIR "
                            f"counterpart; supported inside TimeDistributed: "
                            f"{sorted(t.__name__ for t in _TIME_DISTRIBUTED)}")
        return fn(module.module, name, shape, ctx)
    fn = EXPORTERS.get(type(module))
    if fn is not None:
        return fn(module, name, shape, ctx)
    if type(module) in NIR_UNSUPPORTED_MODULES:
        raise TypeError(f"module {name!r}: neuron {type(module).__name__} cannot be exported to NIR: "
                        f"{NIR_UNSUPPORTED_MODULES[type(module)]}")
    for reg, cls in NEURONS.items():
        if type(module) is cls and reg in NIR_UNSUPPORTED:
            raise TypeError(f"module {name!r}: neuron {type(module).__name__} ({reg!r}) cannot be exported to "
                            f"NIR: {NIR_UNSUPPORTED[reg]}")
    raise TypeError(f"module {name!r} of type {type(module).__name__} has no NIR counterpart; supported: "
                    f"{sorted(t.__name__ for t in EXPORTERS)}, TimeDistributed(Conv1d/Conv2d/AvgPool2d/Flatten/"
                    f"Linear), nn.Sequential, ModuleGraph, and identity layers (Identity, Dropout)")


# ------------------------------------------------------------------------------------------------
# import: node -> module
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportContext:
    dt: float  # integration step of the imported neurons [s]
    reset: str | None  # reset mode for every spiking neuron, or None (metadata, else NIR's "value")
    dtype: torch.dtype
    integrator: str | None = None  # for every neuron, or None (metadata, else "euler")


def _arr(node: nir.NIRNode, field: str, *, ndim: int | None = None, optional: bool = False) -> np.ndarray | None:
    value = getattr(node, field, None)
    if value is None:
        if optional:
            return None
        raise ValueError(f"field {field!r} is missing")
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"field {field!r} must be numeric, got {type(value).__name__}") from None
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"field {field!r} must have {ndim} dimension(s), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"field {field!r} contains non-finite values")
    return a


def _t(a: np.ndarray, ctx: ImportContext) -> Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=ctx.dtype)


def _same_shape(node: nir.NIRNode, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    arrays = {f: _arr(node, f) for f in fields}
    shapes = {f: a.shape for f, a in arrays.items()}  # type: ignore[union-attr]
    if len(set(shapes.values())) != 1:
        raise ValueError(f"neuron parameters must all have the same shape, got {shapes}")
    return arrays  # type: ignore[return-value]


def _meta_str(node: nir.NIRNode, key: str) -> str | None:
    meta = getattr(node, "metadata", None) or {}
    if not isinstance(meta, dict) or key not in meta:
        return None
    v = meta[key]
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v.item()
    if isinstance(v, bytes):
        v = v.decode("utf8", errors="replace")
    return str(v)


def resolve_reset(node: nir.NIRNode, name: str, v_reset: np.ndarray, ctx: ImportContext) -> str:
    """Discrete reset mode for a spiking node (see :func:`~spikeforge.interop.nir.from_nir`)."""
    declared = _meta_str(node, RESET_KEY)
    if declared is not None and declared not in RESETS:
        raise ValueError(f"metadata {RESET_KEY}={declared!r} is not a reset mode; valid: {RESETS.names()}")
    file_mode = declared or "value"  # NIR's own semantics
    mode = ctx.reset or file_mode
    if mode == file_mode:
        return mode
    equivalent = {mode, file_mode} == {"value", "zero"} and not np.any(v_reset)
    if not equivalent:
        source = f"metadata {RESET_KEY}={declared!r}" if declared else "NIR (reset to v_reset)"
        extra = " and ignores the node's nonzero v_reset" if mode == "zero" and np.any(v_reset) else ""
        warnings.warn(f"node {name!r}: importing with reset={mode!r}{extra}, but the graph declares "
                      f"{source}; outputs will differ from the graph's semantics", NIRWarning, stacklevel=5)
    return mode


def resolve_integrator(node: nir.NIRNode, ctx: ImportContext) -> str:
    """How the imported neuron integrates: ``ctx.integrator``, else ``metadata["integrator"]``, else Euler."""
    declared = _meta_str(node, INTEGRATOR_KEY)
    if declared is not None and declared not in NIR_INTEGRATORS:
        raise ValueError(f"metadata {INTEGRATOR_KEY}={declared!r} is not an integrator; valid: {list(NIR_INTEGRATORS)}")
    return ctx.integrator or declared or "euler"


def _import_lif(n: nir.LIF, name: str, ctx: ImportContext) -> nn.Module:
    a = _same_shape(n, ("tau", "r", "v_leak", "v_threshold", "v_reset"))
    return LIF(tau_mem=_t(a["tau"], ctx), r=_t(a["r"], ctx), v_leak=_t(a["v_leak"], ctx),
               v_th=_t(a["v_threshold"], ctx), v_reset=_t(a["v_reset"], ctx), dt=ctx.dt,
               reset=resolve_reset(n, name, a["v_reset"], ctx), integrator=resolve_integrator(n, ctx), dtype=ctx.dtype)


def _import_if(n: nir.IF, name: str, ctx: ImportContext) -> nn.Module:
    a = _same_shape(n, ("r", "v_threshold", "v_reset"))
    return IF(r=_t(a["r"], ctx), v_th=_t(a["v_threshold"], ctx), v_reset=_t(a["v_reset"], ctx), dt=ctx.dt,
              reset=resolve_reset(n, name, a["v_reset"], ctx), integrator=resolve_integrator(n, ctx), dtype=ctx.dtype)


def _import_cuba_lif(n: nir.CubaLIF, name: str, ctx: ImportContext) -> nn.Module:
    a = _same_shape(n, ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"))
    return CubaLIF(tau_syn=_t(a["tau_syn"], ctx), tau_mem=_t(a["tau_mem"], ctx), r=_t(a["r"], ctx),
                   v_leak=_t(a["v_leak"], ctx), v_th=_t(a["v_threshold"], ctx), v_reset=_t(a["v_reset"], ctx),
                   w_in=_t(a["w_in"], ctx), dt=ctx.dt, reset=resolve_reset(n, name, a["v_reset"], ctx),
                   integrator=resolve_integrator(n, ctx), dtype=ctx.dtype)


def _import_li(n: nir.LI, name: str, ctx: ImportContext) -> nn.Module:
    a = _same_shape(n, ("tau", "r", "v_leak"))
    return LI(tau_mem=_t(a["tau"], ctx), r=_t(a["r"], ctx), v_leak=_t(a["v_leak"], ctx), dt=ctx.dt,
              integrator=resolve_integrator(n, ctx), dtype=ctx.dtype)


def _import_cuba_li(n: nir.CubaLI, name: str, ctx: ImportContext) -> nn.Module:
    a = _same_shape(n, ("tau_syn", "tau_mem", "r", "v_leak", "w_in"))
    return CubaLI(tau_syn=_t(a["tau_syn"], ctx), tau_mem=_t(a["tau_mem"], ctx), r=_t(a["r"], ctx),
                  v_leak=_t(a["v_leak"], ctx), w_in=_t(a["w_in"], ctx), dt=ctx.dt,
                  integrator=resolve_integrator(n, ctx), dtype=ctx.dtype)


def _import_i(n: nir.I, name: str, ctx: ImportContext) -> nn.Module:
    return Integrator(r=_t(_arr(n, "r"), ctx), dt=ctx.dt, integrator=resolve_integrator(n, ctx),  # type: ignore[arg-type]
                      dtype=ctx.dtype)


def _linear(weight: np.ndarray, bias: np.ndarray | None, ctx: ImportContext) -> nn.Linear:
    out_f, in_f = weight.shape
    m = nn.Linear(in_f, out_f, bias=bias is not None, dtype=ctx.dtype)
    with torch.no_grad():
        m.weight.copy_(_t(weight, ctx))
        if bias is not None:
            if bias.shape != (out_f,):
                raise ValueError(f"bias shape {bias.shape} does not match weight shape {weight.shape}")
            m.bias.copy_(_t(bias, ctx))
    return m


def _import_affine(n: nir.Affine, name: str, ctx: ImportContext) -> nn.Module:
    return _linear(_arr(n, "weight", ndim=2), _arr(n, "bias", ndim=1), ctx)  # type: ignore[arg-type]


def _import_linear(n: nir.Linear, name: str, ctx: ImportContext) -> nn.Module:
    return _linear(_arr(n, "weight", ndim=2), None, ctx)  # type: ignore[arg-type]


def _ints(value: Any, field: str, count: int) -> tuple[int, ...]:
    a = np.asarray(value).reshape(-1)
    if a.size == 1:
        a = np.repeat(a, count)
    if a.size != count or not np.all(np.isfinite(a.astype(np.float64))) or np.any(a != np.round(a)) or np.any(a < 0):
        raise ValueError(f"field {field!r} must be {count} non-negative int(s), got {value!r}")
    return tuple(int(x) for x in a)


def _conv_padding_in(value: Any, count: int) -> tuple[int, ...] | str:
    if isinstance(value, np.ndarray) and value.dtype.kind in "SUO" and value.shape == ():
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf8", errors="replace")
    if isinstance(value, str):
        if value not in ("same", "valid"):
            raise ValueError(f"field 'padding' must be 'same', 'valid' or ints, got {value!r}")
        return value
    return _ints(value, "padding", count)


def _import_conv(n: nir.Conv1d | nir.Conv2d, name: str, ctx: ImportContext, dims: int) -> nn.Module:
    w = _arr(n, "weight", ndim=2 + dims)
    groups = _ints(n.groups, "groups", 1)[0]
    if groups < 1 or w.shape[0] % groups:  # type: ignore[union-attr]
        raise ValueError(f"groups={groups} must be >= 1 and divide the {w.shape[0]} output channels")  # type: ignore[union-attr]
    bias = _arr(n, "bias", ndim=1, optional=True)
    cls = nn.Conv1d if dims == 1 else nn.Conv2d
    geometry: dict[str, Any] = {"stride": _ints(n.stride, "stride", dims), "padding": _conv_padding_in(n.padding, dims),
                                "dilation": _ints(n.dilation, "dilation", dims)}
    conv = cls(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]),  # type: ignore[union-attr]
               groups=groups, bias=True, dtype=ctx.dtype, **geometry)
    with torch.no_grad():
        conv.weight.copy_(_t(w, ctx))  # type: ignore[arg-type]
        if bias is not None and bias.shape != (w.shape[0],):  # type: ignore[union-attr]
            raise ValueError(f"bias shape {bias.shape} does not match {w.shape[0]} output channels")  # type: ignore[union-attr]
        conv.bias.copy_(_t(bias, ctx) if bias is not None else torch.zeros(w.shape[0], dtype=ctx.dtype))  # type: ignore[union-attr]
    return TimeDistributed(conv)


def _import_avgpool(n: nir.AvgPool2d, name: str, ctx: ImportContext) -> nn.Module:
    k, s, p = (_ints(getattr(n, f), f, 2) for f in ("kernel_size", "stride", "padding"))
    if min(k) < 1 or min(s) < 1 or any(2 * pi > ki for pi, ki in zip(p, k)):
        raise ValueError(f"invalid pooling kernel_size={k}, stride={s}, padding={p}")
    return TimeDistributed(nn.AvgPool2d((k[0], k[1]), (s[0], s[1]), (p[0], p[1]), count_include_pad=True))


def _import_sumpool(n: nir.SumPool2d, name: str, ctx: ImportContext) -> nn.Module:
    k, s, p = (_ints(getattr(n, f), f, 2) for f in ("kernel_size", "stride", "padding"))
    return SumPool2d(k, s, p)


def _import_flatten(n: nir.Flatten, name: str, ctx: ImportContext) -> nn.Module:
    s, e = int(n.start_dim), int(n.end_dim)
    shape = (n.input_type or {}).get("input")
    if shape is not None:
        nd = len(np.asarray(shape).reshape(-1))
        s, e = (s if s >= 0 else nd + s), (e if e >= 0 else nd + e)
        if not 0 <= s <= e < nd:
            raise ValueError(f"start_dim={n.start_dim}, end_dim={n.end_dim} out of range for input shape {list(shape)}")
    # [T*B, *] inside TimeDistributed: per-sample dim d is dim d + 1
    return TimeDistributed(nn.Flatten(s + 1 if s >= 0 else s, e + 1 if e >= 0 else e))


def _import_scale(n: nir.Scale, name: str, ctx: ImportContext) -> nn.Module:
    return Scale(_t(_arr(n, "scale"), ctx))  # type: ignore[arg-type]


def _import_threshold(n: nir.Threshold, name: str, ctx: ImportContext) -> nn.Module:
    return Threshold(_t(_arr(n, "threshold"), ctx))  # type: ignore[arg-type]


def _import_delay(n: nir.Delay, name: str, ctx: ImportContext) -> nn.Module:
    return Delay.from_seconds(_arr(n, "delay"), ctx.dt)


ImportFn = Callable[[Any, str, ImportContext], nn.Module]

IMPORTERS: dict[type, ImportFn] = {
    nir.Affine: _import_affine,
    nir.Linear: _import_linear,
    nir.Scale: _import_scale,
    nir.Conv1d: lambda n, name, ctx: _import_conv(n, name, ctx, 1),
    nir.Conv2d: lambda n, name, ctx: _import_conv(n, name, ctx, 2),
    nir.SumPool2d: _import_sumpool,
    nir.AvgPool2d: _import_avgpool,
    nir.Flatten: _import_flatten,
    nir.Delay: _import_delay,
    nir.Threshold: _import_threshold,
    nir.I: _import_i,
    nir.IF: _import_if,
    nir.LI: _import_li,
    nir.LIF: _import_lif,
    nir.CubaLI: _import_cuba_li,
    nir.CubaLIF: _import_cuba_lif,
}
"""NIR primitive type → importer (``Input``, ``Output`` and ``NIRGraph`` are handled by the graph walker)."""


def import_leaf(node: nir.NIRNode, name: str, ctx: ImportContext) -> nn.Module:
    """Module for one NIR primitive; ``NIRFormatError`` names the node and the problem."""
    fn = IMPORTERS.get(type(node))
    if fn is None:
        raise NIRFormatError(f"node {name!r}: NIR type {type(node).__name__} is not supported; supported: "
                             f"{sorted(t.__name__ for t in IMPORTERS)}, Input, Output, NIRGraph")
    try:
        return fn(node, name, ctx)
    except NIRFormatError:
        raise
    except (ValueError, TypeError, RuntimeError, AttributeError) as e:
        raise NIRFormatError(f"node {name!r} ({type(node).__name__}): {e}") from e


def _finite_dt(dt: float) -> float:
    dt = float(dt)
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    return dt
