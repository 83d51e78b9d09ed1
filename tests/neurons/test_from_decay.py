"""``from_decay``: discrete-time neurons computed exactly as ``beta * v + x`` (no round trip through
``tau``), and the precise correspondence with snnTorch's ``Leaky`` and ``Synaptic``."""

from __future__ import annotations

import pickle

import pytest
import torch

from spikeforge.kernels import available_backends
from spikeforge.neurons import LI, LIF, CubaLI, CubaLIF

BACKENDS = ["torch"] + (["cpp"] if "cpp" in available_backends() else [])
DTYPES = [torch.float32, torch.float64]
DTS = [1e-3, 0.37e-3, 1.0]
K64 = torch.arange(64, dtype=torch.float64) / 64  # every k/64: exact in binary


def _betas(kind: str, dtype: torch.dtype) -> torch.Tensor:
    if kind == "k64":
        return K64.to(dtype)
    return torch.rand(64, generator=torch.Generator().manual_seed(3), dtype=torch.float64).to(dtype)  # not binary


def _xs(dtype: torch.dtype, T: int = 80, B: int = 3, N: int = 64) -> torch.Tensor:
    return (torch.rand(T, B, N, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 0.9 - 0.2).to(dtype)


def _reference_lif(xs: torch.Tensor, beta: torch.Tensor, reset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``v = beta v + x``, strict threshold 1, reset after the test; in ``xs``'s dtype."""
    v, zs = torch.zeros_like(xs[0]), []
    for x in xs:
        v = beta * v + x
        z = (v > 1).to(xs.dtype)
        v = {"subtract": v - z, "zero": v * (1 - z), "none": v}[reset]
        zs.append(z)
    return torch.stack(zs), v


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("betas", ["k64", "random"])
def test_lif_from_decay_is_beta_v_plus_x_bit_for_bit(betas, dtype, backend):
    beta = _betas(betas, dtype)
    xs = _xs(dtype)
    for dt in DTS:
        for reset in ("subtract", "zero", "none"):
            lif = LIF.from_decay(beta, dt=dt, reset=reset, backend=backend, dtype=dtype)
            zs, state = lif.run(xs)
            ref_z, ref_v = _reference_lif(xs, beta, reset)
            assert zs.sum() > 100
            assert torch.equal(zs, ref_z), (dt, reset)
            assert torch.equal(state.v, ref_v), (dt, reset)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_li_from_decay_membrane_every_step(dtype, backend):
    beta, xs = _betas("k64", dtype), _xs(dtype)
    for dt in DTS:
        vs = LI.from_decay(beta, dt=dt, backend=backend, dtype=dtype)(xs)
        v, ref = torch.zeros_like(xs[0]), []
        for x in xs:
            v = beta * v + x
            ref.append(v)
        assert torch.equal(vs, torch.stack(ref)), dt


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("cls", [CubaLIF, CubaLI])
def test_cuba_from_decay_is_alpha_i_plus_x_then_beta_v_plus_i(cls, dtype):
    alpha, beta = _betas("k64", dtype), _betas("k64", dtype).flip(0)
    xs = _xs(dtype) * 0.5
    backends = BACKENDS if cls is CubaLIF else ["torch"]
    for backend in backends:
        for dt in DTS:
            kw = {"reset": "subtract"} if cls is CubaLIF else {}
            n = cls.from_decay(alpha, beta, dt=dt, backend=backend, dtype=dtype, **kw)
            zs, state = n.run(xs)
            i, v, ref = torch.zeros_like(xs[0]), torch.zeros_like(xs[0]), []
            for x in xs:
                i = alpha * i + x
                v = beta * v + i
                if cls is CubaLIF:
                    z = (v > 1).to(dtype)
                    v = v - z
                    ref.append(z)
                else:
                    ref.append(v)
            assert torch.equal(zs, torch.stack(ref)), (backend, dt)
            assert torch.equal(state.i, i) and torch.equal(state.v, v), (backend, dt)


def test_from_decay_reports_time_constants_and_stores_decays():
    lif = LIF.from_decay(0.8125, dt=1e-3)
    assert set(lif.state_dict()) == {"beta", "gain", "v_leak", "v_th", "v_reset"}
    assert lif.beta.item() == 0.8125 and lif.gain.item() == 1.0 and lif.decay.item() == 0.8125
    p = lif.params()  # time constants for NIR export: Euler's reading of the same step
    assert p.tau_mem.item() == torch.tensor(1e-3 / 0.1875).item()
    assert p.r.item() == torch.tensor(1 / 0.1875).item()
    c = CubaLIF.from_decay(0.5, 0.75, dt=1e-4).params()
    assert (c.tau_syn.item(), c.w_in.item()) == (torch.tensor(2e-4).item(), 2.0)
    assert (c.tau_mem.item(), c.r.item()) == (torch.tensor(4e-4).item(), 4.0)
    assert "beta=0.8125" in repr(lif) and "integrator='decay'" in repr(lif)


def test_from_decay_module_contract():
    """Pickle, state_dict, dtype and a learnable decay on both backends."""
    xs = _xs(torch.float32, T=30)
    lif = LIF.from_decay(K64, learn=("beta", "gain"), size=64)
    clone = pickle.loads(pickle.dumps(lif))
    assert torch.equal(clone(xs), lif(xs))
    other = LIF.from_decay(0.1, size=64)
    other.load_state_dict(lif.state_dict())
    assert torch.equal(other(xs), lif(xs))
    assert lif.double()(xs.double()).dtype == torch.float64
    grads = []
    for backend in BACKENDS:
        m = LIF.from_decay(K64.float().clamp(0.1, 0.9), learn=("beta", "gain"), backend=backend)
        (m(xs) * torch.linspace(-1, 1, 64)).sum().backward()
        assert m.beta.grad is not None and m.beta.grad.abs().sum() > 0
        grads.append((m.beta.grad, m.gain.grad))
    if len(grads) == 2:
        for a, b in zip(*grads):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"decay alpha must be in \[0, 1\)"):
        CubaLIF.from_decay(1.5, 0.5)
    with pytest.raises(ValueError, match=r"cannot learn \['tau_mem'\]"):
        LIF.from_decay(0.5, learn=("tau_mem",))


# --- snnTorch correspondence (the statement in LIF.from_decay's docstring) ---------------------------
def _per_step(neuron, xs: torch.Tensor) -> tuple[torch.Tensor, list]:  # type: ignore[no-untyped-def]
    """Spikes and states after every step, from one ``run`` call per step (both backends)."""
    zs, states, state = [], [], None
    for t in range(xs.shape[0]):
        z, state = neuron.run(xs[t:t + 1], state)
        zs.append(z[0])
        states.append(state)
    return torch.stack(zs), states


@pytest.mark.peers
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_lif_from_decay_equals_snntorch_leaky(reset, backend):
    snn = pytest.importorskip("snntorch")
    N = 64
    beta = torch.cat([K64[:32], torch.rand(32, generator=torch.Generator().manual_seed(5), dtype=torch.float64)])
    beta = beta.float()
    xs = _xs(torch.float32, T=110, N=N)
    ours = LIF.from_decay(beta, v_th=1.0, reset=reset, backend=backend)
    zs, states = _per_step(ours, xs)
    leaky = snn.Leaky(beta=beta.clone(), threshold=1.0, reset_mechanism=reset, reset_delay=False)
    mem = leaky.reset_mem()
    pre_max = 0.0
    for t, x in enumerate(xs):
        pre_max = max(pre_max, (beta * states[t - 1].v + x).max().item() if t else x.max().item())
        spk, mem = leaky(x, mem)
        assert torch.equal(spk, zs[t]), t
        assert torch.equal(mem, states[t].v), t
    assert zs.sum() > 500
    if reset == "subtract":
        assert pre_max <= 2.0  # the stated condition held (and was approached)
        assert pre_max > 1.2


@pytest.mark.peers
def test_snntorch_subtract_differs_once_a_membrane_exceeds_two_thresholds():
    """The boundary of the statement: above 2 v_th snnTorch subtracts before testing."""
    snn = pytest.importorskip("snntorch")
    xs = torch.tensor([[[2.5]], [[0.3]], [[0.3]]])  # v = 2.5 > 2 thresholds
    zs, _ = _per_step(LIF.from_decay(0.5, reset="subtract"), xs)
    leaky = snn.Leaky(beta=0.5, threshold=1.0, reset_mechanism="subtract", reset_delay=False)
    mem, theirs = leaky.reset_mem(), []
    for x in xs:
        spk, mem = leaky(x, mem)
        theirs.append(spk)
    assert zs.flatten().tolist() == [1.0, 1.0, 0.0]  # 2.5 -> 1.5; 0.75 + 0.3 = 1.05 > 1
    assert torch.stack(theirs).flatten().tolist() == [1.0, 0.0, 0.0]  # 1.5 - 1 before the test: 0.05


@pytest.mark.peers
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_cuba_lif_from_decay_equals_snntorch_synaptic(reset, backend):
    snn = pytest.importorskip("snntorch")
    N = 64
    g = torch.Generator().manual_seed(6)
    alpha = torch.cat([K64[:32], torch.rand(32, generator=g, dtype=torch.float64) * 0.7]).float()  # i < 1
    beta = torch.cat([torch.rand(32, generator=g, dtype=torch.float64), K64[1::2]]).float()
    xs = _xs(torch.float32, T=110, N=N) * 0.4
    ours = CubaLIF.from_decay(alpha, beta, v_th=1.0, reset=reset, backend=backend)
    zs, states = _per_step(ours, xs)
    syn = snn.Synaptic(alpha=alpha.clone(), beta=beta.clone(), threshold=1.0, reset_mechanism=reset,
                       reset_delay=False)
    s_i, s_v = syn.reset_mem()
    pre_max = 0.0
    for t, x in enumerate(xs):
        spk, s_i, s_v = syn(x, s_i, s_v)
        assert torch.equal(spk, zs[t]), t
        assert torch.equal(s_i, states[t].i) and torch.equal(s_v, states[t].v), t
        pre_max = max(pre_max, (s_v + spk).max().item() if reset == "subtract" else 0.0)
    assert zs.sum() > 500
    assert pre_max <= 2.0
