"""Event-driven linear layer: same results as the dense layer, forward and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spikeforge.kernels import available_backends
from spikeforge.layers.sparse_linear import MIN_EVENT_OUT, EventLinear, event_linear, event_linear_grad_weight

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rate", [0.0, 0.03, 0.5, 1.0])
def test_matches_dense(rate, dtype, gen):
    x = (torch.rand(5, 3, 37, generator=gen) < rate).to(dtype)
    x[0, 0, :3] = torch.tensor([0.5, -2.0, 0.0], dtype=dtype)  # graded values work too
    w = torch.randn(19, 37, generator=gen, dtype=dtype)
    b = torch.randn(19, generator=gen, dtype=dtype)
    torch.testing.assert_close(event_linear(x, w.t().contiguous(), b), F.linear(x, w, b))
    torch.testing.assert_close(event_linear(x, w.t().contiguous()), F.linear(x, w))


def test_training_gradients_match_dense(gen):
    fc = EventLinear(40, 9, mode="event")
    x = ((torch.rand(6, 4, 40, generator=gen) < 0.1).float()).requires_grad_()
    g = torch.randn(6, 4, 9, generator=gen)
    (fc(x) * g).sum().backward()
    got = (x.grad.clone(), fc.weight.grad.clone(), fc.bias.grad.clone())
    x.grad = fc.weight.grad = fc.bias.grad = None
    (F.linear(x, fc.weight, fc.bias) * g).sum().backward()
    for a, b in zip(got, (x.grad, fc.weight.grad, fc.bias.grad)):
        torch.testing.assert_close(a, b)


def test_auto_mode_picks_by_rate(gen):
    fc = EventLinear(64, 64, crossover=0.1)
    sparse = (torch.rand(10, 64, generator=gen) < 0.02).float()
    dense = torch.rand(10, 64, generator=gen)
    assert fc.uses_event_path(sparse) and not fc.uses_event_path(dense)
    assert fc.uses_event_path(sparse.to(torch.uint8)) and fc.uses_event_path(sparse.bool())
    # narrower than MIN_EVENT_OUT outputs: the dense matmul wins at any rate
    assert not EventLinear(64, MIN_EVENT_OUT - 1, crossover=0.1).uses_event_path(sparse)
    assert not EventLinear(64, 8, mode="dense").uses_event_path(sparse)
    with pytest.raises(ValueError, match="mode"):
        EventLinear(4, 4, mode="fast")


def test_weight_cache_follows_updates(gen):
    fc = EventLinear(16, 4, mode="event")
    x = (torch.rand(3, 16, generator=gen) < 0.3).float()
    with torch.no_grad():
        fc(x)
        fc.weight.add_(1.0)
        torch.testing.assert_close(fc(x), F.linear(x, fc.weight, fc.bias))


def _ordered_sum(x2: torch.Tensor, wt: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """Reference: bias + the active inputs' terms added one at a time in increasing index."""
    out = torch.zeros(x2.shape[0], wt.shape[1], dtype=wt.dtype)
    for r in range(x2.shape[0]):
        acc = b.clone() if b is not None else torch.zeros(wt.shape[1], dtype=wt.dtype)
        for k in torch.nonzero(x2[r]).flatten().tolist():
            s = x2[r, k].to(wt.dtype)
            acc = acc + wt[k] if s == 1 else acc + s * wt[k]
        out[r] = acc
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_out", [1, 5, 8, 20, 64, 97, 259])  # every SIMD tile width and tails
@pytest.mark.parametrize("rate", [0.0, 0.05, 0.4, 1.0])
def test_equals_ordered_sum_of_active_columns(rate, n_out, bias, dtype, gen):
    K = 75
    x = (torch.rand(9, K, generator=gen) < rate).to(dtype)
    x[2] = 0  # an all-zero row -> exactly the bias
    x[3, :4] = torch.tensor([0.5, -2.0, 0.0, 3.0], dtype=dtype)  # graded values
    wt = torch.randn(K, n_out, generator=gen, dtype=dtype)
    b = torch.randn(n_out, generator=gen, dtype=dtype) if bias else None
    y = event_linear(x, wt, b)
    assert torch.equal(y, _ordered_sum(x, wt, b))  # bit-exact: documented summation order
    torch.testing.assert_close(y, F.linear(x, wt.t(), b))  # = dense within summation tolerance
    assert torch.equal(y[2], b if bias else torch.zeros(n_out, dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("store", [torch.uint8, torch.bool])
def test_byte_spikes_equal_float_spikes(store, dtype, gen):
    x = torch.rand(1, 7, 130, generator=gen) < 0.07  # T = 1
    wt = torch.randn(130, 70, generator=gen, dtype=dtype)
    b = torch.randn(70, generator=gen, dtype=dtype)
    y = event_linear(x.to(store), wt, b)
    assert y.dtype == dtype and y.shape == (1, 7, 70)
    assert torch.equal(y, event_linear(x.to(dtype), wt, b))
    gy = torch.randn(1, 7, 70, generator=gen, dtype=dtype)
    assert torch.equal(event_linear_grad_weight(x.to(store), gy), event_linear_grad_weight(x.to(dtype), gy))


def test_non_contiguous_and_t1_inputs(gen):
    base = (torch.rand(40, 6, 3, generator=gen) < 0.1).float()
    x = base.permute(2, 1, 0)[:1]  # [T=1, 6, 40], non-contiguous
    assert not x.is_contiguous()
    w = torch.randn(66, 40, generator=gen)
    b = torch.randn(66, generator=gen)
    torch.testing.assert_close(event_linear(x, w.t().contiguous(), b), F.linear(x, w, b))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rate", [0.0, 0.05, 1.0])
def test_grad_weight_matches_dense(rate, dtype, gen):
    x = (torch.rand(3, 50, 90, generator=gen) < rate).to(dtype)
    gy = torch.randn(3, 50, 70, generator=gen, dtype=dtype)
    torch.testing.assert_close(event_linear_grad_weight(x, gy), gy.reshape(-1, 70).t() @ x.reshape(-1, 90))


def test_training_with_byte_input_matches_dense(gen):
    fc = EventLinear(100, 64, mode="event")
    x = torch.rand(4, 5, 100, generator=gen) < 0.05
    g = torch.randn(4, 5, 64, generator=gen)
    (fc(x.to(torch.uint8)) * g).sum().backward()
    got = (fc.weight.grad.clone(), fc.bias.grad.clone())
    fc.weight.grad = fc.bias.grad = None
    (F.linear(x.float(), fc.weight, fc.bias) * g).sum().backward()
    for a, b in zip(got, (fc.weight.grad, fc.bias.grad)):
        torch.testing.assert_close(a, b)
    dense = EventLinear(100, 64, mode="dense")
    assert dense(x.to(torch.uint8)).dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n_out", [64, 133])  # the 8-vector register tile (64 floats / 2 x 32 doubles), plus tails
def test_grad_weight_graded_inputs_on_wide_tiles(n_out, dtype, gen):
    """Graded (non-binary) inputs take the ``x * grad_y`` branch of the wide SIMD tile."""
    x = torch.randn(2, 40, 90, generator=gen, dtype=dtype)
    x = x * (torch.rand(x.shape, generator=gen) < 0.3)  # sparse, graded, some exactly 1
    x[0, :5, :3] = 1.0
    gy = torch.randn(2, 40, n_out, generator=gen, dtype=dtype)
    dense = gy.reshape(-1, n_out).t() @ x.reshape(-1, 90)  # [N, K]
    torch.testing.assert_close(event_linear_grad_weight(x, gy), dense)


def test_multithreaded_matches_dense(gen, many_threads):
    """Forward batches and the weight gradient's per-thread share of the inputs k on several threads:
    every thread's rows and inputs count. 320 rows: 10 forward batches, 90 inputs over 4 threads."""
    x = (torch.rand(8, 40, 90, generator=gen) < 0.2).float()
    x[0] *= torch.randn(40, 90, generator=gen)  # graded rows too
    w = torch.randn(133, 90, generator=gen)
    b = torch.randn(133, generator=gen)
    torch.testing.assert_close(event_linear(x, w.t().contiguous(), b), F.linear(x, w, b))
    gy = torch.randn(8, 40, 133, generator=gen)
    torch.testing.assert_close(event_linear_grad_weight(x, gy), gy.reshape(-1, 133).t() @ x.reshape(-1, 90))
    xb = x.bool() & (x == 1)
    torch.testing.assert_close(event_linear_grad_weight(xb.to(torch.uint8), gy),
                               gy.reshape(-1, 133).t() @ xb.reshape(-1, 90).float())


def _ordered_grad_weight(x: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Independent reference: gwt[k] = sum of x[r, k] * gy[r] over rows r in increasing order."""
    gwt = torch.zeros(x.shape[1], gy.shape[1], dtype=gy.dtype)
    for r in range(x.shape[0]):
        ks = x[r].nonzero().flatten()
        gwt[ks] += x[r, ks, None].to(gy.dtype) * gy[r]  # one rounding per added row
    return gwt.t()  # [N, K]


@pytest.mark.parametrize("threads", [1, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grad_weight_equals_ordered_sum_of_rows(threads, dtype, gen, monkeypatch):
    """The weight gradient is exactly the sequential sum over active rows in increasing order, on one
    thread and on several: 1100 rows span three row blocks of the kernel (512 rows each), and
    N = 75 covers the wide tile, the 4- and 1-vector tiles and a scalar tail."""
    from spikeforge.kernels import cpu
    monkeypatch.setattr(cpu, "PARALLEL_GRAIN", 1)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = (torch.rand(1100, 40, generator=gen) < 0.1).to(dtype)
        x[5, :6] = torch.tensor([0.5, -2.0, 0.0, 3.0, 1.0, 0.25], dtype=dtype)  # graded values
        gy = torch.randn(1100, 75, generator=gen, dtype=dtype)
        assert torch.equal(event_linear_grad_weight(x, gy), _ordered_grad_weight(x, gy))
        xb = (x == 1).to(torch.uint8)
        assert torch.equal(event_linear_grad_weight(xb, gy), _ordered_grad_weight(xb, gy))
    finally:
        torch.set_num_threads(old)
