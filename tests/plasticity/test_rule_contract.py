"""Contract every registered plasticity rule meets, plus PlasticLayer and constraints."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.plasticity import (PLASTICITY, STDP, PlasticLayer, ThreeFactor, apply_dale_, dale_signs,
                                   normalize_incoming_)

RULES = PLASTICITY.names()


def _inputs(rule, g, b=3, n_in=5, n_out=4):
    if rule.needs_spikes:
        pre = (torch.rand(b, n_in, generator=g) < 0.4).float()
        post = (torch.rand(b, n_out, generator=g) < 0.4).float()
    else:
        pre = torch.rand(b, n_in, generator=g)
        post = torch.rand(b, n_out, generator=g)
    return pre, post, torch.rand(n_out, n_in, generator=g)


def _mod(rule):
    return 0.5 if rule.uses_modulator else None


@pytest.mark.parametrize("name", RULES)
def test_step_shapes_state_and_determinism(name):
    g = torch.Generator().manual_seed(0)
    rule = PLASTICITY.create(name)
    pre, post, w = _inputs(rule, g)
    dw, s = rule.step(pre, post, None, w, _mod(rule))
    assert dw.shape == w.shape and dw.dtype == w.dtype
    assert isinstance(s, rule.state_cls)
    assert bool(torch.isfinite(dw).all())
    dw2, s2 = rule.step(pre, post, rule.init_state(pre, post, w), w, _mod(rule))  # explicit empty state = None
    torch.testing.assert_close(dw, dw2, rtol=0, atol=0)
    for a, b in zip(s, s2):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", RULES)
def test_state_carries_history(name):
    """A pre spike, then a post spike, then silence: the carried traces pair them; fresh states do not."""
    g = torch.Generator().manual_seed(1)
    rule = PLASTICITY.create(name)
    pre, post, w = _inputs(rule, g)
    if rule.needs_spikes:
        seq = [(torch.ones_like(pre), torch.zeros_like(post)), (torch.zeros_like(pre), torch.ones_like(post)),
               (torch.zeros_like(pre), torch.zeros_like(post))]
    else:
        seq = [(torch.rand(pre.shape, generator=g), torch.rand(post.shape, generator=g)) for _ in range(3)]
    carried, fresh, s = torch.zeros_like(w), torch.zeros_like(w), None
    for a, b in seq:
        dw, s = rule.step(a, b, s, w, _mod(rule))
        carried += dw
        fresh += rule.step(a, b, None, w, _mod(rule))[0]
    if name == "oja":  # memoryless by definition
        torch.testing.assert_close(carried, fresh)
    else:
        assert not torch.equal(carried, fresh)


@pytest.mark.parametrize("name", RULES)
def test_bad_input_is_refused_clearly(name):
    g = torch.Generator().manual_seed(2)
    rule = PLASTICITY.create(name)
    pre, post, w = _inputs(rule, g)
    with pytest.raises(ValueError, match="weight of shape"):
        rule.step(pre, post, None, w.T.contiguous(), _mod(rule))
    with pytest.raises(ValueError, match="batch"):
        rule.step(pre[:2], post, None, w, _mod(rule))
    with pytest.raises(ValueError, match="2-D"):
        rule.step(pre[0], post, None, w, _mod(rule))
    if rule.needs_spikes:
        with pytest.raises(ValueError, match="binary spikes"):
            rule.step(pre * 0.5 + 0.25, post, None, w, _mod(rule))
    for field in type(rule).positive:
        with pytest.raises(ValueError, match=field):
            PLASTICITY.create(name, **{field: -1.0})
    with pytest.raises(TypeError, match="unknown parameter"):
        PLASTICITY.create(name, not_a_parameter=1.0)
    if rule.uses_modulator:
        with pytest.raises(ValueError, match="modulator"):
            rule.step(pre, post, None, w)


def test_stdp_refuses_unstable_euler_traces():
    with pytest.raises(ValueError, match="dt <= tau_pre"):
        STDP(dt=5e-3, tau_pre=2e-3, trace_integrator="euler")


# --- PlasticLayer --------------------------------------------------------------------------------------
def test_plastic_layer_online_equals_manual_loop():
    g = torch.Generator().manual_seed(3)
    xs = (torch.rand(20, 2, 8, generator=g) < 0.3).float()
    lin = nn.Linear(8, 3, bias=False)
    layer = PlasticLayer(nn.Linear(8, 3, bias=False), sf.LIF(r=20.0, backend="torch"), STDP(), lr=0.5)
    layer.synapse.weight.data.copy_(lin.weight.data)
    zs = layer(xs)
    w = lin.weight.detach().clone()
    neuron, rule, ns, rs, manual = sf.LIF(r=20.0, backend="torch"), STDP(), None, None, []
    for x in xs:
        z, ns = neuron.step(x @ w.T, ns)
        dw, rs = rule.step(x, z, rs, w)
        w = w + 0.5 * dw
        manual.append(z)
    torch.testing.assert_close(zs, torch.stack(manual))
    torch.testing.assert_close(layer.synapse.weight.detach(), w)
    assert zs.sum() > 0 and not torch.equal(w, lin.weight.detach())


def test_plastic_layer_off_and_mask_and_constraint():
    g = torch.Generator().manual_seed(4)
    xs = (torch.rand(15, 2, 6, generator=g) < 0.5).float()
    mask = (torch.rand(4, 6, generator=g) < 0.5).float()
    layer = PlasticLayer(nn.Linear(6, 4, bias=False), sf.LIF(r=30.0), STDP(), mask=mask,
                         constraint=lambda w: w.clamp_(0.0, 0.3))
    layer.synapse.weight.data.uniform_(0.0, 0.3)
    w0 = layer.synapse.weight.detach().clone()
    layer.plastic = False
    layer(xs)
    assert torch.equal(layer.synapse.weight.detach(), w0)
    layer.plastic = True
    layer(xs)
    w1 = layer.synapse.weight.detach()
    assert torch.equal(w1[mask == 0], w0[mask == 0])  # absent synapses never learn
    assert not torch.equal(w1[mask == 1], w0[mask == 1])
    assert float(w1.min()) >= 0.0 and bool((w1 <= torch.tensor(0.3)).all())


def test_plastic_layer_grad_mode_combines_with_backprop():
    """apply="grad": weight.grad = task gradient - lr * sum(dw); one SGD step applies both."""
    g = torch.Generator().manual_seed(5)
    xs = (torch.rand(12, 2, 6, generator=g) < 0.5).float()
    layer = PlasticLayer(nn.Linear(6, 3, bias=False), sf.LIF(r=30.0), STDP(), apply="grad", lr=0.1)
    layer.plastic = False
    loss_only = layer(xs).sum()
    loss_only.backward()
    task_grad = layer.synapse.weight.grad.clone()
    layer.synapse.weight.grad = None
    layer.plastic = True
    zs, st = layer.run(xs)
    zs.sum().backward()
    rule, rs, total = STDP(), None, torch.zeros(3, 6)
    for x, z in zip(xs, zs.detach()):
        dw, rs = rule.step(x, z, rs, layer.synapse.weight.detach())
        total += dw
    torch.testing.assert_close(layer.synapse.weight.grad, task_grad - 0.1 * total)


def test_plastic_layer_three_factor_needs_modulators():
    layer = PlasticLayer(nn.Linear(4, 2), sf.LIF(), ThreeFactor())
    xs = torch.zeros(5, 1, 4)
    with pytest.raises(ValueError, match="modulators"):
        layer(xs)
    w0 = layer.synapse.weight.detach().clone()
    layer.run(xs, modulators=torch.zeros(5))
    assert torch.equal(layer.synapse.weight.detach(), w0)
    with pytest.raises(ValueError, match="5"):
        layer.run(xs, modulators=torch.zeros(3))


def test_plastic_layer_refuses_bad_synapse():
    with pytest.raises(TypeError, match="nn.Linear"):
        PlasticLayer(nn.ReLU(), sf.LIF(), STDP())
    with pytest.raises(ValueError, match="groups"):
        PlasticLayer(nn.Conv2d(4, 4, 3, groups=2), sf.LIF(), STDP())
    with pytest.raises(ValueError, match="mask"):
        PlasticLayer(nn.Linear(4, 2), sf.LIF(), STDP(), mask=torch.ones(4, 2))


# --- constraints ---------------------------------------------------------------------------------------
def test_dale_and_normalisation():
    g = torch.Generator().manual_seed(6)
    w = torch.randn(5, 6, generator=g)
    signs = dale_signs(4, 2)
    apply_dale_(w, signs)
    assert bool((w[:, :4] >= 0).all()) and bool((w[:, 4:] <= 0).all())
    v = torch.rand(7, 784, generator=g, dtype=torch.float64)
    normalize_incoming_(v, 78.0)
    torch.testing.assert_close(v.sum(1), torch.full((7,), 78.0, dtype=torch.float64), rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="one entry per"):
        apply_dale_(w, dale_signs(2, 2))


def test_plastic_layer_moves_like_a_module():
    """.to()/.double() reach the synapse, the neuron and the mask (nn.Module's _apply is not shadowed)."""
    layer = PlasticLayer(nn.Linear(4, 2), sf.LIF(), STDP(), mask=torch.ones(2, 4)).double()
    assert layer.synapse.weight.dtype == torch.float64 and layer.mask.dtype == torch.float64
    assert layer.neuron.tau_mem.dtype == torch.float64
    zs = layer((torch.rand(5, 1, 4) < 0.5).double())
    assert zs.dtype == torch.float64
