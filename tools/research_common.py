"""Models, data and training loop shared by the research-neuron task scripts (``research_neurons.py``,
``l2mu_diagnosis.py``, ``astro_memory.py``): the small nets each task compares (LIF SNN, LSTM, GRU/EGRU
read-outs, deep feed-forward SNNs), the neuron arms, the pixel codes of the sequential tasks, and Adam
training with a test-accuracy history."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from spikeforge.layers.delta import delta_activation
from spikeforge.neurons import LIF, UltraDLIF
from spikeforge.neurons.tc_lif import TCLIF
from spikeforge.surrogate import Triangle


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------------------- models


class LIFNet(nn.Module):
    """Linear -> recurrent-free neuron layer -> Linear, applied at every step; ``gain`` scales the
    hidden layer's input current (a fixed constant, so the neurons reach threshold at init)."""

    def __init__(self, i: int, h: int, o: int, neuron: nn.Module, gain: float = 1.0) -> None:
        super().__init__()
        self.fc, self.neuron, self.out, self.gain = nn.Linear(i, h), neuron, nn.Linear(h, o), gain

    def hidden(self, xs: Tensor) -> Tensor:  # [T, B, I] -> spikes [T, B, H]
        return self.neuron(self.gain * self.fc(xs))

    def forward(self, xs: Tensor) -> Tensor:  # [T, B, I] -> [T, B, O]
        return self.out(self.hidden(xs))


class LSTMNet(nn.Module):
    def __init__(self, i: int, h: int, o: int) -> None:
        super().__init__()
        self.lstm, self.out = nn.LSTM(i, h), nn.Linear(h, o)

    def forward(self, xs: Tensor) -> Tensor:  # [T, B, I] -> [T, B, O]
        return self.out(self.lstm(xs)[0])


class RNNNet(nn.Module):
    """A recurrent layer returning ``[T, B, H]`` (EGRU, or nn.GRU wrapped) -> Linear read-out."""

    def __init__(self, rnn: nn.Module, h: int, o: int) -> None:
        super().__init__()
        self.rnn, self.out = rnn, nn.Linear(h, o)

    def hidden(self, xs: Tensor) -> Tensor:
        hs = self.rnn(xs)
        return hs[0] if isinstance(hs, tuple) else hs  # nn.GRU returns (outputs, h_n)

    def forward(self, xs: Tensor) -> Tensor:  # [T, B, I] -> [T, B, O]
        return self.out(self.hidden(xs))


class DeepSNN(nn.Module):
    """Feed-forward SNN: ``(Linear -> neuron)`` per width in ``widths``, then a Linear read-out, applied
    at every step (the TC-LIF paper's ``ffMnist`` layout; no recurrent weights, so all memory is in
    the neurons). ``make_neuron()`` builds one neuron layer."""

    def __init__(self, i: int, widths: list[int], o: int, make_neuron: Callable[[], nn.Module]) -> None:
        super().__init__()
        if not widths or min(widths) < 1:
            raise ValueError(f"DeepSNN: widths must be a non-empty list of positive ints, got {widths}")
        dims = [i, *widths]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.neurons = nn.ModuleList(make_neuron() for _ in widths)
        self.out = nn.Linear(widths[-1], o)

    def spikes(self, xs: Tensor) -> list[Tensor]:  # [T, B, I] -> per layer spikes [T, B, width]
        zs = []
        for fc, neuron in zip(self.fcs, self.neurons, strict=True):
            xs = neuron(fc(xs))
            zs.append(xs)
        return zs

    def forward(self, xs: Tensor) -> Tensor:  # [T, B, I] -> [T, B, O]
        return self.out(self.spikes(xs)[-1])


def tclif_arms(v_th: float, gamma: float, sg_width: float) -> dict[str, Callable[[], nn.Module]]:
    """The two neurons of task ``tclif``, each as the paper's code builds it: LIF ``v' = 0.8 v + x``
    and TC-LIF (couplings β1 = β2 = 0 at init, one learnable pair per layer), both with soft reset by
    ``v_th``, the triangle surrogate of width ``sg_width``, no detached reset; TC-LIF's dendritic
    reset is ``gamma``."""
    return {
        "LIF (β = 0.8)": lambda: LIF.from_decay(0.8, v_th=v_th, surrogate=Triangle(sg_width)),
        "TC-LIF": lambda: TCLIF(beta1=0.0, beta2=0.0, gamma=gamma, v_th=v_th, surrogate=Triangle(sg_width),
                                learn=("beta1", "beta2")),
    }


class _Exp(nn.Module):
    """``eps = exp(log_eps)`` (a ``torch.nn.utils.parametrize`` parametrization; the paper learns log ε)."""

    def forward(self, log_eps: Tensor) -> Tensor:
        return log_eps.exp()

    def right_inverse(self, eps: Tensor) -> Tensor:
        return eps.log()


def log_eps(neuron: nn.Module, eps: float = 1.0) -> nn.Module:
    """Train ``neuron.eps`` as log ε (the paper's parametrization; stored at
    ``parametrizations.eps.original``), starting from ``eps``."""
    parametrize.register_parametrization(neuron, "eps", _Exp())
    with torch.no_grad():  # log ε set from the float, as an nn.Parameter(log ε) would hold it
        original: Tensor = neuron.parametrizations.eps.original  # type: ignore[union-attr,assignment]
        original.fill_(math.log(eps))
    return neuron


def ultradlif(eps: float = 1.0) -> UltraDLIF:
    """The registered :class:`~spikeforge.neurons.UltraDLIF` (reference §4.2) with one scalar learned
    temperature, trained as log ε (the paper's parametrization, :func:`log_eps`);
    ``forward(xs [T, B, H]) -> soft spikes [T, B, H]``."""
    neuron = log_eps(UltraDLIF(eps=eps, learn=("eps",), backend="torch"), eps)
    assert isinstance(neuron, UltraDLIF)
    return neuron


def delta_gru(gru: nn.Module, xs: Tensor, theta: float) -> tuple[Tensor, Tensor, Tensor]:
    r"""Run a trained one-layer ``nn.GRU`` as a delta network (Neil et al. 2017, reference §4.6).

    Input and hidden state are sent as thresholded deltas (:func:`delta_activation`); the gate
    pre-activations accumulate :math:`M^x_t = M^x_{t-1} + W\tilde\Delta x_t` (:math:`M^x_{-1} = b_{ih}`)
    and :math:`M^h_t = M^h_{t-1} + U\tilde\Delta h_{t-1}` (:math:`M^h_{-1} = b_{hh}`), then the GRU
    update uses them: :math:`r, z = \sigma(M^x + M^h)`, :math:`n = \tanh(M^x_n + r\odot M^h_n)`,
    :math:`h_t = (1 - z)\odot n + z\odot h_{t-1}`. With :math:`\Theta = 0` it equals ``gru``.

    Returns ``(hs [T, B, H], dx [T, B, I], dh [T, B, H])``: hidden states and the sent deltas.
    """
    w_ih, w_hh, b_ih, b_hh = (getattr(gru, n) for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"))
    h = xs.new_zeros(xs.shape[1], int(w_hh.shape[1]))  # [B, H]
    dx, x_hat = delta_activation(xs, theta)  # [T, B, I]: the input does not depend on the state
    mx = b_ih + torch.cumsum(dx @ w_ih.T, 0)  # [T, B, 3H]
    mh, h_hat = b_hh.expand(xs.shape[1], -1), h
    hs, dhs = [], []
    for t in range(xs.shape[0]):
        dh, h_hat = delta_activation(h[None], theta, h_hat)  # [1, B, H]
        mh = mh + dh[0] @ w_hh.T  # [B, 3H]
        xr, xz, xn = mx[t].chunk(3, -1)
        hr, hz, hn = mh.chunk(3, -1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        h = (1 - z) * torch.tanh(xn + r * hn) + z * h
        hs.append(h)
        dhs.append(dh[0])
    return torch.stack(hs), dx, torch.stack(dhs)


# ---------------------------------------------------------------------------------------------- tasks data


def permuted_sequential(x: Tensor, perm: Tensor) -> Tensor:
    """Static images ``[N, P]`` -> one pixel per step in the order ``perm``: ``[P, N, 1]``."""
    if x.dim() != 2 or perm.shape != (x.shape[1],):
        raise ValueError(f"permuted_sequential: need x [N, P] and perm [P], got {tuple(x.shape)}, {tuple(perm.shape)}")
    return x[:, perm].T.unsqueeze(-1)  # [N, P] -> [P, N] -> [P, N, 1]


def encode_pixels(xs: Tensor, encoding: str, levels: int = 8) -> Tensor:
    r"""Pixel sequence ``[T, N, 1]`` (values in [0, 1]) -> the network's input.

    ``analog``: unchanged ``[T, N, 1]``. ``thermometer``: ``[T, N, K]`` binary, channel k on while
    the current pixel exceeds the level :math:`c_k = (k + \tfrac12)/K`. ``crossing``: ``[T, N, 2K]``
    binary events, channel k (ON) when the level :math:`c_k` is crossed upwards between the previous
    pixel and this one, channel K + k (OFF) when crossed downwards; the pixel before the first is 0
    (the spiking sequential MNIST of Bellec et al. 2018 / tonic's ``SMNIST``, which the L2MU authors'
    repository loads for their sMNIST search). Running sums ON − OFF give back the thermometer code.
    """
    if xs.dim() != 3 or xs.shape[-1] != 1:
        raise ValueError(f"encode_pixels: need a pixel sequence [T, N, 1], got {tuple(xs.shape)}")
    if encoding == "analog":
        return xs
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"encode_pixels: levels must be a positive int, got {levels!r}")
    c = (torch.arange(levels, dtype=xs.dtype) + 0.5) / levels  # [K]
    if encoding == "thermometer":
        return (xs > c).to(xs.dtype)  # [T, N, 1] vs [K] -> [T, N, K]
    if encoding == "crossing":
        prev = torch.cat([torch.zeros_like(xs[:1]), xs[:-1]])  # [T, N, 1], pixel t - 1
        on = (prev < c) & (xs >= c)  # [T, N, K]
        off = (prev >= c) & (xs < c)
        return torch.cat([on, off], -1).to(xs.dtype)  # [T, N, 2K]
    raise ValueError(f"encode_pixels: encoding must be analog, thermometer or crossing, got {encoding!r}")


def load_static(name: str, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(x [N, F], y, x_test, y_test)`` from sklearn's 8x8 digits or the locally generated mnist1d."""
    if name == "digits":
        from spikeforge.plasticity.tasks._data import digits_split
        return digits_split(seed=seed)
    from spikeforge.data.datasets.mnist1d_data import mnist1d
    return (*mnist1d("train").tensors(), *mnist1d("test").tensors())


# ---------------------------------------------------------------------------------------------- training


def adam(model: nn.Module, lr: float, neuron_lr: float | None = None) -> torch.optim.Adam:
    """Adam at ``lr``; with ``neuron_lr``, the parameters of ``model.neuron`` (a neuron's intrinsic
    parameters) form a second parameter group at that learning rate."""
    if neuron_lr is None:
        return torch.optim.Adam(model.parameters(), lr=lr)
    neuron = getattr(model, "neuron", None)
    if neuron_lr <= 0 or not isinstance(neuron, nn.Module):
        raise ValueError(f"adam: neuron_lr must be > 0 and the model needs a .neuron module, got {neuron_lr}")
    own = {id(p) for p in neuron.parameters()}
    rest = [p for p in model.parameters() if id(p) not in own]
    groups: list[dict[str, Any]] = [{"params": rest}, {"params": list(neuron.parameters()), "lr": neuron_lr}]
    return torch.optim.Adam(groups, lr=lr)


def fit(model: nn.Module, x: Tensor, y: Tensor, *, epochs: int, lr: float,
        loss_fn: Callable[[Tensor, Tensor], Tensor], head: Callable[[Tensor], Tensor],
        penalty: Callable[[nn.Module, Tensor], Tensor] | None = None, neuron_lr: float | None = None,
        batch: int = 64, on_epoch: Callable[[], None] | None = None) -> None:
    """Adam (see :func:`adam`), batch ``batch``; ``x`` time-major ``[T, N, I]``; ``head`` maps ``model(xs)``
    to predictions; ``on_epoch()`` is called after every epoch (e.g. to record test accuracy)."""
    opt = adam(model, lr, neuron_lr)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[1])
        for k in range(0, x.shape[1], batch):
            idx = perm[k:k + batch]
            loss = loss_fn(head(model(x[:, idx])), y[idx])
            if penalty is not None:
                loss = loss + penalty(model, x[:, idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if on_epoch is not None:
            on_epoch()


def last(out: Tensor) -> Tensor:
    return out[-1]


def mean_t(out: Tensor) -> Tensor:
    return out.mean(0)


def sum_t(out: Tensor) -> Tensor:
    return out.sum(0)


def train(model: nn.Module, x: Tensor, y: Tensor, xt: Tensor, yt: Tensor, *, epochs: int, lr: float,
          readout: str = "last", neuron_lr: float | None = None, batch: int = 64,
          history: list[float] | None = None) -> float:
    """Cross-entropy classification; returns the final test accuracy. With ``history`` (a list), the
    test accuracy after every epoch is appended to it (its max is the "best epoch" metric some papers
    report, which selects on the test set)."""
    head = last if readout == "last" else mean_t

    def test_acc() -> float:
        with torch.no_grad():
            return (head(model(xt)).argmax(-1) == yt).float().mean().item()

    record = None if history is None else (lambda: history.append(test_acc()))
    fit(model, x, y, epochs=epochs, lr=lr, loss_fn=nn.functional.cross_entropy, head=head, neuron_lr=neuron_lr,
        batch=batch, on_epoch=record)
    return test_acc()
