"""TimeDistributed: folding time into the batch, optionally in channels-last layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.layers import TimeDistributed
from spikeforge.neurons import LIF


def test_matches_per_step_loop(gen):
    conv = nn.Conv2d(2, 4, 3, padding=1)
    xs = torch.rand(5, 3, 2, 8, 8, generator=gen)
    ys = TimeDistributed(conv)(xs)
    ref = torch.stack([conv(x) for x in xs])  # independent: one call per time step
    torch.testing.assert_close(ys, ref)


@pytest.mark.parametrize("backend", ["torch", "cpp"])
def test_channels_last_stack_equals_default_layout(backend, gen):
    from spikeforge.kernels import available_backends
    if backend not in available_backends():
        pytest.skip("no C++ compiler")
    torch.manual_seed(0)
    conv, pool = nn.Conv2d(2, 8, 3, padding=1), nn.AvgPool2d(2)
    xs = (torch.rand(6, 4, 2, 12, 12, generator=gen) < 0.3).float() * 3.0

    def net(fmt):
        return nn.Sequential(TimeDistributed(conv, memory_format=fmt), LIF.from_decay(0.8, backend=backend),
                             TimeDistributed(pool, memory_format=fmt))

    out_cl = net(torch.channels_last)(xs)
    out = net(None)(xs)
    hidden = net(torch.channels_last)[:2](xs)
    assert hidden.flatten(0, 1).is_contiguous(memory_format=torch.channels_last)
    # conv sums in a different order per layout: values agree to rounding, spikes to rare flips
    assert (out_cl - out).abs().max() < 1e-5 or (out_cl != out).float().mean() < 1e-3


def test_bad_memory_format_and_rank():
    with pytest.raises(ValueError, match="memory_format must be"):
        TimeDistributed(nn.Identity(), memory_format=torch.contiguous_format)
    td = TimeDistributed(nn.Identity(), memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="needs \\[T, B\\] \\+ 3 dims"):
        td(torch.rand(3, 2, 5))
    with pytest.raises(TypeError, match="nn.Module"):
        TimeDistributed(torch.relu)  # type: ignore[arg-type]
