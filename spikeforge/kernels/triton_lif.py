"""The ``"triton"`` backend: fused multi-step LIF-family kernels for CUDA tensors.

Same contract, stored-state layout and coefficients as the ``"cpp"`` backend (:mod:`.cpu`): a
neuron's spec turns its parameters into the coefficients of one charge equation
(:mod:`.specs`), the ``[T, B, *]`` input is viewed as ``[T, M]`` in memory order, and one autograd
function runs all ``T`` steps; forward stores nothing but its inputs, backward recomputes the
trajectory. The kernels themselves are in :mod:`._triton_src` (imported on first use, so
``import spikeforge`` never imports Triton).

Where it runs: CUDA tensors when ``triton`` is importable; under Triton's interpreter
(``TRITON_INTERPRET=1`` set before Triton is imported) also CPU tensors, which is how the parity
tests run on a machine without a GPU. ``backend="auto"`` picks it for CUDA tensors only, so CPU
behaviour never depends on whether Triton is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
from types import SimpleNamespace
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._build import BackendUnavailableError
from .cpu import _NonFiniteAt, call_unsupported, run_elementwise
from .specs import COEFS, SLOTS, KernelSpec

__all__ = ["BLOCK", "interpreting", "run_triton", "triton_available", "triton_supports"]

BLOCK = 128  # neurons per program (one column block of the [T, M] view); tests lower it
_built: dict[bool, SimpleNamespace] = {}  # the jitted kernels, per interpreter mode


def interpreting() -> bool:
    """Whether Triton runs kernels in its interpreter (``TRITON_INTERPRET=1``): CPU tensors allowed."""
    return os.environ.get("TRITON_INTERPRET", "").strip().lower() in ("1", "true", "yes", "on")


def _unavailable() -> str | None:
    """Why Triton cannot run at all on this machine, or ``None``."""
    if importlib.util.find_spec("triton") is None:
        return "the 'triton' backend needs the triton package (pip install triton)"
    if not interpreting() and not torch.cuda.is_available():
        return "the 'triton' backend needs a CUDA GPU (or TRITON_INTERPRET=1 for Triton's CPU interpreter)"
    return None


def triton_available() -> bool:
    """Whether the ``"triton"`` backend can run on this machine (package, and a GPU or the interpreter)."""
    return _unavailable() is None


def load_kernels(module: str, built: dict[bool, SimpleNamespace]) -> SimpleNamespace:
    """The kernels of ``spikeforge.kernels.<module>`` (a Triton source module with a ``build()``),
    jitted once per mode (compiled, or Triton's interpreter) and kept in ``built``."""
    mode = interpreting()
    if mode not in built:
        try:
            src = importlib.import_module(f"{__package__}.{module}")
        except Exception as e:  # a broken Triton install must not crash the caller
            raise BackendUnavailableError(f"the 'triton' backend could not import its kernels ({module}): {e}") from e
        built[mode] = src.build()
    return built[mode]


def _kernels() -> SimpleNamespace:
    """The LIF-family kernels (:mod:`._triton_src`)."""
    return load_kernels("_triton_src", _built)


def triton_supports(spec: KernelSpec | None, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
    """``None`` if the ``triton`` backend can run this call exactly, else the reason it cannot."""
    if spec is None:
        return "no fused kernel for this neuron model"
    why = _unavailable()
    if why is not None:
        return why
    if xs.device.type != "cuda" and not (interpreting() and xs.device.type == "cpu"):
        return (f"the 'triton' backend runs on CUDA tensors (CPU tensors only under TRITON_INTERPRET=1), "
                f"got device {xs.device}")
    return call_unsupported(spec, xs, state, kwargs, "triton")


def _surrogate_consts(sg_kind: int, p: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``[a, k1, k2]`` of the surrogate in the compute dtype, as ``csrc/lif.cpp`` derives them."""
    a = torch.tensor(p, dtype=dtype)
    k1, k2 = torch.zeros((), dtype=dtype), torch.zeros((), dtype=dtype)
    if sg_kind == 2:  # atan: alpha / 2, pi / 2 * alpha
        k1, k2 = a / 2, torch.tensor(math.pi / 2, dtype=dtype) * a
    elif sg_kind in (6, 8):  # erf / pdsg: 1 / (sigma sqrt(2 pi)); pdsg's centre sigma / 2
        k1 = 1 / (a * torch.tensor(math.sqrt(2 * math.pi), dtype=dtype))
        k2 = a / 2
    return torch.stack([a, k1, k2]).to(device)  # [3]


class _Config(NamedTuple):
    kind: int
    reset: int
    detach: int
    sg_kind: int
    sg_p: float
    slots: tuple[int, ...]  # kernel slot of each state field
    coef_slots: tuple[int, ...]  # kernel slot of each coefficient passed in
    check: int  # 1: the forward kernel records the first non-finite state per neuron


def _launch(kernel: Any, M: int, *args: Any, **meta: Any) -> None:
    grid = (triton_cdiv(M, BLOCK),)
    # enable_fp_fusion=False: no a * b + c contracted into one FMA, so every op rounds once like torch's
    kernel[grid](*args, BLOCK=BLOCK, enable_fp_fusion=False, **meta)


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _first_nonfinite(x: Tensor, st0: list[Tensor | None], stT: list[Tensor | None],
                     first_bad: Tensor | None) -> _NonFiniteAt | None:
    """The earliest non-finite initial state, input or state, in the order of ``csrc/lif.cpp``."""
    T = x.shape[0]
    for slot in (0, 1, 2):  # initial state: t = 0, before any step
        s = st0[slot]
        if s is not None and not bool(torch.isfinite(s).all()):
            m = int((~torch.isfinite(s)).nonzero()[0, 0])
            return _NonFiniteAt(0, m, f"initial state {SLOTS[slot]}", float(s[m]))
    if first_bad is None or int(first_bad.min()) >= T:
        return None
    t = int(first_bad.min())
    m = int((first_bad == t).nonzero()[0, 0])  # smallest neuron index at the first bad step
    xv = float(x[t, m])
    if not math.isfinite(xv):
        return _NonFiniteAt(t, m, "input", xv)
    for slot in (0, 1, 2):
        s = stT[slot]
        if s is not None and not math.isfinite(float(s[m])):
            return _NonFiniteAt(t, m, f"state {SLOTS[slot]}", float(s[m]))
    return _NonFiniteAt(t, m, "state v", float("nan"))  # became finite again by the end


class _TritonRun(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, cfg: _Config, x: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        src = _kernels()
        n_state = len(cfg.slots)
        states, coefs = rest[:n_state], rest[n_state:]
        T, M = x.shape
        dummy = x.new_zeros(M)  # coefficient and state slots the model does not use
        st0: list[Tensor | None] = [None] * 3
        stT: list[Tensor | None] = [None] * 3
        finals = [torch.empty_like(s) for s in states]
        for slot, s, f in zip(cfg.slots, states, finals):
            st0[slot], stT[slot] = s, f
        c: list[Tensor] = [dummy] * len(COEFS)
        for slot, t in zip(cfg.coef_slots, coefs):
            c[slot] = t
        z = torch.empty_like(x)
        first_bad = torch.empty(M, dtype=torch.int32, device=x.device) if cfg.check else None
        _launch(src.lif_forward, M, x, z, *[dummy if s is None else s for s in st0],
                *[dummy if s is None else s for s in stT], *c,
                dummy if first_bad is None else first_bad, T, M,
                KIND=cfg.kind, RESET=cfg.reset, CHECK=bool(cfg.check))
        if cfg.check:
            found = _first_nonfinite(x, st0, stT, first_bad)
            if found is not None:
                raise found
        ctx.cfg = cfg
        ctx.save_for_backward(x, *states, *coefs)
        return (z, *finals)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gz: Tensor | None, *gfinals: Tensor | None) -> tuple[Any, ...]:
        src = _kernels()
        cfg: _Config = ctx.cfg
        x, *rest = ctx.saved_tensors
        n_state = len(cfg.slots)
        states, coefs = rest[:n_state], rest[n_state:]
        T, M = x.shape
        if gz is None:
            gz = x.new_zeros(()).expand(T, M)
        if gz.dim() != 2 or gz.stride(1) not in (0, 1):
            gz = gz.contiguous()
        dummy = x.new_zeros(M)
        st0: list[Tensor] = [dummy] * 3
        gstT: list[Tensor] = [dummy] * 3  # a missing final-state gradient is zero
        gst0: list[Tensor] = [dummy] * 3
        gstates = []
        for k, (slot, s, g) in enumerate(zip(cfg.slots, states, gfinals)):
            st0[slot] = s
            if g is not None:
                gstT[slot] = g.contiguous()
            gst0[slot] = torch.empty_like(s)
            gstates.append(gst0[slot] if ctx.needs_input_grad[2 + k] else None)
        c: list[Tensor] = [dummy] * len(COEFS)
        for slot, t in zip(cfg.coef_slots, coefs):
            c[slot] = t
        needp = any(ctx.needs_input_grad[2 + n_state:])
        gc = x.new_empty(len(COEFS), M) if needp else dummy  # [9, M] per-coefficient gradients
        gx = torch.empty_like(x)
        scratch = x.new_empty(2, T, M)  # v1 and the membrane before each step
        ib = x.new_empty(T + 1, M) if cfg.kind == 1 else dummy  # i before step t (row t)
        ab = x.new_empty(T, M) if cfg.kind == 2 else dummy  # a before step t
        sg = _surrogate_consts(cfg.sg_kind, cfg.sg_p, x.dtype, x.device)
        _launch(src.lif_backward, M, x, gz, gz.stride(0), gz.stride(1), gx, *st0, *gstT, *gst0, *c, gc, sg,
                scratch[0], scratch[1], ib, ab, T, M,
                KIND=cfg.kind, RESET=cfg.reset, DETACH=bool(cfg.detach), SG_KIND=cfg.sg_kind, NEEDP=needp)
        gcoefs = [gc[slot] if ctx.needs_input_grad[2 + n_state + k] else None
                  for k, slot in enumerate(cfg.coef_slots)]
        return (None, gx if ctx.needs_input_grad[1] else None, *gstates, *gcoefs)


def run_triton(spec: KernelSpec | None, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any],
               where: str | None = None) -> tuple[Tensor, Any]:
    """Run a whole ``[T, B, *]`` sequence through the Triton kernels; same contract as
    :func:`~spikeforge.kernels.cpu.run_cpp` (and ``Neuron.run``). Raises
    :class:`BackendUnavailableError` with the reason when the call cannot run on this backend."""
    why = triton_supports(spec, xs, state, kwargs)
    if why is not None:
        raise BackendUnavailableError(why)
    assert spec is not None
    _kernels()  # import errors surface here, before autograd is involved

    def launch(fields: dict[str, Any], x2: Tensor, states: list[Tensor], flat: list[Tensor]) -> Any:
        return _TritonRun.apply(_Config(**fields), x2, *states, *flat)

    return run_elementwise(spec, xs, state, p, kwargs, where, launch)
