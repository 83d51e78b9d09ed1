"""Fused multi-step backends of the pure neuron step functions.

A backend runs a whole ``[T, B, *]`` sequence of one neuron layer in one call and must produce
the same results as looping the step function (``backend="torch"``): forward outputs
bit-identical in float32, gradients of inputs, initial state and learnable parameters equal to
float tolerance (``tests/kernels``).

Backends:
    ``"torch"``  the reference loop of the step function (always available).
    ``"cpp"``    fused CPU kernels, compiled on first use with the system C++ compiler and cached
                 (:mod:`._build`); LIF, PLIF, CubaLIF, ALIF and LI.
    ``"auto"``   ``"cpp"`` when it supports the call and can be built, else ``"torch"``; never
                 changes results.

A backend asked for by name that cannot run the call raises :class:`BackendUnavailableError`;
nothing falls back silently. The CUDA (Triton) plan is in ``spikeforge/kernels/DESIGN.md``.

Large outputs of the ``"cpp"`` kernels come from a cache of storages that no tensor references any
more (:func:`empty_cache`, :func:`set_cache_limit`, :func:`cache_info`; see :mod:`._cache`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._build import BackendUnavailableError as BackendUnavailableError
from ._build import build_info as build_info
from ._build import load_library
from ._cache import cache_info as cache_info
from ._cache import empty_cache as empty_cache
from ._cache import set_cache_limit as set_cache_limit
from .cpu import run_cpp, supports
from .specs import spec_for

__all__ = ["BACKENDS", "BackendUnavailableError", "available_backends", "build_info", "cache_info", "empty_cache",
           "run_fused", "set_cache_limit"]

BACKENDS = ("auto", "torch", "cpp")


def available_backends() -> list[str]:
    """Backends that can run on this machine (``"cpp"`` only if its library builds/loads)."""
    names = ["torch"]
    try:
        load_library()
        names.append("cpp")
    except BackendUnavailableError:
        pass
    return names


def _tracing() -> bool:
    """True under torch.compile / torch.func transforms, which the opaque kernel would break."""
    try:
        if torch.compiler.is_compiling():
            return True
        return bool(torch._C._are_functorch_transforms_active())
    except AttributeError:  # older torch
        return False


def run_fused(backend: str, step_fn: Callable[..., Any], xs: Tensor, state: Any, p: Any,
              kwargs: dict[str, Any]) -> tuple[Tensor, Any] | None:
    """Run ``step_fn`` over ``xs`` with a fused backend.

    Returns ``None`` when ``backend == "auto"`` and no fused kernel applies (the caller then runs
    the torch reference). Raises :class:`BackendUnavailableError` when a named backend cannot
    run this call, and ``ValueError`` for an unknown backend name.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {list(BACKENDS)}")
    if backend == "torch":
        return None
    spec = spec_for(step_fn)
    if backend == "auto":
        if _tracing() or supports(spec, xs, state, kwargs) is not None:
            return None
        try:
            load_library()
        except BackendUnavailableError:
            return None
    return run_cpp(spec, xs, state, p, kwargs)  # type: ignore[arg-type]
