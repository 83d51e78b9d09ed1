"""Conformance with the other simulators that read/write NIR (test-only peers; skipped if absent).

Graphs exported by spikeforge are run by each peer's importer step by step and must give the same
spikes/outputs as the spikeforge model, within each peer's documented conventions:

- **snnTorch 1.0.0** ``import_from_nir``: dt hard-coded to 1e-4; asserts ``v_leak == 0``; thresholds
  must be uniform per layer; ``v_reset`` ignored (resets to zero, same step) → we export
  ``reset="zero"``; its ``r dt / tau`` input gain is folded into the threshold, so ``mem`` is in
  scaled units but spikes agree. That folding uses only the *first* unique ``r dt / tau``
  (``vthr / np.unique(w_scale)[0]``), so per-neuron ``tau`` needs ``r = tau / dt`` (gain 1).
  It maps ``nir.IF`` to ``Leaky(beta=0.9)`` (a *leaky* neuron, and
  asserts ``r == 1``) and ``nir.Flatten`` to ``nn.Flatten(start_dim, end_dim)`` in torch coordinates
  (NIR's per-sample ``start_dim=0`` then flattens the batch), so IF and Flatten are not compared.
- **Norse 1.1.0** ``from_nir(..., dt=1e-4)`` (its default dt is 1e-3): ignores ``r`` on LIF/IF
  (logs a warning) → we use ``r = 1`` on LIF; resets to its own ``v_reset = 0`` (node ``v_reset``
  ignored); ``v_leak`` and CubaLIF ``r``/``w_in`` are honoured. Its exporter writes a wrong tau
  (``dt / tau_mem_inv``), so Norse is used as an importer only.
- **SpikingJelly 2.0.0** ``import_from_nir(..., dt=1e-4)``: every parameter uniform per layer; LIF
  ``r`` must be 1 or ``tau/dt`` and ``v_leak == v_reset``; IF ``r == 1/dt``; CubaLIF needs
  ``r == tau_mem/dt``, ``w_in == tau_syn/dt``, ``v_leak == 0``; hard reset to ``v_reset``; its
  spike test is ``v >= v_th`` (non-strict; identical except at exact equality).
- **snnTorch exports** (``export_to_nir``) load in spikeforge with identical spikes for
  ``reset_mechanism="zero", reset_delay=False`` neurons (the file says nothing about the reset, and
  NIR's reset to ``v_reset = 0`` is exactly that). Not reproducible: ``reset_delay=True`` (snnTorch's
  default; the reset lands one step late); ``reset_mechanism="subtract"`` even with
  ``reset_delay=False`` once a membrane stays above threshold after its reset (snnTorch then
  subtracts the next threshold *before* testing for a spike, ``mem - reset_prev * thr``, while a
  same-step subtractive reset tests first; ``from_nir(reset="subtract")`` agrees until that
  happens); and a *bias* on the recurrent Linear of ``RLeaky``/``RSynaptic``: snnTorch adds it
  already at t = 0 (``recurrent(spk=0) = b``), while a NIR recurrent edge, as executed by nirtorch
  and by spikeforge, delivers nothing before the first step.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import nir
import pytest
import torch
from torch import nn

from spikeforge.interop.nir import from_nir, to_nir
from spikeforge.layers.graph import ModuleGraph
from spikeforge.layers.time import TimeDistributed
from spikeforge.neurons import IF, LIF, CubaLIF

DT = 1e-4  # the dt fixed by snnTorch and SpikingJelly

# the peers call nirtorch's deprecated extract_nir_graph / load; that is their business, not ours
pytestmark = pytest.mark.filterwarnings("ignore:nirtorch.*deprecated:DeprecationWarning")


def _drive(net: nn.Module, xs: torch.Tensor, *, stateful: bool) -> torch.Tensor:
    """Run a peer module one step at a time over ``xs [T, B, *]``."""
    ys, state = [], None
    with torch.no_grad():
        for x in xs:
            if stateful:
                y, state = net(x, state)
            else:
                y = net(x)
                y = y[0] if isinstance(y, tuple) else y
            ys.append(y)
    return torch.stack(ys)


def _active(model: nn.Sequential, xs: torch.Tensor) -> None:
    """Every spiking layer fires sometimes (else the comparison would be vacuous)."""
    h = xs
    with torch.no_grad():
        for layer in model:
            h = layer(h)
            if getattr(layer, "spiking", False):
                assert 0 < h.mean().item() < 1, f"{type(layer).__name__} rate {h.mean().item()}"


def _ff_lif_cuba(lif_r: float | None, cuba_from_decay: bool, reset: str, v_leak: float = 0.0) -> nn.Sequential:
    """``lif_r=None``: ``r = tau / dt`` per neuron (discrete ``v' = beta v + x``)."""
    torch.manual_seed(11)
    tau = torch.linspace(5e-4, 2e-3, 8)
    cuba = (CubaLIF.from_decay(0.8, 0.9, dt=DT, reset=reset, size=6) if cuba_from_decay else
            CubaLIF(tau_syn=5e-4, tau_mem=1e-3, r=5.0, w_in=1.5, dt=DT, reset=reset, size=6))
    return nn.Sequential(
        nn.Linear(5, 8),
        LIF(tau_mem=tau, r=tau / DT if lif_r is None else lif_r, v_leak=v_leak, dt=DT, reset=reset),
        nn.Linear(8, 6), cuba,  # ends in spikes: compared exactly (float matmuls on [B, N] vs
    )                           # [T, B, N] may round differently, so analog outputs are not)


def _xs(shape: tuple[int, ...], gain: float = 8.0) -> torch.Tensor:
    return gain * torch.rand((50, 3, *shape), generator=torch.Generator().manual_seed(5))


def test_snntorch_imports_our_graph() -> None:
    pytest.importorskip("snntorch")
    from snntorch.import_nir import import_from_nir

    model = _ff_lif_cuba(lif_r=None, cuba_from_decay=True, reset="zero")
    xs = _xs((5,))
    _active(model, xs)
    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints its threshold rescaling
        peer = import_from_nir(to_nir(model, xs, dt=DT))
    assert torch.equal(_drive(peer, xs, stateful=False), model(xs).detach())


def test_norse_imports_our_graph() -> None:
    norse = pytest.importorskip("norse.torch")
    model = _ff_lif_cuba(lif_r=1.0, cuba_from_decay=False, reset="zero", v_leak=0.1)
    xs = _xs((5,))
    _active(model, xs)
    peer = norse.from_nir(to_nir(model, xs, dt=DT), dt=DT)
    assert torch.equal(_drive(peer, xs, stateful=True), model(xs).detach())


def test_norse_runs_our_recurrent_graph() -> None:
    """Norse executes cycles with nirtorch; the recurrent input arrives one step later there too."""
    norse = pytest.importorskip("norse.torch")
    torch.manual_seed(12)
    fc = nn.Linear(5, 8)
    nn.init.constant_(fc.bias, 1.0)  # LIF r must be 1 for Norse: drive through the bias
    model = ModuleGraph({"fc": fc, "lif": LIF(tau_mem=1e-3, dt=DT, reset="zero", size=8),
                         "rec": nn.Linear(8, 8)},
                        [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")])
    xs = _xs((5,))
    zs = model(xs).detach()
    assert 0 < zs.mean().item() < 1
    peer = norse.from_nir(to_nir(model, xs, dt=DT), dt=DT)
    assert torch.equal(_drive(peer, xs, stateful=True), zs)


def test_spikingjelly_imports_our_graph() -> None:
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    torch.manual_seed(13)
    conv = nn.Conv2d(2, 4, 3, padding=1)
    nn.init.constant_(conv.bias, 0.5)
    model = nn.Sequential(
        TimeDistributed(conv), LIF(tau_mem=1e-3, dt=DT, reset="value", size=(4, 6, 6)),
        TimeDistributed(nn.AvgPool2d(2)), TimeDistributed(nn.Flatten()),
        nn.Linear(36, 8), IF(dt=DT, reset="value", size=8),
        nn.Linear(8, 6), CubaLIF.from_decay(0.8, 0.9, dt=DT, reset="value", size=6),
    )
    xs = _xs((2, 6, 6), gain=4.0)
    _active(model, xs)
    peer = import_from_nir(to_nir(model, xs, dt=DT), dt=DT)
    assert torch.equal(_drive(peer, xs, stateful=True), model(xs).detach())


def _snntorch_net(mech: str, recurrent: bool):  # type: ignore[no-untyped-def]
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(14)
    common = {"init_hidden": True, "reset_mechanism": mech, "reset_delay": False}
    if recurrent:
        first = snn.RLeaky(beta=torch.full((8,), 0.9), threshold=torch.ones(8), linear_features=8, **common)
        with torch.no_grad():
            first.recurrent.bias.zero_()  # see the module docstring
    else:
        first = snn.Leaky(beta=torch.linspace(0.7, 0.95, 8), threshold=torch.ones(8), **common)
    return nn.Sequential(nn.Linear(5, 8), first, nn.Linear(8, 6),
                         snn.Synaptic(alpha=torch.full((6,), 0.8), beta=torch.full((6,), 0.9),
                                      threshold=torch.ones(6), **common))


@pytest.mark.parametrize(("mech", "recurrent"), [("zero", False), ("zero", True)])
def test_snntorch_export_loads_with_identical_spikes(mech: str, recurrent: bool, tmp_path: Path) -> None:
    pytest.importorskip("snntorch")
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    net = _snntorch_net(mech, recurrent)
    with contextlib.redirect_stdout(io.StringIO()):
        graph = export_to_nir(net, torch.zeros(1, 5), ignore_dims=[0])
    nir.write(tmp_path / "snn.nir", graph)
    xs = _xs((5,), gain=2.0)
    utils.reset(net)
    expected = _drive(net, xs, stateful=False)
    assert 0 < expected.mean().item() < 1
    ours = from_nir(tmp_path / "snn.nir", dt=DT)
    assert ours.is_recurrent == recurrent
    assert torch.equal(ours(xs), expected)


@pytest.fixture(autouse=True)
def _quiet_peers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
