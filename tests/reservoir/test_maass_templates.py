"""Jittered-template task: generator invariants; the liquid remembers the template across a tail of
fresh input that the same readout on the input spikes cannot see through."""

from __future__ import annotations

import torch

from spikeforge.reservoir.maass_tasks import jittered_templates, liquid_state, template_classification


def test_templates_without_jitter_repeat_exactly() -> None:
    x, y = jittered_templates(30, jitter=0.0, tail=0.1, seed=3)
    assert x.shape == (2000, 30, 4) and set(y.tolist()) == {0, 1}
    T0 = 1000
    for k in (0, 1):
        same = x[:T0, y == k]
        assert bool((same == same[:, :1]).all())  # every sample of a class = its template
    assert not torch.equal(x[:T0, y == 0][:, 0], x[:T0, y == 1][:, 0])
    tails = x[T0:].permute(1, 0, 2).reshape(30, -1)  # [T, B, C] -> [B, T*C]
    assert len({tuple(t.tolist()) for t in tails}) == 30  # the tail is fresh in every sample
    rate = float(x[T0:].mean()) / 1e-4
    assert 10 < rate < 30  # 20 Hz


def test_liquid_state_is_the_exponential_filter() -> None:
    z = torch.zeros(5, 1, 2, dtype=torch.float64)
    z[0, 0, 0] = z[3, 0, 1] = 1
    s = liquid_state(z, tau=2e-4, dt=1e-4)
    torch.testing.assert_close(s, torch.tensor([[torch.e ** -2.0, torch.e ** -0.5]], dtype=torch.float64))


def test_liquid_remembers_the_template() -> None:
    torch.set_num_threads(1)
    r = template_classification(60, 60, seed=0, duration=0.06, tail=0.03)
    assert r.acc_liquid >= 0.75, r
    assert r.acc_liquid > r.acc_input + 0.15, r  # input-only readout is near chance after the tail
