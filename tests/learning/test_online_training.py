"""SLTT / SLTT-K / OTTT against hand-written float64 references (reference checks 7-10)."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from spikeforge.learning.online import SavedBytes, ottt_backward, sltt_backward
from spikeforge.neurons import LIF, NEURONS

D = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny per-step ops (tests/conftest.py)


def _net(beta: float, seed: int = 0, n_in: int = 5, n_hid: int = 7, n_out: int = 3) -> nn.Sequential:
    torch.manual_seed(seed)
    lif = LIF.from_decay(beta, surrogate="triangle", backend="torch", dtype=D)  # beta exact in float64
    return nn.Sequential(nn.Linear(n_in, n_hid, dtype=D), lif, nn.Linear(n_hid, n_out, dtype=D))


def _hand_bptt(net: nn.Sequential, xs: torch.Tensor, r: torch.Tensor, beta: float, detach_v: bool) -> list:
    """BPTT written out: v' = beta v + W1 x, z = H(v' - 1) (library surrogate), v = v' - z; loss mean_t <o_t, r_t>."""
    lin1, lif, lin2 = net
    net.zero_grad()
    v = torch.zeros(xs.shape[1], lin1.out_features, dtype=D)
    loss = torch.zeros((), dtype=D)
    for t in range(xs.shape[0]):
        if detach_v:
            v = v.detach()
        u = beta * v + lin1(xs[t])
        z = lif.surrogate(u - 1.0)
        v = u - z * 1.0
        loss = loss + (lin2(z) * r[t]).sum() / xs.shape[0]
    loss.backward()
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in net.parameters()]  # no route: 0


def _online_grads(fn, net: nn.Sequential, xs: torch.Tensor, r: torch.Tensor, **kw) -> list:
    net.zero_grad()
    fn(net, xs, lambda o, t: (o * r[t]).sum(), **kw)
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in net.parameters()]  # no route: 0


def _data(T: int = 12, B: int = 4, n_in: int = 5, n_out: int = 3, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, n_in, generator=g, dtype=D) * 1.5, torch.randn(T, B, n_out, generator=g, dtype=D)


def test_sltt_equals_bptt_with_detached_membrane():
    beta = 0.7
    net = _net(beta)
    xs, r = _data()
    got = _online_grads(sltt_backward, net, xs, r)
    want = _hand_bptt(net, xs, r, beta, detach_v=True)
    full = _hand_bptt(net, xs, r, beta, detach_v=False)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    # the dropped temporal route is real credit at beta > 0: full BPTT differs
    assert max((g - f).abs().max().item() for g, f in zip(got, full)) > 1e-3


def test_sltt_equals_full_bptt_at_zero_leak():
    net = _net(0.0)
    xs, r = _data()
    got = _online_grads(sltt_backward, net, xs, r)
    for g, w in zip(got, _hand_bptt(net, xs, r, 0.0, detach_v=False)):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


def test_sltt_k_backward_calls_and_k_equals_t():
    net = _net(0.5)
    xs, r = _data(T=10)
    calls = []
    h = net[2].register_full_backward_hook(lambda *a: calls.append(1))
    res = sltt_backward(net, xs, lambda o, t: (o * r[t]).sum(), k=3, generator=torch.Generator().manual_seed(0))
    h.remove()
    assert res.backward_calls == 3 and len(calls) == 3
    assert res.outputs.shape == (10, 4, 3)
    # K = T backpropagates every step: SLTT exactly
    full = _online_grads(sltt_backward, net, xs, r)
    allk = _online_grads(sltt_backward, net, xs, r, k=10)
    for a, b in zip(full, allk):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_sltt_k_gradient_is_the_chosen_steps_of_sltt():
    """SLTT-K's gradient = sum over the drawn steps of the per-step SLTT gradients (losses over T)."""
    net = _net(0.5)
    xs, r = _data(T=8)
    chosen = torch.randperm(8, generator=torch.Generator().manual_seed(3))[:3].tolist()
    got = _online_grads(sltt_backward, net, xs, r, k=3, generator=torch.Generator().manual_seed(3))
    mask = torch.zeros(8, 1, 1, dtype=D)
    mask[chosen] = 1.0
    want = _online_grads(sltt_backward, net, xs, r * mask)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("beta", [0.0, 0.6])
def test_ottt_weight_gradient_is_the_trace_formula(beta):
    net = _net(beta)
    xs, r = _data()
    T = xs.shape[0]
    got = _online_grads(ottt_backward, net, xs, r, decay=beta)
    with torch.no_grad():
        s = net[1](net[0](xs))  # [T, B, H] spikes (forward unchanged by OTTT)
    a_hat = torch.zeros_like(s[0])
    g_w2 = torch.zeros_like(net[2].weight)
    for t in range(T):  # â_t = Σ_{k<=t} beta^{t-k} s_k written as the sum, not the recursion
        a_hat = sum(beta ** (t - k) * s[k] for k in range(t + 1)) if beta else s[t]
        g_w2 += (r[t] / T).T @ a_hat  # δ_t = r_t / T for loss <o_t, r_t> / T
    torch.testing.assert_close(got[2], g_w2, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got[3], (r / T).sum((0, 1)), rtol=1e-10, atol=1e-12)
    # earlier layers get the spatial error through W2 (not the trace): SLTT's gradient
    sltt = _online_grads(sltt_backward, net, xs, r)
    torch.testing.assert_close(got[0], sltt[0], rtol=1e-10, atol=1e-12)
    if beta:
        assert (got[2] - sltt[2]).abs().max() > 1e-3  # the trace changes the weight gradient
    else:
        torch.testing.assert_close(got[2], sltt[2], rtol=1e-10, atol=1e-12)


def _peak(run, T: int) -> int:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 32), LIF.from_decay(0.5, backend="torch"), nn.Linear(32, 4))
    xs = torch.rand(T, 8, 16) * 2
    with SavedBytes() as sb:
        run(net, xs)
    return sb.peak


def _bptt(net, xs):
    net(xs).sum().backward()


def _sltt(net, xs):
    sltt_backward(net, xs, lambda o, t: o.sum())


def _ottt(net, xs):
    ottt_backward(net, xs, lambda o, t: o.sum(), decay=0.5)


def test_saved_bytes_constant_in_t_for_online_linear_for_bptt():
    bptt = [_peak(_bptt, T) for T in (8, 32, 128)]
    assert bptt[1] > 3.5 * bptt[0] and bptt[2] > 3.5 * bptt[1]  # ≈ linear in T
    for run in (_sltt, _ottt):
        peaks = [_peak(run, T) for T in (8, 32, 128)]
        assert peaks[2] <= 1.1 * peaks[0], (run.__name__, peaks)
        assert peaks[0] > 0
        assert peaks[2] * 20 < bptt[2]


def test_digits_train_to_well_above_chance():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0  # [N, 64]
    y = torch.tensor(d.target)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(y), generator=g)
    tr, te = perm[:1400], perm[1400:]
    T = 4
    for mode in ("sltt", "ottt"):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(64, 96), LIF.from_decay(0.5, surrogate="triangle"), nn.Linear(96, 10))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        t0 = time.perf_counter()
        for _ in range(2):
            for idx in tr[torch.randperm(len(tr), generator=g)].split(100):
                xs = x[idx].expand(T, -1, -1)  # [T, B, 64] direct input, repeated

                def loss_fn(o, t, yb=y[idx]):
                    return nn.functional.cross_entropy(o, yb)

                opt.zero_grad()
                if mode == "sltt":
                    sltt_backward(net, xs, loss_fn)
                else:
                    ottt_backward(net, xs, loss_fn, decay=0.5)
                opt.step()
        with torch.no_grad():
            acc = (net(x[te].expand(T, -1, -1)).sum(0).argmax(1) == y[te]).float().mean().item()
        assert acc > 0.8, (mode, acc)  # chance is 0.1
        assert time.perf_counter() - t0 < 20


def test_clear_errors():
    net = _net(0.5)
    xs, r = _data()
    with pytest.raises(ValueError, match="k must be"):
        sltt_backward(net, xs, lambda o, t: o.sum(), k=0)
    with pytest.raises(ValueError, match=r"\[T, B"):
        sltt_backward(net, xs[0, 0], lambda o, t: o.sum())
    with pytest.raises(ValueError, match="scalar"):
        sltt_backward(net, xs, lambda o, t: o)
    with pytest.raises(ValueError, match="decay"):
        ottt_backward(net, xs, lambda o, t: o.sum(), decay=1.5)
    with pytest.raises(RuntimeError, match="disabled"), torch.no_grad():
        sltt_backward(net, xs, lambda o, t: o.sum())


def test_optimizer_every_step_is_online_sgd():
    """OTTT_O / online SLTT: with an optimizer, W_{t+1} = W_t - lr * grad of step t at W_t."""
    net = _net(0.5)
    ref = _net(0.5)
    xs, r = _data(T=3)
    opt = torch.optim.SGD(net.parameters(), lr=0.3)
    res = sltt_backward(net, xs, lambda o, t: (o * r[t]).sum(), optimizer=opt)
    assert res.backward_calls == 3
    # by hand: replay each step from the detached state with the weights of that moment
    lin1, lif, lin2 = ref
    v = torch.zeros(4, 7, dtype=D)
    for t in range(3):
        ref.zero_grad()
        u = 0.5 * v + lin1(xs[t])
        z = lif.surrogate(u - 1.0)
        ((lin2(z) * r[t]).sum() / 3).backward()
        with torch.no_grad():
            for p in ref.parameters():
                p -= 0.3 * p.grad
        v = (u - z).detach()
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert all(p.grad is None or not p.grad.any() for p in net.parameters())


def test_bench_rows():
    from spikeforge.learning.online.bench import bench_online

    rows = {(r["mode"], r["T"]): r["saved_kib"] for r in bench_online((4, 16), batch=4, n_in=8, hidden=16, repeats=1)}
    assert rows[("sltt", 16)] == rows[("sltt", 4)] and rows[("ottt", 16)] == rows[("ottt", 4)]
    assert rows[("bptt", 16)] > 2.5 * rows[("bptt", 4)]  # per-step activations + a constant (weights)


@pytest.mark.parametrize("name", NEURONS.names())
def test_sltt_with_every_registered_neuron(name):
    """SLTT = BPTT through the neuron's own step() with every state field detached between steps."""
    torch.manual_seed(0)
    neu = NEURONS.create(name, dtype=D, backend="torch")
    net = nn.Sequential(nn.Linear(5, 7, dtype=D), neu, nn.Linear(7, 3, dtype=D))
    xs, r = _data(T=6)
    xs = xs * 2
    got = _online_grads(sltt_backward, net, xs, r)
    net.zero_grad()
    state, loss = None, torch.zeros((), dtype=D)
    for t in range(6):
        if state is not None:
            state = type(state)(*(v.detach() for v in state))
        z, state = neu.step(net[0](xs[t]), state)
        loss = loss + (net[2](z) * r[t]).sum() / 6
    loss.backward()
    for g, p in zip(got, net.parameters()):
        torch.testing.assert_close(g, torch.zeros_like(p) if p.grad is None else p.grad, rtol=1e-10, atol=1e-12)
