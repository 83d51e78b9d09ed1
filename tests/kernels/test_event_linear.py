"""Event-driven linear layer: same results as the dense layer, forward and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spikeforge.kernels import available_backends
from spikeforge.layers.sparse_linear import EventLinear, event_linear

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
    fc = EventLinear(64, 8, crossover=0.1)
    sparse = (torch.rand(10, 64, generator=gen) < 0.02).float()
    dense = torch.rand(10, 64, generator=gen)
    assert fc.uses_event_path(sparse) and not fc.uses_event_path(dense)
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
