"""Direct coding: feed the analog value as an input current at every step."""

from __future__ import annotations

from torch import Tensor, nn

from ._base import ENCODERS, check_static, check_steps

__all__ = ["direct_encode", "DirectEncoder"]


def direct_encode(x: Tensor, steps: int) -> Tensor:
    """Repeat ``x`` at every one of ``steps`` time steps (differentiable).

    Shapes:
        ``x [B, *F] -> [T, B, *F]`` (a contiguous copy, so in-place ops downstream are safe).

    Example:
        >>> direct_encode(torch.tensor([[0.5, 0.25]]), 3)[:, 0].tolist()
        [[0.5, 0.25], [0.5, 0.25], [0.5, 0.25]]
    """
    steps = check_steps(steps)
    check_static(x, "direct_encode")
    return x.unsqueeze(0).expand(steps, *x.shape).contiguous()  # [B, *F] -> [T, B, *F]


@ENCODERS.register("direct", input="static")
class DirectEncoder(nn.Module):
    """Direct (analog current) encoder; see :func:`direct_encode`.

    Shapes:
        ``forward(x [B, *F]) -> [T, B, *F]``

    Example:
        >>> DirectEncoder(steps=8)(torch.rand(4, 64)).shape
        torch.Size([8, 4, 64])
    """

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = check_steps(steps)

    def forward(self, x: Tensor) -> Tensor:
        return direct_encode(x, self.steps)

    def extra_repr(self) -> str:
        return f"steps={self.steps}"
