"""Streaming the learnable-delay layers: the delay line carried as state replaces the zero padding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.layers import DelayLinear, DelayState, LearnableDelay, ModuleGraph
from spikeforge.neurons import LIF


def _layers() -> list[DelayLinear | LearnableDelay]:
    torch.manual_seed(3)
    return [DelayLinear(4, 3, K=7, bias=True, sig=1.5).double(), LearnableDelay(4, K=6, sig=0.8).double()]


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("which", [0, 1])
def test_chunked_run_and_steps_equal_one_run(which: int, train: bool, gen: torch.Generator) -> None:
    layer = _layers()[which].train(train)
    xs = torch.rand(23, 2, 4, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        whole = layer(xs)
        # independent reference: the same layer on the zero-padded whole sequence, sliced
        assert torch.equal(layer.run(xs)[0], whole)
        parts, state = [], None
        for chunk in (xs[:1], xs[1:9], xs[9:10], xs[10:]):
            ys, state = layer.run(chunk, state)
            parts.append(ys)
        steps, s = [], None
        for x in xs:
            y, s = layer.step(x, s)
            steps.append(y)
    torch.testing.assert_close(torch.cat(parts), whole, rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.stack(steps), whole, rtol=0, atol=1e-12)
    assert isinstance(state, DelayState) and torch.equal(state.buffer, xs[xs.shape[0] - (layer.K - 1):])


def test_delay_layer_inside_a_cycle_is_stepped_with_its_line() -> None:
    """In a recurrent ModuleGraph every node runs one step at a time; an axonal delay of d steps
    on the feedback path must still delay by d (it did not when the layer had no state)."""
    torch.manual_seed(4)
    delay = LearnableDelay(5, K=6).eval()
    with torch.no_grad():
        delay.positions.copy_(torch.tensor([2.0, 1.0, 0.0, -1.0, -2.0]))  # delays 0, 1, 2, 3, 4
    fc, rec = nn.Linear(3, 5), nn.Linear(5, 5)
    lif = LIF(tau_mem=2e-3, dt=1e-3, reset="zero", size=5)
    g = ModuleGraph({"fc": fc, "lif": lif, "delay": delay, "rec": rec},
                    [("input", "fc"), ("fc", "lif"), ("lif", "delay"), ("delay", "rec"), ("rec", "lif"),
                     ("lif", "output")])
    assert g.recurrent_edges == [("rec", "lif")]
    xs = torch.rand(30, 2, 3) * 3
    with torch.no_grad():
        got = g(xs)
        # hand unrolling: lif input at t = fc(x_t) + rec(zd_{t-1}), zd_t[n] = z_{t - d_n}[n]
        d = delay.delays
        zs: list[torch.Tensor] = []
        state, zd_prev = None, None
        for t, x in enumerate(xs):
            cur = fc(x) + (rec(zd_prev) if zd_prev is not None else 0)
            z, state = lif.step(cur, state)
            zs.append(z)
            zd_prev = torch.stack([zs[t - int(d[n])][:, n] if t >= d[n] else torch.zeros(2) for n in range(5)], 1)
    assert 0 < got.mean() < 1
    assert torch.equal(got, torch.stack(zs))


def test_bad_state_is_named() -> None:
    layer = DelayLinear(4, 3, K=5)
    with pytest.raises(ValueError, match=r"state.buffer must have shape \(4, 2, 4\)"):
        layer.run(torch.zeros(3, 2, 4), DelayState(buffer=torch.zeros(3, 2, 4)))
    with pytest.raises(TypeError, match="DelayState"):
        layer.run(torch.zeros(3, 2, 4), (torch.zeros(4, 2, 4),))  # type: ignore[arg-type]
