"""Benchmark scenarios (issue 3), registered by name.

A scenario builds, for one library and one configuration, a ``step()`` closure (the timed
unit: forward + backward, or a whole training step) and a ``spikes()`` function that returns the
spikes the library produces on a fixed input, used to check that every library computes the same
thing before it is timed. Weights are drawn from the same seed in every library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._registry import Registry
from ..layers.sparse_linear import EventLinear
from .peers import LIBS, li_layer, lif_layer

__all__ = ["SCENARIOS", "Scenario", "Built", "LIF_SHAPES", "lif_input"]


class Built(NamedTuple):
    step: Callable[[], Any]  # the timed unit of work
    spikes: Callable[[], Tensor]  # spikes on a fixed input, for the equality check


class Scenario(NamedTuple):
    title: str
    libs: tuple[str, ...]
    configs: tuple[dict[str, Any], ...]
    build: Callable[[str, dict[str, Any]], Built]


SCENARIOS: Registry[Scenario] = Registry("benchmark scenario")

LIF_SHAPES = ((100, 128, 2048), (100, 32, 512), (8, 64, 16384))


def lif_input(T: int, B: int, N: int, seed: int = 0) -> Tensor:
    """The LIF scenario's fixed input ``[T, B, N]`` (shared with the JAX peers)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(T, B, N, generator=g) * 0.3 + 0.1  # ~7 % firing rate


def _build_lif(lib: str, cfg: dict[str, Any]) -> Built:
    T, B, N = cfg["shape"]
    layer = lif_layer(lib)
    xs = lif_input(T, B, N)

    def step() -> None:
        x = xs.detach().requires_grad_()
        layer(x).sum().backward()

    def spikes() -> Tensor:
        with torch.no_grad():
            return layer(xs[:, : min(B, 16)])

    return Built(step, spikes)


SCENARIOS.register("lif_layer")(Scenario(
    "LIF layer alone, forward + backward, loss = spikes.sum()", LIBS,
    tuple({"shape": s} for s in LIF_SHAPES), _build_lif))


class _Fold(nn.Module):
    """Apply a stateless module to ``[T, B, ...]`` by folding time into the batch."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, xs: Tensor) -> Tensor:
        T, B = xs.shape[:2]
        return self.module(xs.flatten(0, 1)).unflatten(0, (T, B))  # [T*B, ...] -> [T, B, ...]


class ToFloat(nn.Module):
    """Spike input stored as bytes, converted per use (keeps the input at 1 byte per event slot)."""

    def forward(self, xs: Tensor) -> Tensor:
        return xs.float()


def shd_net(lib: str, seed: int = 0) -> nn.Sequential:
    """700 -> Linear 256 -> LIF -> Linear 256 -> LIF -> Linear 20 -> LI readout (membrane).

    All three linear layers receive spikes.
    """
    # spikeforge takes spike inputs through its event-driven linear layer (same init as nn.Linear),
    # which reads the byte-stored input spikes directly; spikeforge-torch is the plain reference
    # (float conversion, nn.Linear + step-function loop), like the peers.
    Linear = EventLinear if lib == "spikeforge" else nn.Linear
    torch.manual_seed(seed)
    first = nn.Identity() if lib == "spikeforge" else ToFloat()
    net = nn.Sequential(first, Linear(700, 256), lif_layer(lib), Linear(256, 256), lif_layer(lib),
                        Linear(256, 20), li_layer(lib))
    with torch.no_grad():  # gain 3 over torch's default init: hidden layers fire at ~5-15 %
        for i in (1, 3):
            layer: Any = net[i]
            layer.weight.mul_(3)
    return net


def shd_input(T: int, B: int, seed: int = 0, rate: float = 0.05) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    # Drawn 10 steps at a time straight into byte storage: a float [T, B, 700] draw would be a
    # transient 4 bytes per slot (179 MB at T = 1000) and set the process's peak memory.
    xs = torch.empty(T, B, 700, dtype=torch.uint8)  # [T, B, 700] spikes
    for t0 in range(0, T, 10):
        xs[t0:t0 + 10] = torch.rand(min(10, T - t0), B, 700, generator=g) < rate
    ys = torch.randint(0, 20, (B,), generator=g)
    return xs, ys


def _hidden_spikes(net: nn.Sequential, xs: Tensor) -> Tensor:
    with torch.no_grad():
        h = net[2](net[1](net[0](xs)))
        h2 = net[4](net[3](h))
    return torch.cat([h.flatten(), h2.flatten()])


def _build_shd(lib: str, cfg: dict[str, Any]) -> Built:
    T, B = cfg["T"], cfg["B"]
    net = shd_net(lib)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xs, ys = shd_input(T, B)
    mode = cfg.get("mode", "bptt")
    chunk = int(cfg.get("chunk", 50))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        if mode == "checkpoint":
            from ..runtime import checkpoint_through_time
            v = checkpoint_through_time(net, xs, chunk=chunk)
        else:
            v = net(xs)  # [T, B, 20]
        F.cross_entropy(v.mean(0), ys).backward()
        opt.step()

    fresh = shd_net(lib)
    return Built(step, lambda: _hidden_spikes(fresh, xs[:, :8]))


SCENARIOS.register("shd_step")(Scenario(
    "SHD-shaped training step (700-256-256-20, LI readout, T=100, B=64, Adam, cross-entropy)", LIBS,
    ({"T": 100, "B": 64},), _build_shd))


def conv_net(lib: str, seed: int = 0) -> nn.Sequential:
    """Conv 2->16 + LIF + AvgPool, Conv 16->32 + LIF + AvgPool, Linear -> 10 + LIF, on 34x34.

    ``spikeforge`` folds time with its ``TimeDistributed`` (fused pooling kernel, backend "auto")
    in channels-last layout, where oneDNN's convolution over 2 input channels is several times
    faster, and the LIF kernel runs on that layout in place. ``spikeforge-nchw`` is the same in
    the default layout; both are a :class:`~spikeforge.layers.SpikingSequential`, which runs each
    LIF + ``AvgPool2d`` pair as one fused kernel (:mod:`spikeforge.kernels.lif_pool`). ``spikeforge-torch``
    and the peers fold time around the plain torch modules in a plain ``nn.Sequential``, in the default
    layout, as their documentation does.
    """
    torch.manual_seed(seed)

    def fold(m: nn.Module) -> nn.Module:
        if lib in ("spikeforge", "spikeforge-nchw"):
            from ..layers import TimeDistributed
            return TimeDistributed(m, memory_format=torch.channels_last if lib == "spikeforge" else None)
        return _Fold(m)

    from ..layers import SpikingSequential  # spikeforge's container: LIF + AvgPool2d pairs run fused
    seq = SpikingSequential if lib in ("spikeforge", "spikeforge-nchw") else nn.Sequential
    return seq(
        fold(nn.Conv2d(2, 16, 3, padding=1)), lif_layer(lib), fold(nn.AvgPool2d(2)),
        fold(nn.Conv2d(16, 32, 3, padding=1)), lif_layer(lib), fold(nn.AvgPool2d(2)),
        _Fold(nn.Flatten()), nn.Linear(32 * 8 * 8, 10), lif_layer(lib))


def _build_conv(lib: str, cfg: dict[str, Any]) -> Built:
    T, B = cfg["T"], cfg["B"]
    net = conv_net(lib)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    xs = (torch.rand(T, B, 2, 34, 34, generator=g) < 0.15).float() * 2.0  # event frames
    ys = torch.randint(0, 10, (B,), generator=g)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(xs).mean(0) * 5, ys).backward()
        opt.step()

    fresh = conv_net(lib)

    def spikes() -> Tensor:
        with torch.no_grad():
            h = fresh[:2](xs[:, :4])
            return torch.cat([h.flatten(), fresh[2:5](h).flatten()])

    return Built(step, spikes)


SCENARIOS.register("conv_step")(Scenario(
    "Conv SNN training step ([T=10, B=32, 2, 34, 34], two conv+LIF+pool blocks, Linear+LIF)",
    LIBS[:2] + ("spikeforge-nchw",) + LIBS[2:],
    ({"T": 10, "B": 32},), _build_conv))


SCENARIOS.register("memory_lean")(Scenario(
    "Memory that does not grow with T: SHD net, exact gradients via checkpointing through time (chunk 50)",
    ("spikeforge",),
    ({"T": 100, "B": 64, "mode": "bptt"}, {"T": 1000, "B": 64, "mode": "bptt"},
     {"T": 100, "B": 64, "mode": "checkpoint"}, {"T": 1000, "B": 64, "mode": "checkpoint"}),
    _build_shd))


# --- learned delays: spikeforge's DelayLinear vs the `dcls` package's Dcls1d (issue 13) ---------

DCLS_SHAPE = {"T": 100, "B": 64, "K": 25, "sig": 4.0}  # SIG mid-schedule: a Gaussian kernel of σ_eff 4.27


class _Dcls1dTimeMajor(nn.Module):
    """``dcls``'s ``Dcls1d`` on time-major input: ``[T, B, in]`` -> left pad ``K-1`` -> ``[T, B, out]``."""

    def __init__(self, ours: Any) -> None:
        super().__init__()
        from DCLS.construct.modules import Dcls1d

        n_out, n_in = ours.weight.shape
        self.K: int = int(ours.K)
        self.conv = Dcls1d(n_in, n_out, kernel_count=1, dilated_kernel_size=ours.K, bias=False, version="gauss")
        with torch.no_grad():  # identical weights, positions and SIG (one per synapse in Dcls1d)
            self.conv.weight.copy_(ours.weight.unsqueeze(-1))  # [out, in, 1]
            self.conv.P.copy_(ours.positions.view(1, n_out, n_in, 1))
            self.conv.SIG.copy_(ours.sig.expand(n_out, n_in).reshape(1, n_out, n_in, 1))

    def forward(self, xs: Tensor) -> Tensor:
        x = F.pad(xs.permute(1, 2, 0), (self.K - 1, 0))  # [T, B, in] -> [B, in, K-1+T]
        return self.conv(x).permute(2, 0, 1)  # [B, out, T] -> [T, B, out]

    def clamp_positions_(self) -> None:
        with torch.no_grad():
            self.conv.P.clamp_(-(self.K // 2), self.K - 1 - self.K // 2)


def dcls_net(lib: str, cfg: dict[str, Any], seed: int = 0) -> Any:
    """The SHD DCLS model 140-256-256-20 (K = 25, 214,016 parameters) with spikeforge's ``DelayLinear``
    (``lib="spikeforge"``) or with the same weights, positions and SIG in ``dcls``'s ``Dcls1d``
    (``lib="dcls"``); BatchNorm, LIF and readout are spikeforge's in both."""
    from ..models.dcls import DCLSClassifier, delay_layers

    torch.manual_seed(seed)
    net: Any = DCLSClassifier(140, (256, 256), 20, K=cfg["K"], beta=1 - 10 / 10.05)
    for layer in delay_layers(net):
        layer.set_sigma(cfg["sig"])
    if lib == "dcls":
        net.delays = nn.ModuleList(_Dcls1dTimeMajor(d) for d in net.delays)
        net.readout = _Dcls1dTimeMajor(net.readout)
    return net.train()


def _dcls_hidden(net: Any, xs: Tensor) -> tuple[Tensor, Tensor]:
    """Hidden spikes (both layers, flattened) and the readout, on ``xs``, without gradients."""
    zs, h = [], xs
    with torch.no_grad():
        for delay, norm, neuron in zip(net.delays, net.norms, net.neurons):
            a = delay(h)  # [T, B, H]
            h = neuron(norm(a.flatten(0, 1)).unflatten(0, a.shape[:2]))  # [T*B, H] -> [T, B, H]
            zs.append(h.flatten())
        return torch.cat(zs), net(xs)


def _build_dcls(lib: str, cfg: dict[str, Any]) -> Built:
    T, B = cfg["T"], cfg["B"]
    g = torch.Generator().manual_seed(0)
    xs = (torch.rand(T, B, 140, generator=g) < 0.1).float()  # [T, B, 140] pooled SHD-like spikes
    ys = torch.randint(0, 20, (B,), generator=g)
    net = dcls_net(lib, cfg)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    delays = [*net.delays, net.readout]

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        v = net(xs)  # [T, B, 20]
        F.cross_entropy(v.softmax(-1).sum(0), ys).backward()
        opt.step()
        for d in delays:
            d.clamp_positions_()

    def spikes() -> Tensor:
        z, out = _dcls_hidden(dcls_net(lib, cfg), xs[:, :16])
        if lib != "spikeforge":  # the readout too, to float32 tolerance, before anything is timed
            _, ref = _dcls_hidden(dcls_net("spikeforge", cfg), xs[:, :16])
            torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
        return z

    return Built(step, spikes)


SCENARIOS.register("dcls_step")(Scenario(
    "SHD DCLS model training step (140-256-256-20, K=25, Gaussian delays, BatchNorm, LIF, Adam, "
    "CE on summed softmax)", ("spikeforge", "dcls"), (DCLS_SHAPE,), _build_dcls))
