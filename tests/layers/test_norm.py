"""tdBN and BNTT against manual float64 computations."""

from __future__ import annotations

import pytest
import torch

from spikeforge.layers import BNTT, TDBatchNorm, td_batch_norm


def _manual_tdbn(xs: torch.Tensor, w: torch.Tensor, b: torch.Tensor, scale: float, eps: float) -> torch.Tensor:
    dims = [d for d in range(xs.dim()) if d != 2]  # all but channels
    mean = xs.mean(dim=dims, keepdim=True)
    var = ((xs - mean) ** 2).mean(dim=dims, keepdim=True)  # biased
    shape = [1, 1, -1] + [1] * (xs.dim() - 3)
    return scale * w.view(shape) * (xs - mean) / torch.sqrt(var + eps) + b.view(shape)


@pytest.mark.parametrize("shape", [(4, 3, 2), (4, 3, 2, 5), (3, 2, 2, 4, 4)])
def test_tdbn_training_matches_manual_statistics_over_time_batch_space(shape: tuple[int, ...]) -> None:
    torch.manual_seed(1)
    xs = torch.randn(shape, dtype=torch.float64) * 3 + 1
    bn = TDBatchNorm(shape[2], alpha=0.7, v_th=0.5, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.5, -0.5])[: shape[2]])
        bn.bias.copy_(torch.tensor([0.2, 0.3])[: shape[2]])
    ys = bn(xs)
    expected = _manual_tdbn(xs, bn.weight.detach(), bn.bias.detach(), 0.7 * 0.5, bn.eps)
    torch.testing.assert_close(ys, expected)
    # running stats: momentum 0.1 towards the batch mean and the *unbiased* variance
    dims = [d for d in range(xs.dim()) if d != 2]
    n = xs.numel() // shape[2]
    mean = xs.mean(dim=dims)
    var_unbiased = xs.var(dim=dims, unbiased=True)
    torch.testing.assert_close(bn.running_mean, 0.1 * mean)
    torch.testing.assert_close(bn.running_var, 0.9 + 0.1 * var_unbiased)
    assert n > 1


def test_tdbn_eval_uses_running_statistics() -> None:
    bn = TDBatchNorm(2, v_th=2.0, dtype=torch.float64)
    bn.running_mean.copy_(torch.tensor([1.0, -1.0]))
    bn.running_var.copy_(torch.tensor([4.0, 0.25]))
    bn.eval()
    xs = torch.randn(3, 2, 2, dtype=torch.float64)
    mean = torch.tensor([1.0, -1.0], dtype=torch.float64)
    std = torch.sqrt(torch.tensor([4.0, 0.25], dtype=torch.float64) + bn.eps)
    torch.testing.assert_close(bn(xs), 2.0 * (xs - mean) / std)


def test_tdbn_pure_function_without_parameters() -> None:
    xs = torch.randn(5, 4, 3, dtype=torch.float64)
    ys = td_batch_norm(xs, None, None, None, None, training=False, alpha=2.0)
    expected = _manual_tdbn(xs, torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), 2.0, 1e-5)
    torch.testing.assert_close(ys, expected)


def test_bntt_uses_separate_statistics_per_time_step() -> None:
    torch.manual_seed(2)
    T, B, C = 3, 6, 2
    xs = torch.randn(T, B, C, 4, dtype=torch.float64) * torch.arange(1.0, T + 1).view(T, 1, 1, 1) + 5
    bn = BNTT(C, steps=T, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.arange(1.0, T * C + 1).view(T, C))
        bn.bias.copy_(-torch.arange(T * C, dtype=torch.float64).view(T, C))
    ys = bn(xs)
    for t in range(T):
        x = xs[t]  # [B, C, 4]
        mean = x.mean(dim=(0, 2), keepdim=True)
        var = x.var(dim=(0, 2), unbiased=False, keepdim=True)
        exp = bn.weight[t].view(1, C, 1) * (x - mean) / torch.sqrt(var + bn.eps) + bn.bias[t].view(1, C, 1)
        torch.testing.assert_close(ys[t], exp.detach())
        torch.testing.assert_close(bn.running_mean[t], 0.1 * x.mean(dim=(0, 2)))
    bn.eval()
    ys_eval = bn(xs)
    assert not torch.allclose(ys_eval, ys)


def test_norm_bad_input() -> None:
    with pytest.raises(ValueError, match=r"expected input \[T, B, C=4, \*S\]"):
        TDBatchNorm(4)(torch.randn(3, 2, 5))
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        TDBatchNorm(4)(torch.randn(4))
    with pytest.raises(ValueError, match="built for steps=3 time steps, got T=5"):
        BNTT(2, steps=3)(torch.randn(5, 2, 2))
    with pytest.raises(ValueError, match="sizes must be positive ints"):
        TDBatchNorm(0)
