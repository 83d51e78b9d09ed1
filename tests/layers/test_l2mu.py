"""L2MU / LMU: check 18 (d = 1 is a unity-DC-gain low-pass) and the Legendre matrices in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from spikeforge.layers.l2mu import L2MU, leaky_delayed_step, legendre_matrices, lmu_discretize, lmu_memory_step


def test_check18_order_one_is_a_unity_gain_low_pass():
    theta = 7.0
    a, b = legendre_matrices(1, theta)
    assert a.item() == pytest.approx(-1 / theta) and b.item() == pytest.approx(1 / theta)
    a_bar, b_bar = lmu_discretize(a, b, 1.0)
    assert a_bar.item() == pytest.approx(math.exp(-1 / theta), abs=1e-14)
    assert b_bar.item() == pytest.approx(1 - math.exp(-1 / theta), abs=1e-14)
    m = torch.zeros(1, 1, 1, dtype=torch.float64)
    for t in range(1, 301):
        m = lmu_memory_step(m, torch.ones(1, 1, dtype=torch.float64), a_bar, b_bar)
        assert m.item() == pytest.approx(1 - math.exp(-t / theta), abs=1e-12)  # step response
    assert abs(m.item() - 1) < 1e-12  # DC gain 1


def _reference_ab(d: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.zeros((d, d)), np.zeros(d)
    for i in range(d):
        b[i] = (2 * i + 1) * (-1) ** i / theta
        for j in range(d):
            a[i, j] = (2 * i + 1) * (-1 if i < j else (-1) ** (i - j + 1)) / theta
    return a, b


@pytest.mark.parametrize("d", [1, 2, 4, 7])
def test_legendre_matrices_and_zoh_float64(d):
    theta, dt = 10.0, 1.0
    a, b = legendre_matrices(d, theta)
    ra, rb = _reference_ab(d, theta)
    np.testing.assert_allclose(a.numpy(), ra, rtol=0, atol=1e-15)
    np.testing.assert_allclose(b.numpy(), rb, rtol=0, atol=1e-15)
    a_bar, b_bar = lmu_discretize(a, b, dt)
    ea = scipy.linalg.expm(ra * dt)
    eb = np.linalg.solve(ra, (ea - np.eye(d)) @ rb)  # A^{-1}(e^{A dt} - I) B
    np.testing.assert_allclose(a_bar.numpy(), ea, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b_bar.numpy(), eb, rtol=1e-9, atol=1e-12)


def test_lmu_memory_is_a_delay_line():
    # the Legendre memory reconstructs u(t - theta) from m: a sine delayed by theta, order 6
    theta, d = 20.0, 6
    a_bar, b_bar = lmu_discretize(*legendre_matrices(d, theta), 1.0)
    T = 400
    u = torch.sin(torch.arange(T, dtype=torch.float64) * 2 * math.pi / 80)
    m, ms = torch.zeros(1, 1, d, dtype=torch.float64), []
    for t in range(T):
        m = lmu_memory_step(m, u[t].view(1, 1), a_bar, b_bar)
        ms.append(m.flatten())
    decode = torch.ones(d, dtype=torch.float64)  # shifted Legendre polynomials at r = 1 (full delay) are all 1
    recon = torch.stack(ms) @ decode
    err = (recon[100:] - u[100 - int(theta):T - int(theta)]).abs().max().item()
    assert err < 0.1

def test_l2mu_runs_continues_and_learns():
    torch.manual_seed(0)
    net = L2MU(5, hidden_size=8, output_size=3)
    xs = (torch.rand(12, 2, 5) * 2).requires_grad_()
    full, _ = net.run(xs)
    a, s = net.run(xs[:5])
    b, _ = net.run(xs[5:], s)
    torch.testing.assert_close(torch.cat([a, b]), full)
    assert set(full.unique().tolist()) <= {0.0, 1.0}
    full.sum().backward()
    assert net.beta_raw.grad is not None and net.e_x.grad is not None and net.b_o.grad is not None
    assert not net.g_m.requires_grad and not net.a_bar.requires_grad  # fixed in the paper
    with pytest.raises(ValueError, match="L2MU: expected input"):
        net(torch.rand(3, 2, 4))
    with pytest.raises(ValueError, match="memory_gain"):
        L2MU(3, memory_gain=float("nan"))
    with pytest.raises(ValueError, match="one value per population"):
        L2MU(3, beta=(0.5, 0.5, 0.5))


def _reference_l2mu(net: L2MU, x: np.ndarray, a_bar: np.ndarray) -> tuple[np.ndarray, ...]:
    """The paper's equations, neuron by neuron in float64 loops (snnTorch Leaky: U_t = βU_{t-1} + I_t
    − Θ H(U_{t-1} − Θ), S_t = H(U_t − Θ)); ``a_bar`` is the matrix applied to the memory spikes."""
    p = {k: v.detach().double().numpy() for k, v in net.named_parameters()}
    beta = np.clip(p["beta_raw"], 0, 1) if net.clamp_beta else 1 / (1 + np.exp(-p["beta_raw"]))
    th = p["v_th"]
    b_bar = net.b_bar.double().numpy() * p["g_m"]  # [C, d]
    c, d = p["g_m"].shape
    hsz, o = p["w_h"].shape[0], p["w_o"].shape[0]
    T, B, _ = x.shape
    U = [np.zeros((B, n)) for n in (c, c * d, hsz, o)]
    zm, zh = np.zeros((B, c * d)), np.zeros((B, hsz))
    outs, mems = np.zeros((T, B, o)), np.zeros((T, B, c * d))

    def leaky(k: int, cur: np.ndarray) -> np.ndarray:
        U[k] = beta[k] * U[k] + cur - th[k] * (U[k] > th[k])
        return (U[k] > th[k]).astype(np.float64)

    for t in range(T):
        for n in range(B):
            cu = np.array([sum(p["e_x"][k, i] * x[t, n, i] for i in range(x.shape[2]))
                           + sum(p["e_h"][k, j] * zh[n, j] for j in range(hsz))
                           + sum(p["e_m"][k, j] * zm[n, j] for j in range(c * d)) for k in range(c)])
            U0 = U[0][n:n + 1]
            U[0][n] = beta[0] * U0[0] + cu - th[0] * (U0[0] > th[0])
        zu = (U[0] > th[0]).astype(np.float64)
        cm = np.zeros((B, c * d))
        for n in range(B):
            for k in range(c):
                for i in range(d):
                    cm[n, k * d + i] = sum(a_bar[i, j] * zm[n, k * d + j] for j in range(d)) + b_bar[k, i] * zu[n, k]
        zm = leaky(1, cm)
        zh = leaky(2, x[t] @ p["w_x"].T + zh @ p["w_h"].T + zm @ p["w_m"].T)
        outs[t] = leaky(3, zh @ p["w_o"].T + p["b_o"])
        mems[t] = zm
    return outs, mems, U[3]


@pytest.mark.parametrize("transpose_a", [False, True])
def test_l2mu_trajectory_matches_float64_reference_of_the_equations(transpose_a):
    # every weight nonzero (e_m too, the authors initialise it to 0) and strong enough that all four
    # populations fire; the output spikes, memory spikes and output membranes over 25 steps must match
    torch.manual_seed(3)
    net = L2MU(3, hidden_size=6, output_size=4, encoder_size=2, order=3, theta=4.0,
               transpose_a=transpose_a, memory_gain=2.0).double()
    with torch.no_grad():
        for name in ("e_x", "e_h", "e_m", "w_x", "w_h", "w_m", "w_o"):
            getattr(net, name).copy_(torch.randn_like(getattr(net, name)))
        net.g_m.copy_(torch.rand_like(net.g_m) + 1.5)
    x = torch.rand(25, 5, 3, dtype=torch.float64) * 2
    out, state = net.run(x)
    zm = []
    s = None
    for t in range(x.shape[0]):
        _, s = net.run(x[t:t + 1], s)
        zm.append(s.zm)
    a_bar, _ = lmu_discretize(*legendre_matrices(3, 4.0), 1.0)
    a_np = (a_bar.T if transpose_a else a_bar).numpy()  # the repo's convention is Āᵀ
    ref_out, ref_zm, ref_uo = _reference_l2mu(net, x.numpy(), a_np)
    assert 0.05 < ref_zm.mean() < 0.95 and 0.05 < ref_out.mean() < 0.95  # the test exercises spiking
    np.testing.assert_array_equal(torch.stack(zm).detach().numpy(), ref_zm)
    np.testing.assert_array_equal(out.detach().numpy(), ref_out)
    np.testing.assert_allclose(state.o.detach().numpy(), ref_uo, rtol=0, atol=1e-10)
    # and the two conventions really differ on this input (so the test can tell them apart)
    assert not np.array_equal(_reference_l2mu(net, x.numpy(), a_np.T)[1], ref_zm)


def test_clamped_beta_is_the_authors_snntorch_parametrisation():
    # clamp_beta=True: beta_raw holds β itself, used as clamp(β, 0, 1) (snnTorch's Leaky); β_m = 1.3
    # runs as β_m = 1 (no leak), β_o = -0.2 as 0; the trajectory matches the float64 reference with
    # those clipped values, and the gradient reaches β with slope 1 inside (0, 1)
    torch.manual_seed(3)
    net = L2MU(3, hidden_size=6, output_size=4, encoder_size=2, order=3, theta=4.0, clamp_beta=True).double()
    with torch.no_grad():
        for name in ("e_x", "e_h", "e_m", "w_x", "w_h", "w_m", "w_o"):
            getattr(net, name).copy_(torch.randn_like(getattr(net, name)))
        net.beta_raw.copy_(torch.tensor([0.8, 1.3, 0.45, -0.2]))
    torch.testing.assert_close(net.beta(), torch.tensor([0.8, 1.0, 0.45, 0.0], dtype=torch.float64))
    x = torch.rand(25, 5, 3, dtype=torch.float64) * 2
    out, state = net.run(x)
    a_bar, _ = lmu_discretize(*legendre_matrices(3, 4.0), 1.0)
    ref_out, ref_zm, ref_uo = _reference_l2mu(net, x.numpy(), a_bar.numpy())
    assert 0.05 < ref_zm.mean() < 0.95 and 0.05 < ref_out.mean() < 0.95
    np.testing.assert_array_equal(out.detach().numpy(), ref_out)
    np.testing.assert_allclose(state.o.detach().numpy(), ref_uo, rtol=0, atol=1e-10)
    state.h.sum().backward()
    g = net.beta_raw.grad
    assert g is not None and g[2] != 0 and g[1] == 0 and g[3] == 0  # clamp passes no gradient outside [0, 1]
    sig = L2MU(3, beta=(0.8, 0.2, 0.45, 0.6))
    torch.testing.assert_close(sig.beta(), torch.tensor([0.8, 0.2, 0.45, 0.6]))  # default: σ(logit β) = β


def test_leaky_delayed_step_is_snntorch_leaky():
    snntorch = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    ref = snntorch.Leaky(beta=0.7, threshold=0.3, learn_beta=True, learn_threshold=True)
    mem = ref.init_leaky()
    v = torch.zeros(4, 5)
    current = torch.rand(40, 4, 5) * 0.6
    n_spikes = 0.0
    for t in range(40):
        s_ref, mem = ref(current[t], mem)
        s, v = leaky_delayed_step(current[t], v, torch.tensor(0.7), torch.tensor(0.3))
        torch.testing.assert_close(s, s_ref, rtol=0, atol=0)
        torch.testing.assert_close(v, mem, rtol=0, atol=1e-6)
        n_spikes += s.sum().item()
    assert 0 < n_spikes < 40 * 20


def test_authors_initialisation():
    torch.manual_seed(0)
    net = L2MU(50, hidden_size=200, output_size=10, encoder_size=100, order=4)
    assert torch.count_nonzero(net.e_m) == 0
    assert net.e_x.abs().max().item() <= math.sqrt(3 / 50)  # LeCun uniform: U(±sqrt(3 / fan_in))
    assert net.e_x.std().item() == pytest.approx(1 / math.sqrt(50), rel=0.05)  # var = 1 / fan_in
    assert net.w_m.std().item() == pytest.approx(math.sqrt(2 / (400 + 200)), rel=0.05)  # Xavier normal
    assert net.b_o.abs().max().item() <= 1 / math.sqrt(200)


def _memory_rate(net: L2MU, xs: torch.Tensor) -> float:
    state, zm = None, []
    with torch.no_grad():
        for t in range(xs.shape[0]):
            _, state = net.run(xs[t:t + 1], state)
            zm.append(state.zm)
    return torch.stack(zm).mean().item()  # [T, B, C·d] -> mean rate


def test_memory_population_silent_at_large_theta_unless_gained():
    # ZOH gives |B̄_i| <= 0.10 at θ = 64: a lone encoder spike leaves the memory neuron (β = 0.2,
    # Θ = 0.4) at <= 0.10 / 0.8 < Θ, so with the paper's wiring it never fires; our optional gain
    # g_m = θ (θB̄ ≈ (2i+1)(-1)^i) makes it fire
    torch.manual_seed(0)
    xs = torch.rand(32, 8, 1)  # [T, B, 1]
    _, b_bar = lmu_discretize(*legendre_matrices(4, 64.0), 1.0)
    assert b_bar.abs().max().item() / (1 - 0.2) < 0.4  # the silent regime, by hand
    torch.manual_seed(1)
    paper = L2MU(1, hidden_size=16, output_size=10, theta=64.0)
    torch.manual_seed(1)
    gained = L2MU(1, hidden_size=16, output_size=10, theta=64.0, memory_gain=64.0)
    assert _memory_rate(paper, xs) == 0.0
    assert 0.05 < _memory_rate(gained, xs) < 0.95
