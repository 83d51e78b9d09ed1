"""Every LIF-family neuron has a fused kernel (issue 16; ``docs/speed.md``), and two near misses.

A registered neuron must have a kernel spec (``kernels/specs.py``: its step function is exactly one
of the LIF kernel's kinds) or a model kernel of its own (``kernels/model_kernels.py``), unless it is
listed in ``NO_FUSED_PATH`` with the reason; those run the reference (``"auto"`` picks ``"torch"``,
``"cpp"`` refuses). The near-miss tests show why NI-LIF and AstroLIF got kernels of their own instead
of being routed onto the LIF/ALIF kinds: the closest existing mapping is the same math, rounded
differently or with a different gradient, so routing them would change results.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.kernels import BackendUnavailableError, available_backends
from spikeforge.kernels.model_kernels import model_kernel_for
from spikeforge.kernels.specs import spec_for
from spikeforge.neurons import NEURONS, LIF
from spikeforge.neurons.alif import ALIF
from spikeforge.neurons.astro_lif import AstroLIF
from spikeforge.neurons.nilif import NILIF
from spikeforge.surrogate import Rectangle

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

# registered neurons outside the LIF family with no fused path, and why (a new neuron without a spec
# or model kernel fails test_every_lif_family_neuron_has_a_fused_path until it gets one or a reason here)
NO_FUSED_PATH: dict[str, str] = {
    "hh": "Hodgkin-Huxley: conductance-based, three gating variables (not the LIF family)",
    "izhikevich": "quadratic membrane with a recovery variable (not the LIF family)",
    "burst_if": "ANN-to-SNN conversion neuron, several spikes per step (docs/convert.md)",
    "signed_if": "ANN-to-SNN conversion neuron with signed spikes and memory (docs/convert.md)",
}


def _has_fused_path(cls: type) -> bool:
    return spec_for(cls.step_fn) is not None or model_kernel_for(cls.step_fn) is not None


@pytest.mark.parametrize("name", NEURONS.names())
def test_every_lif_family_neuron_has_a_fused_path(name: str) -> None:
    cls = NEURONS.get(name)
    if name not in NO_FUSED_PATH:
        assert _has_fused_path(cls), (f"{cls.__name__} has neither a kernel spec (kernels/specs.py) nor a model "
                                      f"kernel (kernels/model_kernels.py); add one, or list it in NO_FUSED_PATH "
                                      f"with the reason")
        return
    assert not _has_fused_path(cls), f"{name} has a fused path now: remove it from NO_FUSED_PATH"
    xs = torch.rand(6, 2, 8) * 2  # [T, B, N]
    with pytest.raises(BackendUnavailableError, match="no fused kernel"):
        cls(backend="cpp")(xs)
    assert torch.equal(cls(backend="auto")(xs), cls(backend="torch")(xs))


def _closest_lif_for_nilif(backend: str) -> LIF:
    """NI-LIF with D = 2, v_th = 1 as LIF: threshold D v_th / 2 = v_th, subtract v_th, the clip's
    slope 1/(D v_th) on (0, D v_th) as a rectangle of width 2, reset through the detached spike."""
    return LIF(tau_mem=2e-3, dt=1e-3, backend=backend, surrogate=Rectangle(width=2.0), detach_reset=True)


def test_nilif_closest_lif_mapping_is_not_exact() -> None:
    gen = torch.Generator().manual_seed(0)
    xs = torch.randn(50, 16, 64, generator=gen) * 2  # [T, B, N]
    _, s_ref = NILIF(backend="torch").run(xs)
    _, s_lif = _closest_lif_for_nilif("cpp").run(xs)
    torch.testing.assert_close(s_lif.v, s_ref.v)  # the same math ...
    assert not torch.equal(s_lif.v, s_ref.v)  # ... rounded differently: v + (x - v) a vs (1 - a) v + a x
    # the clip's straight-through gradient is nonzero at v' = 0 (rest + zero input); the rectangle's is 0
    x0 = torch.zeros(3, 1, 4, requires_grad=True)
    NILIF(backend="torch")(x0).sum().backward()
    x1 = torch.zeros(3, 1, 4, requires_grad=True)
    _closest_lif_for_nilif("cpp")(x1).sum().backward()
    assert x0.grad is not None and x1.grad is not None
    assert bool((x0.grad != 0).all()) and bool((x1.grad == 0).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_astro_lif_closest_alif_mapping_is_not_exact(dtype: torch.dtype) -> None:
    """AstroLIF (domain None) = ALIF with a~ = a / f, adapt = v_th k f, f = dt / tau_astro: equal
    math (states agree to rounding), but v_th (1 + k a) and vth + adapt a~ round differently (why
    AstroLIF has a kernel of its own, csrc/astro_lif.cpp, rather than an ALIF spec)."""
    gen = torch.Generator().manual_seed(1)
    xs = (torch.rand(200, 8, 64, generator=gen, dtype=torch.float64) * 4).to(dtype)  # [T, B, N]
    dt, tau_a, k, v_th = 1e-3, 200e-3, 2.0, 0.7
    f = dt / tau_a
    _, s_ref = AstroLIF(backend="torch", k_astro=k, v_th=v_th, tau_astro=tau_a, dt=dt, dtype=dtype).run(xs)
    _, s_alf = ALIF(tau_mem=20e-3, tau_adapt=tau_a, v_th=v_th, adapt=v_th * k * f, dt=dt, backend="cpp",
                    dtype=dtype).run(xs)
    torch.testing.assert_close(s_alf.a * f, s_ref.a)
    torch.testing.assert_close(s_alf.v, s_ref.v)
    assert not torch.equal(s_alf.v, s_ref.v)
