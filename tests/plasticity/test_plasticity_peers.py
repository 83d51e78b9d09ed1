"""Weight updates equal SpikingJelly's STDPLearner / MSTDPLearner / MSTDPETLearner on identical spikes.

SpikingJelly measures time in steps: our ``dt = 1`` with time constants in steps is the same model. Its
STDP traces are Euler (``tr - tr/tau + s``), its MSTDP traces exact; ``f_pre``/``f_post`` are the
depression/potentiation weight dependences (we pass constants = our ``additive`` or identity =
our ``proportional``).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.plasticity import MSTDP, MSTDPET, STDP, PlasticLayer

pytestmark = pytest.mark.peers


def _spikes(g, *shape, p=0.3):
    return (torch.rand(*shape, generator=g) < p).float()


def _sj():
    return pytest.importorskip("spikingjelly.activation_based.learning")


class _Replay(nn.Module):
    """Stands in for SpikingJelly's neuron: outputs the post spikes we feed it."""

    def forward(self, z):
        return z


@pytest.mark.parametrize("wdep,f", [("additive", lambda w: 1.0), ("proportional", lambda w: w)])
def test_stdp_learner_linear(wdep, f):
    sj = _sj()
    g = torch.Generator().manual_seed(0)
    syn, sn = nn.Linear(6, 4, bias=False), _Replay()
    learner = sj.STDPLearner("s", syn, sn, tau_pre=2.0, tau_post=5.0, f_pre=f, f_post=f)
    rule = STDP(dt=1.0, tau_pre=2.0, tau_post=5.0, eta_plus=1.0, eta_minus=1.0, trace_integrator="euler",
                weight_dependence=wdep)
    state = None
    for _ in range(30):
        pre, post = _spikes(g, 3, 6), _spikes(g, 3, 4)
        syn(pre)
        sn(post)
        ref = learner.step(on_grad=False)
        dw, state = rule.step(pre, post, state, syn.weight.detach())
        torch.testing.assert_close(dw, ref, rtol=1e-5, atol=1e-6)


def test_stdp_learner_conv2d_sequence():
    """Conv2d, multi-step, fixed weights: SpikingJelly's summed update equals PlasticLayer's per-sequence dw."""
    sj = _sj()
    g = torch.Generator().manual_seed(1)
    conv = nn.Conv2d(2, 3, 3, padding=1, stride=1, bias=False)
    sn = _Replay()
    learner = sj.STDPLearner("s", conv, sn, tau_pre=3.0, tau_post=3.0, f_pre=lambda w: 1.0, f_post=lambda w: 1.0)
    xs = _spikes(g, 8, 2, 2, 5, 5)
    zs = _spikes(g, 8, 2, 3, 5, 5)

    class Fixed(nn.Module):  # a "neuron" that replays zs, step by step
        dt = 1.0

        def step(self, i, s):
            t = 0 if s is None else s
            return zs[t], t + 1

    rule = STDP(dt=1.0, tau_pre=3.0, tau_post=3.0, eta_plus=1.0, eta_minus=1.0, trace_integrator="euler")
    layer = PlasticLayer(nn.Conv2d(2, 3, 3, padding=1, bias=False), Fixed(), rule, update="sequence")
    layer.synapse.weight.data.copy_(conv.weight.data)
    w0 = layer.synapse.weight.detach().clone()
    layer(xs)
    ours = layer.synapse.weight.detach() - w0
    ref = torch.zeros_like(conv.weight)
    for x, z in zip(xs, zs):
        conv(x)
        sn(z)
        ref += learner.step(on_grad=False)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_mstdp_learner_per_sample_reward():
    sj = _sj()
    g = torch.Generator().manual_seed(2)
    syn, sn = nn.Linear(5, 3, bias=False), _Replay()
    learner = sj.MSTDPLearner("s", syn, sn, tau_pre=4.0, tau_post=6.0, f_pre=lambda w: 1.0, f_post=lambda w: 1.0)
    rule = MSTDP(dt=1.0, tau_pre=4.0, tau_post=6.0)
    state = None
    for _ in range(25):
        pre, post = _spikes(g, 2, 5), _spikes(g, 2, 3)
        reward = torch.randn(2, generator=g)
        syn(pre)
        sn(post)
        ref = learner.step(reward, on_grad=False)
        dw, state = rule.step(pre, post, state, syn.weight.detach(), modulator=reward)
        torch.testing.assert_close(dw, ref, rtol=1e-5, atol=1e-6)


def test_mstdpet_learner():
    sj = _sj()
    g = torch.Generator().manual_seed(3)
    syn, sn = nn.Linear(5, 3, bias=False), _Replay()
    learner = sj.MSTDPETLearner("s", syn, sn, tau_pre=4.0, tau_post=6.0, tau_trace=10.0,
                                f_pre=lambda w: w, f_post=lambda w: w)
    rule = MSTDPET(dt=1.0, tau_pre=4.0, tau_post=6.0, tau_z=10.0, weight_dependence="proportional")
    state = None
    for _ in range(25):
        pre, post = _spikes(g, 5), _spikes(g, 3)  # SpikingJelly's MSTDP-ET is batch-free
        reward = float(torch.randn((), generator=g))
        syn(pre)
        sn(post)
        ref = learner.step(reward, on_grad=False)
        dw, state = rule.step(pre[None], post[None], state, syn.weight.detach(), modulator=reward)
        torch.testing.assert_close(dw, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("algo,wdep", [("additive", "additive"), ("multiplicative_relu", "soft"),
                                       ("multiplicative_pow", "power")])
def test_norse_stdp_step_linear(algo, wdep):
    """Norse's trace ``t + dt/tau (-t + a z)`` is our Euler trace with jump ``a dt / tau``; its hard bound is
    our clamp after the update."""
    stdp = pytest.importorskip("norse.torch.functional.stdp")
    g = torch.Generator().manual_seed(4)
    dt, tau_pre, tau_post = 1e-3, 20e-3, 30e-3
    p = stdp.STDPParameters(a_pre=torch.as_tensor(1.0), a_post=torch.as_tensor(1.0),
                            tau_pre_inv=torch.as_tensor(1 / tau_pre), tau_post_inv=torch.as_tensor(1 / tau_post),
                            w_min=0.0, w_max=1.0, eta_plus=1e-2, eta_minus=1.5e-2, stdp_algorithm=algo, mu=0.5)
    rule = STDP(dt=dt, tau_pre=tau_pre, tau_post=tau_post, eta_plus=1e-2, eta_minus=1.5e-2, a_pre=dt / tau_pre,
                a_post=dt / tau_post, trace_integrator="euler", weight_dependence=wdep, mu=0.5, w_min=0.0, w_max=1.0)
    w_norse = torch.rand(4, 6, generator=g)
    w_ours = w_norse.clone()
    state_n = stdp.STDPState(torch.zeros(3, 6), torch.zeros(3, 4))
    state_o = None
    for _ in range(60):
        pre, post = _spikes(g, 3, 6, p=0.4), _spikes(g, 3, 4, p=0.4)
        w_norse, state_n = stdp.stdp_step_linear(pre, post, w_norse, state_n, p, dt=dt)
        dw, state_o = rule.step(pre, post, state_o, w_ours)
        w_ours = (w_ours + dw).clamp(0.0, 1.0)
        torch.testing.assert_close(w_ours, w_norse, rtol=1e-5, atol=1e-6)
    assert not torch.equal(w_ours, torch.rand(4, 6, generator=torch.Generator().manual_seed(4)))
