"""Pure reset functions ``reset(v, z, v_th, v_reset) -> v`` and their registry.

- ``subtract``: :math:`v - z\\,v_{th}` (soft reset; keeps the overshoot)
- ``value``: :math:`v(1 - z) + z\\,v_{reset}` (hard reset to ``v_reset``)
- ``zero``: :math:`v(1 - z)` (hard reset to 0)
- ``none``: :math:`v` (no reset; useful for readouts and analysis)
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._registry import Registry
from ..types import ResetFn

__all__ = ["RESETS", "reset_subtract", "reset_to_value", "reset_zero", "reset_none", "get_reset"]

RESETS: Registry[ResetFn] = Registry("reset mode")


@RESETS.register("subtract")
def reset_subtract(v: Tensor, z: Tensor, v_th: Any, v_reset: Any) -> Tensor:
    """Subtract the threshold where a spike occurred."""
    return v - z * v_th


@RESETS.register("value")
def reset_to_value(v: Tensor, z: Tensor, v_th: Any, v_reset: Any) -> Tensor:
    """Set the membrane to ``v_reset`` where a spike occurred."""
    return v * (1 - z) + z * v_reset


@RESETS.register("zero")
def reset_zero(v: Tensor, z: Tensor, v_th: Any, v_reset: Any) -> Tensor:
    """Set the membrane to 0 where a spike occurred (ignores ``v_reset``)."""
    return v * (1 - z)


@RESETS.register("none")
def reset_none(v: Tensor, z: Tensor, v_th: Any, v_reset: Any) -> Tensor:
    """Leave the membrane unchanged."""
    return v


def get_reset(spec: str | ResetFn) -> ResetFn:
    """Resolve a reset given by name (``subtract``, ``value``, ``zero``, ``none``) or function."""
    if isinstance(spec, str):
        return RESETS.get(spec)
    if callable(spec):
        return spec
    raise TypeError(f"reset must be a name or a function, got {type(spec).__name__}")
