"""Check 21: NeuroBench's Mackey–Glass ESN rebuilt from spikeforge parts, with NeuroBench's own numbers.

Oracles: NeuroBench's weight-drawing procedure written out below with the global RNG (as its example
does); our :class:`ESN` (same update, bias as a vector); the tutorial's published counts for the τ = 17 row
(reference §3.6); and, as a test-only peer, NeuroBench 2.3.0's ``Benchmark`` measuring the same model.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.metrics import profile
from spikeforge.reservoir import ESN
from spikeforge.reservoir.forecast import NEUROBENCH_MG17, ESNForecaster, neurobench_esn_weights
from spikeforge.reservoir.metrics import smape
from spikeforge.reservoir.tasks import mackey_glass


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny per-step ops (tests/conftest.py)


def _neurobench_procedure(n: int, sb: float, si: float, p: float, rho: float, seed: int) -> tuple[torch.Tensor, ...]:
    """NeuroBench's example: global seed, W_in, mask, N(0,1) on the mask, divide by |first eigenvalue|."""
    torch.manual_seed(seed)
    w_in = (torch.rand((n, 2), dtype=torch.float64) - 0.5) * torch.tensor([sb, si], dtype=torch.float64)
    w = (torch.rand((n, n), dtype=torch.float64) <= p).to(torch.float64)
    w[w == 1] = torch.normal(0.0, 1.0, size=(int(w.sum()),), dtype=torch.float64)
    lam = torch.linalg.eig(w)[0]
    return w_in, rho * w / torch.abs(lam[0])


def test_weights_follow_neurobench_procedure() -> None:
    theirs = _neurobench_procedure(60, 0.9, 0.78, 0.3, 1.1, seed=3)
    w_in, w = neurobench_esn_weights(60, scale_bias=0.9, scale_input=0.78, connect_prob=0.3, spectral_radius=1.1,
                                     seed=3, first_eigenvalue=True)
    assert torch.equal(w_in, theirs[0]) and torch.equal(w, theirs[1])
    # default: scaled by max |λ| (NeuroBench's unsorted first eigenvalue can leave the radius above ρ)
    _, w_max = neurobench_esn_weights(60, connect_prob=0.3, spectral_radius=1.1, seed=3)
    assert float(torch.linalg.eigvals(w_max).abs().max()) == pytest.approx(1.1, rel=1e-12)


def test_forecaster_states_equal_esn() -> None:
    m = ESNForecaster.neurobench(n=30, scale_bias=0.9, scale_input=0.78, connect_prob=0.5, spectral_radius=1.0,
                                 leak=0.69, ridge=1e-7, seed=1)
    esn = ESN(30, 1, w=m.w.weight, w_in=m.w_in.weight[:, 1:], bias=m.w_in.weight[:, 0], leak=0.69)
    u = torch.rand(50, 2, 1, dtype=torch.float64)
    feats, _ = m.features(u)
    torch.testing.assert_close(feats[..., 2:], esn(u), rtol=0, atol=1e-13)
    torch.testing.assert_close(feats[..., 1:2], u)  # the input is echoed to the readout


def _fitted_mg17() -> tuple[ESNForecaster, torch.Tensor, torch.Tensor]:
    s = mackey_glass(800, dt=1 / 75, sample_every=197 / 75)  # 75 points per Lyapunov time (197)
    m = ESNForecaster.neurobench(**NEUROBENCH_MG17)
    u, y = s[:-1, None, None], s[1:, None, None]  # [T, 1, 1] input and next-step target
    x = m.fit(u[:750], y[:750], warmup=round(0.6 * 75))
    return m, x, s


def test_check21_neurobench_tutorial_counts() -> None:
    m, x, s = _fitted_mg17()
    steps = 8
    with profile(m, batch_size=steps) as prof, torch.no_grad():  # one pass of `steps` one-step samples
        m(s[750:750 + steps, None, None], x, autonomous=True)
    assert prof.parameter_count() == 936_056 == 966 * 2 + 966 ** 2 + 968
    assert prof.footprint().total == 7_488_448
    assert round(prof.connection_sparsity(), 4) == 0.0297
    assert int((m.w.weight == 0).sum()) == 27_762
    ops = prof.synops()
    assert ops["Dense"] == 936_056 and ops["Effective_MACs"] == 908_294 and ops["Effective_ACs"] == 0


class _NeuroBenchAdapter(nn.Module):
    """NeuroBench's calling convention: ``net(batch [S, 1, 1]) -> [S, 1]``, autonomous from a stored state."""

    def __init__(self, m: ESNForecaster, x0: torch.Tensor) -> None:
        super().__init__()
        self.m, self.x0 = m, x0

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        y, _ = self.m(batch.transpose(0, 1), self.x0, autonomous=True)  # [S, 1, 1] -> [1, S, 1] (one stream)
        return y[0]  # [S, 1]


@pytest.mark.peers
def test_neurobench_measures_the_same_numbers() -> None:
    pytest.importorskip("neurobench")
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import SMAPE, SynapticOperations
    from neurobench.models import TorchModel
    from torch.utils.data import DataLoader, TensorDataset

    m, x, s = _fitted_mg17()
    steps = 8
    data, target = s[750:750 + steps, None, None], s[751:751 + steps, None]  # NeuroBench layout [S, 1, 1], [S, 1]
    loader = DataLoader(TensorDataset(data, target), batch_size=steps)
    net = _NeuroBenchAdapter(m, x[None] if x.ndim == 1 else x)
    theirs = Benchmark(TorchModel(net), loader, [], [], [[Footprint, ConnectionSparsity],
                                                            [SMAPE, SynapticOperations]]).run(quiet=True)
    with profile(m, batch_size=steps) as prof, torch.no_grad():
        pred, _ = m(data.transpose(0, 1), x, autonomous=True)  # [1, S, 1]
    assert theirs["Footprint"] == prof.footprint().total == 7_488_448
    assert theirs["ConnectionSparsity"] == round(prof.connection_sparsity(), 4) == 0.0297
    assert theirs["SynapticOperations"] == pytest.approx(prof.synops(), rel=1e-12)
    assert theirs["SMAPE"] == pytest.approx(smape(pred[0], target), rel=1e-12)


@pytest.mark.peers
def test_smape_equals_neurobench_definition() -> None:
    pytest.importorskip("neurobench")
    from neurobench.metrics.workload import SMAPE

    g = torch.Generator().manual_seed(0)
    y, yh = torch.randn(40, 1, generator=g), torch.randn(40, 1, generator=g)
    cases = [(yh, y), (y, y), (-y, y), (torch.zeros(3, 1), torch.zeros(3, 1))]
    mixed = y.clone()
    mixed[0] = 0.0
    cases.append((mixed, mixed * 0 + mixed))  # one 0/0 term: NeuroBench scores the whole series 200
    cases.append((torch.where(torch.arange(40)[:, None] == 0, 0.0, yh), mixed))
    for pred, tgt in cases:
        assert smape(pred, tgt) == pytest.approx(SMAPE()(None, pred, (None, tgt)), rel=1e-6, abs=1e-9)
