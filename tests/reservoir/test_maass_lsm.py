"""Maass 2002 liquid: event-driven step vs a clock-driven float64 reference (matrix exponential,
per-synapse clock STP, a dictionary of pending deliveries); drawn parameters; refractoriness."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
import torch

from spikeforge.numerics import NonFiniteError
from spikeforge.reservoir.maass import LSM, MaassConfig, MaassNetwork

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny per-step ops (tests/conftest.py)


def _reference(net: MaassNetwork, x: torch.Tensor) -> torch.Tensor:
    """Spikes ``[T, N]`` of the liquid written as plainly as possible (no ring buffer, no CSR rows)."""
    cfg = net.cfg
    dt, n = cfg.dt, net.is_inh.numel()
    pre, post = net.graph.edges()
    A, d = net.graph.w, net.graph.delay
    from_inh = net.is_inh[pre]
    # state X = [v, I_E, I_I, I_in, 1] per neuron; dX/dt = M X, X(t + dt) = expm(M dt) X
    steps = []
    for j in range(n):
        tau_in = cfg.tau_in[1] if net.is_inh[j] else cfg.tau_in[0]
        m = torch.zeros(5, 5, dtype=F64)
        m[0] = torch.tensor([-1.0, cfg.r_in, cfg.r_in, cfg.r_in, cfg.r_in * cfg.i_b], dtype=F64) / cfg.tau_mem
        m[1, 1], m[2, 2], m[3, 3] = -1 / cfg.tau_syn[0], -1 / cfg.tau_syn[1], -1 / tau_in
        steps.append(torch.linalg.matrix_exp(m * dt))
    P = torch.stack(steps)  # [N, 5, 5]
    X = torch.zeros(n, 5, dtype=F64)
    X[:, 0], X[:, 4] = net.v0, 1.0
    u = torch.zeros(pre.numel(), dtype=F64)
    R = torch.ones(pre.numel(), dtype=F64)
    t_ref = torch.where(net.is_inh, round(cfg.t_ref[1] / dt), round(cfg.t_ref[0] / dt))
    allowed = torch.zeros(n, dtype=torch.long)  # first step a neuron may integrate and fire again
    pending: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
    out = torch.zeros(x.shape[0], n, dtype=torch.bool)
    for t in range(x.shape[0]):
        u = u * torch.exp(-dt / net.F)  # every synapse relaxes every step
        R = 1 - (1 - R) * torch.exp(-dt / net.D)
        new = torch.einsum("nij,nj->ni", P, X)
        free = t >= allowed
        new[~free, 0] = X[~free, 0]
        X = new
        z = free & (X[:, 0] > cfg.v_th)
        out[t] = z
        for s in torch.isin(pre, z.nonzero()[:, 0]).nonzero()[:, 0].tolist():
            u[s] = u[s] + net.U[s] * (1 - u[s])
            e = u[s] * R[s]
            R[s] = R[s] - e
            pending[t + int(d[s])].append((2 if from_inh[s] else 1, int(post[s]), float(A[s] * e)))
        for col, j, amount in pending.pop(t, []):
            X[j, col] += amount
        X[:, 3] += net.w_in @ x[t]
        X[z, 0] = cfg.v_reset
        allowed[z] = t + t_ref[z]
    return out


def _input(T: int, n_in: int, rate: float, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, 1, n_in, generator=g, dtype=F64) < rate * 1e-4).to(F64)  # [T, 1, n_in], dt = 0.1 ms


def test_event_driven_equals_clock_reference() -> None:
    lsm = LSM(2, seed=0)
    x = _input(1000, 2, 60.0)
    z, _ = lsm(x)
    ref = _reference(lsm.net, x[:, 0])
    assert int(ref.sum()) > 200
    assert torch.equal(z[:, 0], ref)
    # the recurrent synapses (delays, dynamics) shape the trains: without STP they differ
    z_static, _ = LSM(2, MaassConfig(stp=False), seed=0)(x)
    assert not torch.equal(z_static, z)


def test_batch_entries_are_independent() -> None:
    lsm = LSM(2, seed=3)
    x = torch.cat([_input(300, 2, 60.0, seed=s) for s in (1, 2)], dim=1)  # [T, 2, 2]
    z, _ = lsm(x)
    for b in range(2):
        zb, _ = lsm(x[:, b : b + 1])
        assert torch.equal(z[:, b], zb[:, 0])
    assert not torch.equal(z[:, 0], z[:, 1])


def test_continuing_a_sequence_equals_one_run() -> None:
    lsm = LSM(1, seed=0)
    x = _input(400, 1, 80.0)
    z, _ = lsm(x)
    z1, s = lsm(x[:150])
    z2, _ = lsm(x[150:], s)
    assert torch.equal(torch.cat([z1, z2]), z)


def _redrawn_mean(m: float, s: float, hi: float = math.inf) -> float:
    """Mean of N(m, s) restricted to (0, hi], with the rest redrawn from U(0, min(2m, hi))."""
    cdf = (lambda a: 0.5 * (1 + math.erf(a / math.sqrt(2))))  # noqa: E731
    pdf = (lambda a: math.exp(-a * a / 2) / math.sqrt(2 * math.pi))  # noqa: E731
    lo_z, hi_z = -m / s, (hi - m) / s
    p_good = cdf(hi_z) - cdf(lo_z)
    return m * p_good + s * (pdf(lo_z) - pdf(hi_z)) + (1 - p_good) * min(2 * m, hi) / 2


def test_drawn_network_follows_the_published_parameters() -> None:
    cfg = MaassConfig(shape=(15, 6, 6))
    net = LSM(1, cfg, seed=0).net
    pre, post = net.graph.edges()
    kind = 2 * net.is_inh[pre].long() + net.is_inh[post].long()
    assert int(net.is_inh.sum()) == round(0.2 * 540)
    A = net.graph.w
    for k in range(4):
        sel = kind == k
        assert int(sel.sum()) > 40
        assert bool((net.graph.delay[sel] == round(cfg.delay[k] / cfg.dt)).all())
        assert bool((A[sel] > 0).all()) if k < 2 else bool((A[sel] < 0).all())  # Dale's law
        m = int(sel.sum())
        for vals, mean, sd in ((A[sel].abs(), abs(cfg.a[k]), abs(cfg.a[k])),
                               (net.U[sel], _redrawn_mean(cfg.U[k], cfg.U[k] / 2, 1.0), cfg.U[k] / 2),
                               (net.D[sel], _redrawn_mean(cfg.D[k], cfg.D[k] / 2), cfg.D[k] / 2),
                               (net.F[sel], _redrawn_mean(cfg.F[k], cfg.F[k] / 2), cfg.F[k] / 2)):
            assert abs(float(vals.mean()) - mean) < 4 * sd / math.sqrt(m), (k, float(vals.mean()), mean)
            assert bool((vals > 0).all())
    assert bool((net.U <= 1).all())
    assert float(A[kind == 0].std() / A[kind == 0].mean()) == pytest.approx(1.0, abs=0.25)  # gamma, SD = mean
    w_in = net.w_in[:, 0]
    assert bool((w_in[~net.is_inh] == 18.0).all()) and bool((w_in[net.is_inh] == 9.0).all())


def test_refractory_periods_and_silence_without_input() -> None:
    lsm = LSM(1, seed=0)
    quiet, _ = lsm(torch.zeros(500, 1, 1, dtype=F64))
    assert not quiet.any()  # R I_b = 13.5 mV < 15 mV and v0 < 15 mV: nothing fires
    z, _ = lsm(torch.zeros(400, 1, 1, dtype=F64), current=torch.tensor(500.0, dtype=F64))
    for j in range(lsm.n):
        isi = torch.diff(z[:, 0, j].nonzero()[:, 0])
        assert isi.numel() > 5
        assert int(isi.min()) == (20 if lsm.net.is_inh[j] else 30)  # 2 ms / 3 ms at dt = 0.1 ms


def test_bad_input_raises() -> None:
    lsm = LSM(2, seed=0)
    with pytest.raises(ValueError, match="input must be"):
        lsm(torch.zeros(10, 1, 3, dtype=F64))
    x = torch.zeros(10, 1, 2, dtype=F64)
    x[3, 0, 1] = float("nan")
    with pytest.raises(NonFiniteError, match="input"):
        lsm(x)
    with pytest.raises(ValueError, match="current of shape"):
        lsm(torch.zeros(10, 1, 2, dtype=F64), current=torch.zeros(7, dtype=F64))
    with pytest.raises(ValueError, match="Dale"):
        MaassConfig(a=MaassConfig().a._replace(ie=5.0))
    with pytest.raises(ValueError, match="at least one step"):
        MaassConfig(dt=1e-3)


def test_network_is_in_buffers() -> None:
    lsm = LSM(2, seed=0)
    sd = {k: v.clone() for k, v in lsm.state_dict().items()}
    assert {"U", "D", "F", "w_in", "graph_w", "graph_delay", "v0"} <= set(sd)
    x = _input(300, 2, 80.0)
    z, _ = lsm(x)
    lsm.graph_w.zero_()  # the step reads the buffers
    assert not torch.equal(lsm(x)[0], z)
    lsm.load_state_dict(sd)
    assert torch.equal(lsm(x)[0], z)
