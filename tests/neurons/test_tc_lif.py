"""TC-LIF: float64 golden trajectory of the reference's equations (§4.9) and its soft resets."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.neurons.tc_lif import TCLIF, TCLIFParams, TCLIFState, tc_lif_step


def _sig(b: float) -> float:
    return 1 / (1 + math.exp(-b))


def test_golden_trajectory_float64():
    b1, b2, gamma, th = 0.3, -0.4, 0.5, 1.0
    neuron = TCLIF(beta1=b1, beta2=b2, gamma=gamma, v_th=th, dtype=torch.float64)
    xs = [0.8, 0.2, 1.5, 0.0, -0.3, 2.0, 0.7, 0.0, 0.0, 1.1]
    zs, st = neuron.run(torch.tensor(xs, dtype=torch.float64).view(-1, 1, 1))
    ud = us = 0.0
    ref = []
    for x in xs:
        ud = ud - _sig(b1) * us + x
        us = us + _sig(b2) * ud
        s = float(us > th)
        ud, us = ud - gamma * s, us - th * s
        ref.append(s)
    assert zs.flatten().tolist() == ref and 0 < sum(ref) < len(ref)
    assert st.v_d.item() == pytest.approx(ud, abs=1e-12) and st.v.item() == pytest.approx(us, abs=1e-12)


def test_dendrite_keeps_a_pulse_longer_than_the_soma():
    # one input pulse, no spike (high threshold): the soma's negative feedback makes the pair oscillate,
    # so the pulse is still visible after many steps (no leak to rest)
    state = TCLIFState(torch.zeros(1), torch.zeros(1))
    p = TCLIFParams(v_th=1e9)
    xs = [1.0] + [0.0] * 30
    trace = []
    for x in xs:
        _, state = tc_lif_step(torch.tensor([x]), state, p)
        trace.append(state.v.item())
    assert max(abs(v) for v in trace[20:]) > 0.1


def test_couplings_learnable_and_reset_fixed():
    n = TCLIF(learn=("beta1", "beta2"), size=3)
    xs = (torch.rand(15, 2, 3, generator=torch.Generator().manual_seed(0)) * 2).requires_grad_()
    n(xs).sum().backward()
    assert n.beta1.grad.abs().sum() > 0 and n.beta2.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="own soft reset"):
        TCLIF(reset="zero")


class _PaperTriangleSpike(torch.autograd.Function):
    """H(x) forward, max(0, 1 - |x|) backward: the triangle surrogate the TC-LIF README uses."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        return g * (1 - x.abs()).clamp_min(0)


def test_bptt_gradients_match_the_papers_equations_float64():
    # the authors' recipe for feed-forward PS-MNIST (theta 1.5, gamma 0.7, triangle surrogate, reset not
    # detached, one learnable (beta1, beta2) pair per layer), written out step by step in float64
    from spikeforge.surrogate import Triangle

    th, gamma = 1.5, 0.7
    xs = torch.rand(25, 3, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 1.8
    w = torch.randn(25, 3, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    b = torch.tensor([0.4, -0.7], dtype=torch.float64, requires_grad=True)
    x_ref = xs.clone().requires_grad_()
    ud = us = torch.zeros(3, 4, dtype=torch.float64)
    loss_ref = torch.zeros((), dtype=torch.float64)
    for t in range(25):
        ud = ud - torch.sigmoid(b[0]) * us + x_ref[t]
        us = us + torch.sigmoid(b[1]) * ud
        s = _PaperTriangleSpike.apply(us - th)
        ud, us = ud - gamma * s, us - th * s
        loss_ref = loss_ref + (w[t] * s).sum()
    loss_ref.backward()

    n = TCLIF(beta1=0.4, beta2=-0.7, gamma=gamma, v_th=th, surrogate=Triangle(1.0), learn=("beta1", "beta2"),
              dtype=torch.float64)
    x = xs.clone().requires_grad_()
    (w * n(x)).sum().backward()
    assert x.grad is not None and x_ref.grad is not None and b.grad is not None
    assert x_ref.grad.abs().sum() > 0 and b.grad.abs().min() > 0
    assert torch.allclose(x.grad, x_ref.grad, rtol=1e-10, atol=1e-12)
    assert n.beta1.grad.item() == pytest.approx(b.grad[0].item(), rel=1e-10)
    assert n.beta2.grad.item() == pytest.approx(b.grad[1].item(), rel=1e-10)


def test_between_spikes_the_two_compartment_map_has_determinant_one():
    # analytic: [[1, -a], [b, 1 - ab]] with a = sigmoid(beta1), b = sigmoid(beta2) has det 1, i.e. no leak
    for b1, b2 in [(0.0, 0.0), (1.5, -0.5), (-1.4, 1.4), (2.0, 3.0)]:
        p = TCLIFParams(beta1=b1, beta2=b2, v_th=1e9)
        cols = []
        for ud0, us0 in [(1.0, 0.0), (0.0, 1.0)]:
            st = TCLIFState(torch.tensor([ud0], dtype=torch.float64), torch.tensor([us0], dtype=torch.float64))
            _, st = tc_lif_step(torch.zeros(1, dtype=torch.float64), st, p)
            cols.append((st.v_d.item(), st.v.item()))
        det = cols[0][0] * cols[1][1] - cols[1][0] * cols[0][1]
        assert det == pytest.approx(1.0, abs=1e-12)
        assert cols[0] == pytest.approx((1.0, _sig(b2)))
        assert cols[1] == pytest.approx((-_sig(b1), 1 - _sig(b1) * _sig(b2)))
