"""Golden trajectories of STEP's neuron grid (EIF, I-LIF, NI-LIF, GLIF, KLIF, CLIF, HH).

Each reference below is written from the equations in the neuron's docstring, element by element
in Python floats (float64, ``math`` only, no torch and no spikeforge code), and compared with the
module's spikes and membrane over a whole trajectory. The reference (``transformers.md`` §7) only
*names* these neurons; the update rules are those of STEP's ``cls/models/utils/node.py`` (KLIF, CLIF,
GLIF, EIF, I-LIF, NI-LIF) and of Hodgkin & Huxley (1952) (HH), as each docstring says. They are
not checked here against the papers' own code beyond that.
"""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.neurons import CLIF, EIF, GLIF, HH, ILIF, KLIF, NILIF

F64 = torch.float64
T, B, N = 40, 2, 3


def _inputs(scale: float, offset: float = 0.0, steps: int = T) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.rand(steps, B, N, generator=g, dtype=F64) * scale + offset  # [T, B, N]


def _trajectory(neuron, xs):
    """Outputs [T, B, N] and every state field [T, B, N] after each step, via step()."""
    state, zs, states = None, [], []
    for x in xs:
        z, state = neuron.step(x, state)
        zs.append(z)
        states.append(state)
    fields = {f: torch.stack([getattr(s, f) for s in states]) for f in states[0]._fields}
    return torch.stack(zs).detach(), {k: v.detach() for k, v in fields.items()}


def _per_element(ref, xs):
    """Run the scalar reference ``ref(list_of_x) -> (zs, {field: list})`` on every element."""
    zs = torch.zeros_like(xs)
    fields: dict[str, torch.Tensor] = {}
    for b in range(xs.shape[1]):
        for n in range(xs.shape[2]):
            z, f = ref([float(x) for x in xs[:, b, n]])
            zs[:, b, n] = torch.tensor(z, dtype=F64)
            for k, vals in f.items():
                fields.setdefault(k, torch.zeros_like(xs))[:, b, n] = torch.tensor(vals, dtype=F64)
    return zs, fields


def _check(neuron, ref, xs, min_spikes=1):
    zs, fields = _trajectory(neuron, xs)
    zr, fr = _per_element(ref, xs)
    assert zr.sum() >= min_spikes and (zr == 0).any(), "the case must exercise both firing and silence"
    torch.testing.assert_close(zs, zr, rtol=0, atol=0)
    for k, vals in fr.items():
        torch.testing.assert_close(fields[k], vals, rtol=1e-12, atol=1e-12, msg=f"state {k}")


def _h(x: float) -> float:
    return 1.0 if x > 0 else 0.0


# --- KLIF ---------------------------------------------------------------------------------------
def _klif_ref(xs, tau=3.0, k=1.3, vth=1.0):
    v, zs, vs = 0.0, [], []
    for x in xs:
        v = v + (x - v) / tau
        v = max(k * v, 0.0)
        z = _h(v - vth)
        v = v * (1 - z)
        zs.append(z)
        vs.append(v)
    return zs, {"v": vs}


def test_klif_golden():
    neuron = KLIF(tau_mem=3e-3, k=1.3, dt=1e-3, dtype=F64)
    _check(neuron, _klif_ref, _inputs(3.0, -0.8))  # negative inputs exercise the ReLU


def test_klif_relu_clips_negative_membrane():
    _, fields = _trajectory(KLIF(dtype=F64), torch.full((5, 1, 1), -2.0, dtype=F64))
    assert torch.all(fields["v"] == 0)


# --- CLIF ---------------------------------------------------------------------------------------
def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _clif_ref(xs, tau=2.0, vth=1.0):
    v = m = 0.0
    zs, vs, ms = [], [], []
    for x in xs:
        v = v * (1 - 1 / tau) + x
        m = m * _sig(v / tau)
        z = _h(v - vth)
        m = m + z
        v = v - z * vth
        v = v - z * _sig(m)
        zs.append(z)
        vs.append(v)
        ms.append(m)
    return zs, {"v": vs, "m": ms}


def test_clif_golden():
    _check(CLIF(dtype=F64), _clif_ref, _inputs(1.5))


def test_clif_surrogate_is_the_rectangle():
    x = torch.tensor([[0.8], [0.2]], dtype=F64, requires_grad=True)  # v' - v_th = -0.2 and -0.8
    z, _ = CLIF(dtype=F64).step(x)
    z.sum().backward()
    assert x.grad.flatten().tolist() == [1.0, 0.0]  # width 1: gradient 1 inside |v - v_th| < 0.5


# --- EIF ----------------------------------------------------------------------------------------
def _eif_ref(xs, tau=2.0, dT=1.0, rh=0.8, vth=1.0, vr=-0.1):
    v, zs, vs = 0.0, [], []
    for x in xs:
        v = v + (x - v + dT * math.exp((v - rh) / dT)) / tau
        z = _h(v - vth)
        v = v * (1 - z) + z * vr
        zs.append(z)
        vs.append(v)
    return zs, {"v": vs}


def test_eif_golden():
    _check(EIF(dtype=F64), _eif_ref, _inputs(1.2))


def test_eif_golden_other_parameters():
    neuron = EIF(tau_mem=3e-3, delta_t=0.5, theta_rh=0.6, v_th=1.2, v_reset=0.1, dtype=F64)
    _check(neuron, lambda x: _eif_ref(x, tau=3.0, dT=0.5, rh=0.6, vth=1.2, vr=0.1), _inputs(1.2))


def test_eif_refuses_resets_that_run_away():
    for reset in ("subtract", "none"):
        with pytest.raises(ValueError, match="hard reset"):
            EIF(reset=reset)


# --- I-LIF / NI-LIF -----------------------------------------------------------------------------
def _ilif_ref(xs, tau=2.0, vth=1.0, D=2.0, normalise=False):
    v, zs, vs = 0.0, [], []
    for x in xs:
        v = v + (x - v) / tau
        u = min(max(v / vth, 0.0), D)
        if normalise:
            u = u / D
        s = float(round(u))  # Python rounds halves to even, like torch.round
        v = v - s * vth
        zs.append(s)
        vs.append(v)
    return zs, {"v": vs}


def test_ilif_golden_and_integer_outputs():
    neuron = ILIF(dtype=F64)
    xs = _inputs(6.0)
    _check(neuron, _ilif_ref, xs)
    zs, _ = _trajectory(neuron, xs)
    assert set(zs.unique().tolist()) == {0.0, 1.0, 2.0}  # integers up to D = 2 occur


def test_nilif_golden_binary():
    neuron = NILIF(dtype=F64)
    xs = _inputs(6.0)
    _check(neuron, lambda x: _ilif_ref(x, normalise=True), xs)
    zs, _ = _trajectory(neuron, xs)
    assert set(zs.unique().tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("normalise", [False, True])
def test_integer_lif_golden_with_threshold_and_levels_not_one(normalise):
    # v_th = 0.7 and D = 3: a reset by s (not s·v_th) or a level count tied to 2 shows up here
    cls = NILIF if normalise else ILIF
    neuron = cls(v_th=0.7, d_max=3.0, dtype=F64)
    xs = _inputs(8.0)
    _check(neuron, lambda x: _ilif_ref(x, vth=0.7, D=3.0, normalise=normalise), xs)
    zs, _ = _trajectory(neuron, xs)
    assert set(zs.unique().tolist()) == ({0.0, 1.0} if normalise else {0.0, 1.0, 2.0, 3.0})


@pytest.mark.parametrize(("cls", "expected"), [(ILIF, 0.5), (NILIF, 0.25)])
def test_integer_lif_straight_through_gradient(cls, expected):
    # v' = x / 2 (tau = 2 steps); inside the clip ds/dx = (1/2) / v_th (I-LIF) or / (D v_th) (NI-LIF)
    x = torch.tensor([[1.3], [9.0]], dtype=F64, requires_grad=True)  # v' = 0.65 (inside), 4.5 (above D)
    s, _ = cls(dtype=F64).step(x)
    s.sum().backward()
    assert x.grad.flatten().tolist() == [expected, 0.0]


# --- GLIF ---------------------------------------------------------------------------------------
def _glif_ref(xs, al=0.45, be=0.35, ga=0.45, tau=0.25, leak=0.0625, c=0.5, vth=0.5, reth=0.5):
    v = o = 0.0
    zs, vs = [], []
    for x in xs:
        i = x * (1 - be * (1 - c))
        v = (1 - al * (1 - tau)) * v * (1 - ga * o) - (1 - al) * leak + i - (1 - ga) * reth * o
        o = _h(v - vth)
        zs.append(o)
        vs.append(v)
    return zs, {"v": vs, "z": zs}


def test_glif_golden():
    _check(GLIF(dtype=F64), _glif_ref, _inputs(0.8))


def test_glif_golden_other_parameters():
    kw = {"alpha": 0.7, "beta": 0.6, "gamma": 0.2, "decay": 0.4, "leak": 0.03, "conduct": 0.3, "v_th": 0.6,
          "v_reth": 0.4}
    ref_kw = {"al": 0.7, "be": 0.6, "ga": 0.2, "tau": 0.4, "leak": 0.03, "c": 0.3, "vth": 0.6, "reth": 0.4}
    _check(GLIF(**kw, dtype=F64), lambda x: _glif_ref(x, **ref_kw), _inputs(1.0))


def test_glif_gates_at_corners():
    # alpha = beta = gamma = 1: multiplicative decay, conductance-scaled input, hard reset:
    # v' = tau v (1 - z) + c x  (a hand-checked LIF with decay tau and gain c)
    neuron = GLIF(alpha=1.0, beta=1.0, gamma=1.0, dtype=F64)
    _check(neuron, lambda x: _glif_ref(x, al=1.0, be=1.0, ga=1.0), _inputs(1.6))
    xs = torch.tensor([1.2, 1.2, 1.2], dtype=F64).view(3, 1, 1)
    zs, f = _trajectory(neuron, xs)
    # v1 = 0.6 -> spike; v2 = 0.25*0.6*(1-1) + 0.6 = 0.6 -> spike; ...
    assert f["v"].flatten().tolist() == pytest.approx([0.6, 0.6, 0.6]) and zs.flatten().tolist() == [1, 1, 1]


# --- Hodgkin–Huxley -----------------------------------------------------------------------------
def _hh_ref(xs, k=0.1, vth=50.0):
    """HH (1952) with the paper's rate expressions written out (no removable-singularity guard:
    the inputs keep v away from 10 and 25 mV exactly), exponential Euler as in ``hh_step``."""
    def rates(v):
        am = 0.1 * (25 - v) / (math.exp((25 - v) / 10) - 1)
        bm = 4 * math.exp(-v / 18)
        ah = 0.07 * math.exp(-v / 20)
        bh = 1 / (math.exp((30 - v) / 10) + 1)
        an = 0.01 * (10 - v) / (math.exp((10 - v) / 10) - 1)
        bn = 0.125 * math.exp(-v / 80)
        return am, bm, ah, bh, an, bn

    v = 0.0
    am, bm, ah, bh, an, bn = rates(v)
    m, h, n = am / (am + bm), ah / (ah + bh), an / (an + bn)
    zs, vs, ms, hs, ns = [], [], [], [], []
    for x in xs:
        am, bm, ah, bh, an, bn = rates(v)
        gna, gk, gl = 120 * m**3 * h, 36 * n**4, 0.3
        g = gna + gk + gl
        v_inf = (x + gna * 115 + gk * (-12) + gl * 10.6) / g
        v_new = v_inf + (v - v_inf) * math.exp(-k * g / 1.0)
        m = am / (am + bm) + (m - am / (am + bm)) * math.exp(-k * (am + bm))
        h = ah / (ah + bh) + (h - ah / (ah + bh)) * math.exp(-k * (ah + bh))
        n = an / (an + bn) + (n - an / (an + bn)) * math.exp(-k * (an + bn))
        z = _h(v_new - vth) * (1.0 if v < vth else 0.0)
        v = v_new
        zs.append(z)
        vs.append(v)
        ms.append(m)
        hs.append(h)
        ns.append(n)
    return zs, {"v": vs, "m": ms, "h": hs, "n": ns}


def test_hh_golden_spike_train():
    # 15 ms (150 steps of the default 0.1 ms) at 8-12 µA/cm²: every element fires; the 1952 rates by hand
    xs = _inputs(4.0, 8.0, steps=150)[:, :1, :2]
    zs, fields = _trajectory(HH(dtype=F64), xs)
    zr, fr = _per_element(_hh_ref, xs)
    assert torch.all(zr.sum(0) >= 1)
    torch.testing.assert_close(zs, zr, rtol=0, atol=0)
    for k, vals in fr.items():
        torch.testing.assert_close(fields[k], vals, rtol=1e-9, atol=1e-9, msg=f"state {k}")
    assert 90 < fields["v"].max() < 120  # the action potential peaks near E_Na = 115 mV


def test_hh_spike_times_converge_as_dt_shrinks():
    # 10 µA/cm² for 3 ms: the first spike time approaches the dt = 2.5 µs one (≈ 1.85 ms); the error
    # shrinks with dt (measured: 1.85, 1.95, 2.1 ms for dt = 2.5, 50, 100 µs)
    def first(dt):
        zs, _ = HH(dt=dt, dtype=F64).run(torch.full((round(3e-3 / dt), 1, 1), 10.0, dtype=F64))
        return float(zs.flatten().nonzero()[0, 0]) * dt * 1e3  # [ms]

    fine, mid, coarse = first(2.5e-6), first(5e-5), first(1e-4)
    assert 1.8 < fine < 1.9
    assert abs(mid - fine) < abs(coarse - fine) < 0.4


def test_hh_stays_bounded_under_strong_currents():
    for current in (-50.0, 300.0):  # forward Euler diverges here at dt = 0.05 ms
        _, s = HH(dt=1e-4, dtype=F64).run(torch.full((300, 1, 1), current, dtype=F64))
        assert all(bool(torch.isfinite(v).all()) for v in s) and 0 <= float(s.m) <= 1


def test_hh_rest_is_nearly_a_fixed_point_and_weak_input_is_subthreshold():
    zs, fields = _trajectory(HH(dtype=F64), torch.full((200, 1, 1), 1.0, dtype=F64))
    assert zs.sum() == 0 and fields["v"].abs().max() < 5.0
