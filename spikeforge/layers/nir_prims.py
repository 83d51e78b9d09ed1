"""Small stateless layers for NIR primitives that torch lacks: ``Scale``, ``Threshold``, ``SumPool2d``.

Each works on time-major ``[T, B, *]`` sequences (and, being stateless, on any leading dims).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..numerics import check_finite
from ..surrogate import Surrogate, get_surrogate

__all__ = ["Scale", "Threshold", "SumPool2d"]


def _pair(value: Any, name: str) -> tuple[int, int]:
    t = torch.as_tensor(value).flatten().tolist()
    if len(t) == 1:
        t = t * 2
    if len(t) != 2 or any(float(v) != int(v) or int(v) < 0 for v in t):
        raise ValueError(f"{name} must be a non-negative int or a pair of them, got {value!r}")
    return int(t[0]), int(t[1])


class Scale(nn.Module):
    r"""Elementwise gain, NIR's ``Scale``: :math:`y = s \odot x`.

    Args:
        scale: Per-neuron factors (the per-sample shape ``[*]``) or a scalar.

    Shapes:
        ``[T, B, *] -> [T, B, *]``

    Example:
        >>> Scale(torch.tensor([1.0, -2.0]))(torch.ones(3, 4, 2))[0, 0]
        tensor([ 1., -2.])
    """

    scale: Tensor  # registered buffer

    def __init__(self, scale: Tensor | float) -> None:
        super().__init__()
        s = torch.as_tensor(scale, dtype=torch.get_default_dtype()).clone()
        if not bool(torch.all(torch.isfinite(s))):
            raise ValueError("Scale: scale must be finite")
        self.register_buffer("scale", s)

    def forward(self, xs: Tensor) -> Tensor:
        check_sequence(xs, "Scale")
        check_finite(xs, "Scale")
        return xs * self.scale.to(dtype=xs.dtype)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.scale.shape)}"


class Threshold(nn.Module):
    r"""Heaviside of the input against a per-neuron threshold, NIR's ``Threshold``.

    .. math:: z = H(x - \theta) \text{ (strict: } x > \theta\text{)}

    The backward pass uses ``surrogate`` so the layer is trainable.

    Shapes:
        ``[T, B, *] -> [T, B, *]`` (0/1)

    Example:
        >>> Threshold(torch.tensor([0.5, 2.0]))(torch.ones(1, 1, 2))
        tensor([[[1., 0.]]])
    """

    threshold: Tensor  # registered buffer

    def __init__(self, threshold: Tensor | float, *, surrogate: str | Surrogate = "atan") -> None:
        super().__init__()
        th = torch.as_tensor(threshold, dtype=torch.get_default_dtype()).clone()
        if not bool(torch.all(torch.isfinite(th))):
            raise ValueError("Threshold: threshold must be finite")
        self.register_buffer("threshold", th)
        self.surrogate = get_surrogate(surrogate)

    def forward(self, xs: Tensor) -> Tensor:
        check_sequence(xs, "Threshold")
        check_finite(xs, "Threshold")
        return self.surrogate(xs - self.threshold.to(dtype=xs.dtype))

    def extra_repr(self) -> str:
        return f"shape={tuple(self.threshold.shape)}, surrogate={self.surrogate!r}"


class SumPool2d(nn.Module):
    r"""2-D sum pooling, NIR's ``SumPool2d``: the sum over each window (zero padding).

    Computed as average pooling with ``divisor_override=1``, i.e. an exact sum.

    Shapes:
        ``[T, B, C, H, W] -> [T, B, C, H', W']`` with
        ``H' = floor((H + 2 p_h - k_h) / s_h) + 1`` (same for ``W``).

    Example:
        >>> SumPool2d(2)(torch.ones(1, 1, 1, 4, 4)).shape
        torch.Size([1, 1, 1, 2, 2])
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride if stride is not None else kernel_size, "stride")
        self.padding = _pair(padding, "padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1:
            raise ValueError(f"SumPool2d: kernel_size and stride must be >= 1, got {self.kernel_size}, {self.stride}")
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"SumPool2d: padding {self.padding} must be at most half the kernel {self.kernel_size}")

    def forward(self, xs: Tensor) -> Tensor:
        check_sequence(xs, "SumPool2d")
        check_finite(xs, "SumPool2d")
        if xs.dim() != 5:
            raise ValueError(f"SumPool2d expects [T, B, C, H, W], got shape {tuple(xs.shape)}")
        T, B = xs.shape[:2]
        ys = F.avg_pool2d(xs.flatten(0, 1), self.kernel_size, self.stride, self.padding,
                          count_include_pad=True, divisor_override=1)  # [T*B, C, H', W']
        return ys.unflatten(0, (T, B))  # [T, B, C, H', W']

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
