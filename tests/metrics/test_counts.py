"""Hand-computed counts on tiny layers: effective vs dense, AC vs MAC, static metrics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from spikeforge.metrics import connection_sparsity, footprint, parameter_count, profile
from spikeforge.metrics.counts import conv_ops, einsum_ops, is_spike_tensor, linear_ops, matmul_ops, rnn_cell_ops

# 3x3 weight with four zeros; column non-zeros: col0 -> 2 (rows 0, 2), col1 -> 2 (rows 1, 2), col2 -> 1 (row 0)
W = torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [4.0, 5.0, 0.0]])


def _linear(weight: torch.Tensor) -> nn.Linear:
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=True)
    with torch.no_grad():
        lin.weight.copy_(weight)
        lin.bias.fill_(7.0)  # bias never counts
    return lin


def test_linear_ops_by_hand() -> None:
    # x = (0, 1.3, -1): input 1 reaches 2 outputs, input 2 reaches 1 -> 3 effective of 9 dense
    assert linear_ops(torch.tensor([[0.0, 1.3, -1.0]]), W) == (3, 9)
    # two rows: second row (1, 0, 0) adds input 0's 2 connections
    assert linear_ops(torch.tensor([[0.0, 1.3, -1.0], [1.0, 0.0, 0.0]]), W) == (5, 18)


def test_real_input_counts_macs_binary_input_counts_acs() -> None:
    lin = _linear(W)
    with profile(lin, batch_size=1) as prof:
        lin(torch.tensor([[0.0, 1.3, -1.0]]))
    assert prof.synops() == {"Effective_MACs": 3, "Effective_ACs": 0, "Dense": 9}
    with profile(lin, batch_size=1) as prof:
        lin(torch.tensor([[0.0, 1.0, -1.0]]))  # values in {-1, 0, 1}: spikes
    assert prof.synops() == {"Effective_MACs": 0, "Effective_ACs": 3, "Dense": 9}


def test_per_sample_division() -> None:
    lin = _linear(W)
    x = torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])  # 3 + 4 effective
    with profile(lin, batch_size=2) as prof:
        lin(x)
        lin(x)
    assert prof.samples == 4
    assert prof.synops() == {"Effective_MACs": 0, "Effective_ACs": 7 * 2 / 4, "Dense": 18 * 2 / 4}


def test_conv_ops_by_hand() -> None:
    w = torch.tensor([[[[1.0, 0.0], [2.0, 3.0]]]])  # 1 zero tap of 4
    x = torch.tensor([[[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]]])  # 5 non-zero pixels
    # no padding: 2x2 outputs; per window: 2, 1, 2, 2 non-zero (pixel, tap) pairs
    assert conv_ops(x, w) == (7, 16)
    # padding 1: every (pixel, tap) pair is used exactly once: 5 x 3 effective, 9 x 4 dense
    assert conv_ops(x, w, padding=1) == (15, 36)
    # batch of two identical samples doubles both
    assert conv_ops(torch.cat([x, x]), w, padding=1) == (30, 72)


def test_conv_module_through_profile_matches_function() -> None:
    conv = nn.Conv2d(1, 1, 2, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 0.0], [2.0, 3.0]]]]))
    x = torch.tensor([[[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]]])
    with profile(conv, batch_size=1) as prof:
        conv(x)
    assert prof.synops() == {"Effective_MACs": 0, "Effective_ACs": 15, "Dense": 36}
    (cost,) = prof.layers().values()
    assert (cost.weights, cost.weight_zeros) == (4, 1)


def test_rnn_cell_ops() -> None:
    cell = nn.RNNCell(3, 3)
    with torch.no_grad():
        cell.weight_ih.copy_(W)
        cell.weight_hh.copy_(torch.eye(3))
    x = torch.tensor([[0.0, 1.0, 1.0]])
    assert rnn_cell_ops(x, None, cell.weight_ih, cell.weight_hh) == (3, 9)
    assert rnn_cell_ops(x, torch.tensor([[1.0, 0.0, 1.0]]), cell.weight_ih, cell.weight_hh) == (5, 18)
    with profile(cell, batch_size=1) as prof:
        cell(x, torch.tensor([[1.0, 0.0, 1.0]]))
    assert prof.synops() == {"Effective_MACs": 0, "Effective_ACs": 5, "Dense": 18}


def test_is_spike_tensor() -> None:
    assert is_spike_tensor(torch.tensor([0.0, 1.0, -1.0]))
    assert not is_spike_tensor(torch.tensor([0.0, 1.0, 0.5]))


def test_static_metrics_by_hand() -> None:
    net = nn.Sequential(_linear(W), nn.ReLU(), nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        net[2].weight.copy_(torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]]))
    net.register_buffer("scale", torch.zeros(5, dtype=torch.float16))
    # weights: 9 + 6 = 15, zeros: 4 + 2 = 6; biases are not connections
    sparsity, per_layer = connection_sparsity(net)
    assert sparsity == pytest.approx(6 / 15)
    assert per_layer == {"0": (4, 9), "2": (2, 6)}
    assert parameter_count(net) == 9 + 3 + 6
    fp = footprint(net)
    assert (fp.parameter_bytes, fp.buffer_bytes, fp.total) == (18 * 4, 5 * 2, 82)


def test_rnn_cell_with_analog_hidden_state_counts_macs() -> None:
    """Spike input but an analogue hidden state (tanh): each step multiplies real values, so MACs."""
    cell = nn.RNNCell(3, 3)
    with torch.no_grad():
        cell.weight_ih.copy_(W)
        cell.weight_hh.copy_(torch.eye(3))
    x = torch.tensor([[0.0, 1.0, 1.0]])  # spikes: input 1 reaches 2 outputs, input 2 reaches 1 -> 3
    h = torch.tensor([[0.5, 0.0, -0.3]])  # analogue: 2 non-zero entries on the identity -> 2
    with profile(cell, batch_size=1) as prof:
        cell(x, h)
    assert prof.synops() == {"Effective_MACs": 3 + 2, "Effective_ACs": 0, "Dense": 9 + 9}
    with profile(cell, batch_size=1) as prof:
        cell(x)  # zero state: no recurrent product, spike input only
    assert prof.synops() == {"Effective_MACs": 0, "Effective_ACs": 3, "Dense": 9}


def _gated(cell: nn.RNNCellBase, gates: int) -> None:
    """Input weights [G·2, 2]: column 0 all ones, column 1 non-zero in rows 0-2 only; recurrent all ones."""
    with torch.no_grad():
        cell.weight_ih.zero_()
        cell.weight_ih[:, 0] = 1.0
        cell.weight_ih[:3, 1] = 2.0
        cell.weight_hh.fill_(1.0)
    assert cell.weight_ih.shape == (gates * 2, 2)


@pytest.mark.parametrize(("cls", "gates"), [(nn.LSTMCell, 4), (nn.GRUCell, 3)])
def test_lstm_and_gru_cells_by_hand(cls: type[nn.RNNCellBase], gates: int) -> None:
    cell = cls(2, 2)
    _gated(cell, gates)
    x = torch.tensor([[1.0, 1.0]])  # spikes
    with profile(cell, batch_size=1) as prof:
        cell(x)  # zero state: W_ih x only -> column 0 (2G) + column 1 (3)
    assert prof.synops() == {"Effective_MACs": 0, "Effective_ACs": 2 * gates + 3, "Dense": 2 * 2 * gates}
    h = torch.tensor([[0.25, 0.0]])  # analogue hidden state: 1 non-zero entry reaches 2G rows
    state = (h, torch.tensor([[0.5, -0.5]])) if cls is nn.LSTMCell else h  # LSTM's c meets no weight
    with profile(cell, batch_size=1) as prof:
        cell(x, state)
    assert prof.synops() == {"Effective_MACs": 2 * gates + 3 + 2 * gates, "Effective_ACs": 0,
                             "Dense": 2 * (2 * 2 * gates)}
    (cost,) = prof.layers().values()
    assert cost.weights == sum(p.numel() for p in cell.parameters())  # NeuroBench: every parameter


@pytest.fixture
def one_thread() -> Iterator[None]:
    """nn.RNN/LSTM/GRU on two intra-op threads take ~0.2 s per tiny call on a loaded machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _prune_all(module: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p[torch.rand(p.shape, generator=g) < 0.4] = 0.0


class _LSTMByCells(nn.Module):
    """A 2-layer LSTM stepped with LSTMCells sharing its weights."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        self.cells = nn.ModuleList(nn.LSTMCell(lstm.input_size if i == 0 else lstm.hidden_size, lstm.hidden_size)
                                   for i in range(lstm.num_layers))
        with torch.no_grad():
            for i, cell in enumerate(self.cells):
                for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(cell, n).copy_(getattr(lstm, f"{n}_l{i}"))

    def forward(self, xs: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        for i, cell in enumerate(self.cells):
            state, outs = (hx[0][i], hx[1][i]), []
            for x in xs:  # x: [B, in]
                state = cell(x, state)
                outs.append(state[0])
            xs = torch.stack(outs)  # [T, B, H]
        return xs


@pytest.mark.usefixtures("one_thread")
def test_lstm_layer_counts_like_its_cells_step_by_step() -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4, num_layers=2)
    _prune_all(lstm)
    cells = _LSTMByCells(lstm)
    xs = torch.rand(5, 2, 3) * (torch.rand(5, 2, 3) < 0.6)  # [T, B, 3] with zeros
    hx = (torch.rand(2, 2, 4), torch.rand(2, 2, 4))
    with profile(lstm, batch_size=2) as p_layer, torch.no_grad():
        out, _ = lstm(xs, hx)
    with profile(cells, batch_size=2) as p_cells, torch.no_grad():
        ref = cells(xs, hx)
    torch.testing.assert_close(out, ref)
    assert p_layer.unsupported == []
    assert p_layer.synops() == p_cells.synops()
    # dense by hand: per step and sample, layer 0: 3·16 + 4·16, layer 1: 4·16 + 4·16
    assert p_layer.synops()["Dense"] == 5 * (3 * 16 + 4 * 16 + 4 * 16 + 4 * 16)
    assert 0 < p_layer.synops()["Effective_MACs"] < p_layer.synops()["Dense"]


@pytest.mark.usefixtures("one_thread")
def test_bidirectional_gru_counts_like_two_cell_passes() -> None:
    torch.manual_seed(1)
    gru = nn.GRU(2, 3, batch_first=True, bidirectional=True)
    _prune_all(gru)
    fwd, bwd = nn.GRUCell(2, 3), nn.GRUCell(2, 3)
    with torch.no_grad():
        for cell, suffix in ((fwd, ""), (bwd, "_reverse")):
            for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, n).copy_(getattr(gru, f"{n}_l0{suffix}"))
    xs = (torch.rand(2, 4, 2) < 0.5).float()  # [B, T, 2] spikes; the hidden state is analogue
    with profile(gru, batch_size=2) as p_layer, torch.no_grad():
        out, _ = gru(xs)
    steps: list[torch.Tensor] = []

    class Both(nn.Module):  # one forward pass running both directions
        def __init__(self) -> None:
            super().__init__()
            self.fwd, self.bwd = fwd, bwd

        def forward(self, xs: torch.Tensor) -> torch.Tensor:
            for cell, order in ((self.fwd, range(4)), (self.bwd, reversed(range(4)))):
                h = None
                for t in order:
                    h = cell(xs[:, t], h)
                    steps.append(h)
            return torch.stack(steps)

    with profile(Both(), batch_size=2) as p_cells, torch.no_grad():
        p_cells.model(xs)
    torch.testing.assert_close(out[:, -1, :3], steps[3])  # same hidden states: forward at T-1
    torch.testing.assert_close(out[:, 0, 3:], steps[7])  # reverse at 0
    assert p_layer.synops() == p_cells.synops()
    syn = p_layer.synops()
    # first step of each direction has spikes only (AC); every later step meets the analogue h (MAC)
    assert syn["Effective_ACs"] > 0 and syn["Effective_MACs"] > 0


@pytest.mark.usefixtures("one_thread")
def test_rnn_layer_with_spike_input_and_analog_hidden_state_by_hand() -> None:
    rnn = nn.RNN(2, 2, bias=False)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))  # input 0 -> 2 outputs, input 1 -> 1
        rnn.weight_hh_l0.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))  # h_0 -> 1 output, h_1 -> none
    xs = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 0.0]]])  # [T=3, B=1, 2] spikes
    with profile(rnn, batch_size=1) as prof, torch.no_grad():
        out, _ = rnn(xs)
    assert bool((out[:2, 0, 0] != 0).all())  # tanh(...) is analogue and non-zero
    # t=0: W_ih x (2), no state -> AC; t=1: W_ih x (3) + W_hh h (1) -> MAC; t=2: 0 + 1 -> MAC
    assert prof.synops() == {"Effective_MACs": 3 + 1 + 0 + 1, "Effective_ACs": 2, "Dense": 4 + 8 + 8}


@pytest.mark.usefixtures("one_thread")
@pytest.mark.filterwarnings("ignore:LSTM with projections")
def test_unsupported_recurrent_layers_are_listed() -> None:
    lstm = nn.LSTM(3, 4, proj_size=2)
    with profile(lstm, batch_size=1) as prof, torch.no_grad():
        lstm(torch.rand(2, 1, 3))
    assert prof.unsupported == ["LSTM"]
    assert "not counted (synaptic ops unsupported): LSTM" in prof.report()
    assert prof.synops()["Dense"] == 0


def test_matmul_and_einsum_by_hand() -> None:
    a = torch.tensor([[1.0, 0.0], [2.0, 3.0]])
    b = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    # row 0 of a: only a00 ≠ 0, meets b0j ≠ 0 for j=1 -> 1; row 1: a10 (1) + a11 (2) -> 3; dense 2·2·2
    assert matmul_ops(a, b) == (4, 8)
    assert matmul_ops(a.expand(3, 2, 2), b) == (12, 24)  # batched broadcast
    assert einsum_ops("ik,kj->ij", a, b) == (4, 8)
    assert einsum_ops("ik,jk->", a, b.T) == (4, 8)  # full reduction: same products
    assert einsum_ops("i,j->ij", a[1], b[0]) == (2, 4)  # outer product: 2 x 1 non-zero pairs of 4


class _Attention(nn.Module):
    """Functional synapses: a weight product and a spike-spike product (spiking attention ``Q Kᵀ``)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[1.0, 0.0], [0.0, 0.0], [2.0, 3.0]]))  # [in=3, out=2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = x @ self.w  # [B, N, 2]
        scores = torch.einsum("bnd,bmd->bnm", x, x)  # [B, N, N]
        return q.sum() + scores.sum()


def test_matmul_and_einsum_synapses_through_profile() -> None:
    x = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]])  # [B=1, N=2, 3] spikes
    with profile(_Attention(), batch_size=1) as prof:
        prof.model(x)
    layers = prof.layers()
    # x @ w: token 0 has inputs 0 (1 weight) and 2 (2 weights) -> 3; token 1 input 1 -> 0; dense 2·3·2
    assert (layers["matmul"].eff_acs, layers["matmul"].dense_ops, layers["matmul"].eff_macs) == (3, 12, 0)
    assert (layers["matmul"].weights, layers["matmul"].weight_zeros) == (6, 3)
    # x xᵀ over d: pairs (n, m) with shared non-zero features: (0,0) 2, (1,1) 1 -> 3; dense 2·2·3
    assert (layers["einsum"].eff_acs, layers["einsum"].dense_ops) == (3, 12)
    with profile(_Attention(), batch_size=1) as prof:
        prof.model(x * 0.5)  # analogue input: the same products are MACs
    assert prof.synops() == {"Effective_MACs": 6, "Effective_ACs": 0, "Dense": 24}
