"""Shared type aliases and protocols."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, TypeVar

from torch import Tensor

__all__ = ["ResetFn", "StateT", "ParamsT", "Quantizer", "TensorLike"]

TensorLike = Tensor | float
StateT = TypeVar("StateT", bound=NamedTuple)
ParamsT = TypeVar("ParamsT", bound=NamedTuple)


class ResetFn(Protocol):
    """``reset(v, z, v_th, v_reset) -> v``: membrane after a spike ``z`` (0/1)."""

    def __call__(self, v: Tensor, z: Tensor, v_th: Any, v_reset: Any) -> Tensor: ...


class Quantizer(Protocol):
    """Maps a tensor to its quantized value (straight-through in backward)."""

    def __call__(self, x: Tensor) -> Tensor: ...
