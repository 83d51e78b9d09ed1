"""Tsodyks–Markram synapse: closed-form steady state, the paper's recursion, clock = event-driven."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.reservoir.stp import TMParams, TsodyksMarkram, tm_init_state, tm_steady_state, tm_step

F64 = torch.float64
# Maass 2002 mean U, D [s], F [s] of EE, EI, IE, II (reference §3.1)
PAIRS = [(0.5, 1.1, 0.05), (0.05, 0.125, 1.2), (0.25, 0.7, 0.02), (0.32, 0.144, 0.06)]


def _closed_form(U: float, D: float, F: float, isi: float) -> tuple[float, float]:
    """Fixed point of u' = U + u(1-U)e^{-isi/F}, R' = 1 + (R - uR - 1)e^{-isi/D} (written out here)."""
    u = U / (1 - (1 - U) * math.exp(-isi / F))
    r = (1 - math.exp(-isi / D)) / (1 - (1 - u) * math.exp(-isi / D))
    return u, r


def test_regular_train_converges_to_closed_form() -> None:
    isis = [0.005, 0.02, 0.1, 0.4]
    U, D, F = (torch.tensor([p[k] for p in PAIRS for _ in isis], dtype=F64) for k in range(3))  # [16]
    isi = torch.tensor(isis * len(PAIRS), dtype=F64)
    p = TMParams(U, D, F)
    s = tm_init_state((16,))
    e, s = tm_step(1.0, s, p, dt=0.0)  # first spike from rest: efficacy U
    torch.testing.assert_close(e, U, rtol=0, atol=0)
    for _ in range(4000):
        e, s = tm_step(1.0, s, p, dt=isi)
    want = torch.tensor([math.prod(_closed_form(*pp, dt)) for pp in PAIRS for dt in isis], dtype=F64)
    torch.testing.assert_close(e, want, rtol=1e-12, atol=0)
    u_lib, r_lib = tm_steady_state(p, isi)
    torch.testing.assert_close(u_lib * r_lib, want, rtol=1e-13, atol=0)
    # depression dominates EE at high rate, facilitation dominates EI (efficacy above U)
    assert float(e[1]) < 0.5 * PAIRS[0][0] and float(e[4 + 1]) > PAIRS[1][0]


def test_irregular_train_matches_paper_recursion() -> None:
    """A_n = u_n R_n with u_{n+1} = U + u_n(1 − U)e^{−Δ/F}, R_{n+1} = 1 + (R_n − u_n R_n − 1)e^{−Δ/D}."""
    U, D, F = 0.25, 0.7, 0.02
    gaps = [0.0, 0.003, 0.05, 0.011, 0.2, 0.001, 0.03]
    s, got = tm_init_state((1,)), []
    for d in gaps:
        e, s = tm_step(1.0, s, TMParams(U, D, F), dt=d)
        got.append(float(e))
    u, r, want = U, 1.0, [U]
    for d in gaps[1:]:
        u, r = U + u * (1 - U) * math.exp(-d / F), 1 + (r - u * r - 1) * math.exp(-d / D)
        want.append(u * r)
    assert got == pytest.approx(want, rel=1e-13)


def test_clock_driven_equals_event_driven() -> None:
    gen = torch.Generator().manual_seed(0)
    T, S, dt = 3000, 6, 1e-4
    zs = (torch.rand(T, 1, S, generator=gen, dtype=F64) < 0.01).to(F64)  # ~100 Hz
    U = torch.rand(S, generator=gen, dtype=F64) * 0.9 + 0.05
    D = torch.rand(S, generator=gen, dtype=F64) + 0.1
    F = torch.rand(S, generator=gen, dtype=F64) * 0.5
    clock, _ = TsodyksMarkram(U, D, F, dt=dt)(zs)  # [T, 1, S]
    for j in range(S):
        times = zs[:, 0, j].nonzero()[:, 0]
        s, prev = tm_init_state((1,)), 0
        for t in times.tolist():
            e, s = tm_step(1.0, s, TMParams(U[j], D[j], F[j]), dt=(t - prev) * dt)
            prev = t
            torch.testing.assert_close(clock[t, 0, j], e[0], rtol=1e-12, atol=0)
    assert bool((clock[zs == 0] == 0).all())


def test_no_facilitation_keeps_u_at_U() -> None:
    s = tm_init_state((1,))
    for d in (0.0, 0.001, 0.002):
        _, s = tm_step(1.0, s, TMParams(0.3, 0.5, 0.0), dt=d)
        assert float(s.u) == pytest.approx(0.3, abs=1e-15)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="dt must be >= 0"):
        tm_step(1.0, tm_init_state((1,)), TMParams(0.5, 1.0, 0.1), dt=-1.0)
    with pytest.raises(ValueError, match="U must lie"):
        TsodyksMarkram(U=1.5, tau_rec=1.0, tau_facil=0.1)
    with pytest.raises(ValueError, match="input must be"):
        TsodyksMarkram(U=0.5, tau_rec=1.0, tau_facil=0.1)(torch.zeros(3))
