"""Automatic event-driven synapses (issue 17): the per-call policy, and parity with dense torch for
TimeDistributed(nn.Linear), EventLinear in training, RecurrentSpiking and the mlp builder.

The reference is the same computation in float64 with plain ``F.linear``; the "zeros are skipped"
checks put NaN in the weight columns of inputs that never fire: a dense product turns the whole
output NaN, the event path never reads those columns.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.kernels import available_backends, event_policy
from spikeforge.layers import EventLinear, RecurrentSpiking, TimeDistributed

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")


def _spikes(gen, shape, rate, dtype=torch.float32):
    return (torch.rand(shape, generator=gen) < rate).to(dtype)


def test_policy_reads_binary_sparse_inputs(gen, monkeypatch):
    w = torch.randn(128, 300, generator=gen)
    sparse = _spikes(gen, (20, 8, 300), 0.05)
    assert event_policy.spike_rate(sparse) == pytest.approx(float(sparse.mean()), abs=0.01)
    assert event_policy.event_plan(sparse, w, training=True)
    assert event_policy.event_plan(sparse.to(torch.uint8), w, training=False)
    assert event_policy.event_plan(sparse.bool(), w, training=False)
    graded = sparse * 0.5  # same zeros, values not 0/1: not spikes
    assert event_policy.spike_rate(graded) is None and not event_policy.event_plan(graded, w, training=False)
    dense = _spikes(gen, (20, 8, 300), 0.5)
    assert not event_policy.event_plan(dense, w, training=False)
    # between the two crossovers: event path for inference only
    mid = _spikes(gen, (40, 8, 300), (event_policy.TRAIN_CROSSOVER + event_policy.INFER_CROSSOVER) / 2)
    assert event_policy.event_plan(mid, w, training=False) and not event_policy.event_plan(mid, w, training=True)
    assert not event_policy.event_plan(sparse, w[: event_policy.MIN_EVENT_OUT - 1], training=False)
    assert not event_policy.event_plan(sparse.double(), w, training=False)  # dtype mismatch: dense
    monkeypatch.setenv("SPIKEFORGE_EVENT_DRIVEN", "0")
    assert not event_policy.event_plan(sparse, w, training=False)
    monkeypatch.setenv("SPIKEFORGE_EVENT_DRIVEN", "sometimes")
    with pytest.raises(ValueError, match="SPIKEFORGE_EVENT_DRIVEN"):
        event_policy.event_plan(sparse, w, training=False)
    monkeypatch.setenv("SPIKEFORGE_EVENT_DRIVEN", "")
    monkeypatch.setenv("SPIKEFORGE_BACKEND", "torch")
    assert not event_policy.event_plan(sparse, w, training=False)


@pytest.mark.parametrize("rate", [0.02, 0.1])
def test_time_distributed_linear_matches_float64_dense(rate, gen):
    td = TimeDistributed(nn.Linear(300, 96))
    x = _spikes(gen, (12, 6, 300), rate).requires_grad_()
    assert event_policy.event_plan(x, td.module.weight, training=True)
    g = torch.randn(12, 6, 96, generator=gen)
    (td(x) * g).sum().backward()
    got = (x.grad, td.module.weight.grad, td.module.bias.grad)
    x64 = x.detach().double().requires_grad_()
    w64, b64 = (p.detach().double().requires_grad_() for p in (td.module.weight, td.module.bias))
    y64 = F.linear(x64, w64, b64)
    (y64 * g.double()).sum().backward()
    torch.testing.assert_close(td(x).double(), y64, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # inference: no autograd node on the event path
        assert event_policy.event_plan(x, td.module.weight, training=False)
        torch.testing.assert_close(td(x).double(), y64, rtol=1e-5, atol=1e-5)
    for a, b in zip(got, (x64.grad, w64.grad, b64.grad)):
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-5)


def test_event_path_skips_silent_inputs_forward_and_weight_gradient(gen):
    x = _spikes(gen, (10, 4, 200), 0.05)
    x[..., :20] = 0  # inputs 0..19 never fire
    lin = nn.Linear(200, 64)
    with torch.no_grad():
        lin.weight[:, :20] = float("nan")
    td = TimeDistributed(lin)
    y = td(x)
    assert torch.isfinite(y).all()  # dense x @ W.T would be NaN everywhere
    y.sum().backward()
    gw = lin.weight.grad
    assert (gw[:, :20] == 0).all() and torch.isfinite(gw).all()
    ref = torch.einsum("tbn,tbk->nk", torch.ones_like(y).double(), x.double())  # grad_y^T x, grad_y = 1
    torch.testing.assert_close(gw[:, 20:].double(), ref[:, 20:], rtol=1e-6, atol=1e-6)
    # opt-outs: the module runs dense (and so does the hooked module, whose hook must see the call)
    assert torch.isnan(TimeDistributed(lin, event_driven=False)(x)).all()
    calls = []
    lin.register_forward_hook(lambda m, i, o: calls.append(o.shape))
    assert torch.isnan(td(x)).all() and calls == [torch.Size([40, 64])]


def test_event_linear_training_rate_picks_path_and_matches(gen, monkeypatch):
    fc = EventLinear(256, 128)
    x = _spikes(gen, (30, 8, 256), 0.05)
    g = torch.randn(30, 8, 128, generator=gen)
    assert fc.uses_event_path(x) and fc.uses_event_path(x, training=False)
    (fc(x) * g).sum().backward()
    got = (fc.weight.grad.clone(), fc.bias.grad.clone())
    fc.zero_grad()
    monkeypatch.setenv("SPIKEFORGE_EVENT_DRIVEN", "off")
    assert not fc.uses_event_path(x)
    (fc(x) * g).sum().backward()
    for a, b in zip(got, (fc.weight.grad, fc.bias.grad)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", ["mlp", "rsnn"])
def test_model_builders_use_event_synapses_with_dense_gradients(model, gen, monkeypatch):
    from spikeforge.config import TrainConfig
    from spikeforge.models import MODELS

    def build():
        torch.manual_seed(0)
        cfg = TrainConfig(hidden=(128,), neuron="lif")
        return MODELS.create(model, cfg, in_features=300, num_classes=5, temporal=True)

    xs = _spikes(gen, (10, 4, 300), 0.05)
    ys = torch.randint(0, 5, (4,), generator=gen)
    grads = []
    for env in ("1", "0"):
        monkeypatch.setenv("SPIKEFORGE_EVENT_DRIVEN", env)
        net = build()
        first = next(m for m in net.modules() if isinstance(m, EventLinear))
        assert first.uses_event_path(xs) == (env == "1")
        F.cross_entropy(net(xs).mean(0), ys).backward()
        grads.append([p.grad for p in net.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert isinstance(RecurrentSpiking(300, 64).input, EventLinear)
