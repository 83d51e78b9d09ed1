r"""Diehl & Cook 2015-style unsupervised learning on scikit-learn's 8×8 digits.

Poisson inputs → ``n_exc`` LIF neurons (current-based, voltages in mV as in BindsNET's
``DiehlAndCook2015``) with

- **lateral inhibition**: every excitatory spike drives its partner inhibitory neuron, which inhibits all
  *other* excitatory neurons; written here directly as a recurrent current through the all-but-diagonal
  matrix :func:`inhibition_matrix` (one step of delay),
- **adaptive thresholds**: :math:`\theta \leftarrow e^{-dt/\tau_\theta}\theta + \theta_+ z` per neuron,
  learned during training and frozen afterwards,
- **STDP** on input→excitatory (:func:`~spikeforge.plasticity.stdp_step`, nearest-spike traces,
  BindsNET's ``nu = (1e-4, 1e-2)``), weights clipped to ``[0, w_max]`` and every neuron's incoming
  weights rescaled to ``norm_total`` (:func:`~spikeforge.plasticity.normalize_incoming_`) before each
  example,
- **readout** without labels during learning: each neuron is labelled with the class to which it responds
  most on average; a test image gets the class whose neurons respond most on average.

The baseline is the same network and readout with random fixed weights (normalised the same way, no
STDP; thresholds still adapt). Run ``python -m spikeforge.plasticity.tasks.diehl_cook --help``.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from ..constraints import clamp_, normalize_incoming_
from ..stdp import STDPParams, STDPState, stdp_step

__all__ = ["DCConfig", "DCState", "DiehlCook", "assign_labels", "dc_step", "inhibition_matrix", "predict",
           "run_experiment"]


@dataclass(frozen=True)
class DCConfig:
    n_input: int = 64  # 8x8 pixels
    n_exc: int = 100  # excitatory neurons (= inhibitory partners)
    steps: int = 100  # presentation length [steps of dt]
    dt: float = 1e-3  # step [s]
    max_rate: float = 250.0  # input rate of a pixel at full intensity [Hz] (D&C: 63.75 Hz for 784 pixels)
    tau_mem: float = 100e-3  # excitatory membrane time constant [s]
    v_rest: float = -65.0  # [mV]
    v_reset: float = -60.0  # [mV] (BindsNET; D&C's Brian code resets to -65)
    v_thresh: float = -52.0  # [mV], plus theta
    refractory: int = 5  # [steps]
    w_inh: float = 17.5  # inhibition of every other excitatory neuron per spike [mV]
    theta_plus: float = 0.05  # threshold increment per spike [mV]
    tau_theta: float = 1e4  # threshold decay [s] (D&C: 1e7 ms); math.inf = no decay
    norm_total: float = 12.0  # every neuron's incoming weights sum to this before each example
    w_max: float = 1.0
    eta_post: float = 1e-2  # potentiation on a post spike, times the pre trace
    eta_pre: float = 1e-4  # depression on a pre spike, times the post trace
    tau_trace: float = 20e-3  # pre and post traces [s]
    min_spikes: int = 5  # re-present with more intensity if the layer fired fewer spikes
    max_retries: int = 3
    epochs: int = 1
    stdp: bool = True  # False: the random-projection baseline (fixed weights)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_input", "n_exc", "steps", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"DCConfig: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("dt", "tau_mem", "tau_theta", "tau_trace", "max_rate", "norm_total", "w_max"):
            if not getattr(self, name) > 0:
                raise ValueError(f"DCConfig: {name} must be > 0, got {getattr(self, name)}")
        if self.max_rate * self.dt > 1:
            raise ValueError(f"DCConfig: max_rate * dt = {self.max_rate * self.dt:g} > 1 spike per step")
        if self.v_thresh <= self.v_reset:
            raise ValueError(f"DCConfig: v_thresh ({self.v_thresh}) must be above v_reset ({self.v_reset})")


class DCState(NamedTuple):
    v: Tensor  # membrane potential [B, N_e] (mV)
    refrac: Tensor  # remaining refractory steps [B, N_e]
    z: Tensor  # spikes of the previous step (they inhibit through the I→E matrix now) [B, N_e]


def inhibition_matrix(n_exc: int, w_inh: float, dtype: torch.dtype = torch.float32) -> Tensor:
    """I→E weights ``[N_e, N_i]``: inhibitory neuron ``j`` (partner of excitatory ``j``) inhibits every
    excitatory neuron except ``j`` by ``w_inh`` (all-but-diagonal)."""
    return w_inh * (1 - torch.eye(n_exc, dtype=dtype))


def dc_step(s_in: Tensor, state: DCState, w: Tensor, w_ie: Tensor, theta: Tensor,
            cfg: DCConfig) -> tuple[Tensor, DCState]:
    r"""One step of the excitatory layer (current-based, voltage jumps in mV).

    .. math::
        v' = v_{rest} + (v - v_{rest})e^{-dt/\tau_m} + [r = 0]\,(W s_{in} - W_{IE} z_{t-1}),\qquad
        z = [v' > v_{th} + \theta]\,[r = 0]

    then ``v <- v_reset`` and ``r <- refractory`` where ``z``; ``r`` counts down otherwise. The inhibitory
    partners fire with their excitatory neuron, so ``W_IE z_{t-1}`` is the inhibition of this step.

    Shapes:
        s_in ``[B, N_in]``, w ``[N_e, N_in]``, w_ie ``[N_e, N_e]``, theta ``[N_e]`` → z ``[B, N_e]``.
    """
    free = state.refrac <= 0
    drive = s_in @ w.T - state.z @ w_ie.T  # [B, N_e]
    decay = math.exp(-cfg.dt / cfg.tau_mem)
    v = cfg.v_rest + (state.v - cfg.v_rest) * decay + torch.where(free, drive, torch.zeros_like(drive))
    z = ((v > cfg.v_thresh + theta) & free).to(v.dtype)
    fired = z > 0
    v = torch.where(fired, torch.full_like(v, cfg.v_reset), v)
    refrac = torch.where(fired, torch.full_like(state.refrac, cfg.refractory), (state.refrac - 1).clamp_min(0))
    return z, DCState(v=v, refrac=refrac, z=z)


class DiehlCook:
    """The network: weights ``w [N_e, N_in]``, thresholds ``theta [N_e]``, the I→E matrix and the STDP rule.

    Example:
        >>> net = DiehlCook(DCConfig(n_exc=10, steps=20))
        >>> counts = net.respond(torch.rand(3, 64), generator=torch.Generator().manual_seed(0))
        >>> counts.shape
        torch.Size([3, 10])
    """

    def __init__(self, cfg: DCConfig, dtype: torch.dtype = torch.float32) -> None:
        self.cfg = cfg
        g = torch.Generator().manual_seed(cfg.seed)
        self.w = 0.3 * (0.01 + torch.rand(cfg.n_exc, cfg.n_input, generator=g, dtype=dtype))  # D&C's init
        normalize_incoming_(self.w, cfg.norm_total)
        self.theta = torch.zeros(cfg.n_exc, dtype=dtype)
        self.w_ie = inhibition_matrix(cfg.n_exc, cfg.w_inh, dtype)
        self.stdp = STDPParams(tau_pre=cfg.tau_trace, tau_post=cfg.tau_trace, eta_plus=cfg.eta_post,
                               eta_minus=cfg.eta_pre, w_min=0.0, w_max=cfg.w_max)
        self.theta_decay = 1.0 if math.isinf(cfg.tau_theta) else math.exp(-cfg.dt / cfg.tau_theta)

    def encode(self, x: Tensor, intensity: float, generator: torch.Generator | None) -> Tensor:
        """Poisson (Bernoulli per step) input spikes ``[T, B, N_in]`` at ``x * max_rate * intensity`` Hz."""
        p = (x * self.cfg.max_rate * self.cfg.dt * intensity).clamp(max=1.0)  # [B, N_in]
        u = torch.rand((self.cfg.steps, *x.shape), generator=generator, dtype=x.dtype)  # [T, B, N_in]
        return (u < p).to(x.dtype)

    def present(self, xs: Tensor, *, learn: bool, adapt: bool) -> Tensor:
        """Run one presentation ``xs [T, B, N_in]`` from rest; returns spike counts ``[B, N_e]``.

        ``learn``: STDP on ``w`` every step (clipped to ``[0, w_max]``); ``adapt``: thresholds rise by
        ``theta_plus`` per spike and decay with ``tau_theta``.
        """
        cfg = self.cfg
        b = xs.shape[1]
        state = DCState(v=xs.new_full((b, cfg.n_exc), cfg.v_rest), refrac=torch.zeros(b, cfg.n_exc, dtype=torch.int64),
                        z=xs.new_zeros(b, cfg.n_exc))
        traces = STDPState(x=xs.new_zeros(b, cfg.n_input), y=xs.new_zeros(b, cfg.n_exc))
        counts = xs.new_zeros(b, cfg.n_exc)
        for s_in in xs:  # [B, N_in]
            z, state = dc_step(s_in, state, self.w, self.w_ie, self.theta, cfg)
            counts += z
            if adapt:
                self.theta = self.theta * self.theta_decay + cfg.theta_plus * z.sum(0)
            if learn:
                dw, traces = stdp_step(s_in, z, traces, self.w, self.stdp, dt=cfg.dt, nearest=True)
                clamp_(self.w.add_(dw), 0.0, cfg.w_max)
        return counts

    def train_example(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """Normalise, present ``x [B, N_in]`` (more intensity while fewer than ``min_spikes``); returns counts."""
        cfg = self.cfg
        intensity = 1.0
        for _ in range(cfg.max_retries + 1):
            normalize_incoming_(self.w, cfg.norm_total)
            counts = self.present(self.encode(x, intensity, generator), learn=cfg.stdp, adapt=True)
            if counts.sum() >= cfg.min_spikes * x.shape[0]:
                break
            intensity += 1.0
        return counts

    def fit(self, x: Tensor, generator: torch.Generator | None = None, batch: int = 1) -> None:
        """Train on ``x [N, N_in]`` for ``cfg.epochs`` passes, ``batch`` examples at a time (D&C: 1)."""
        for _ in range(self.cfg.epochs):
            for xb in x.split(batch):
                self.train_example(xb, generator)
        normalize_incoming_(self.w, self.cfg.norm_total)

    @torch.no_grad()
    def respond(self, x: Tensor, generator: torch.Generator | None = None, chunk: int = 512) -> Tensor:
        """Spike counts ``[N, N_e]`` with learning and threshold adaptation off (the test-time network)."""
        return torch.cat([self.present(self.encode(xb, 1.0, generator), learn=False, adapt=False)
                          for xb in x.split(chunk)])


def assign_labels(counts: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """Label of each neuron ``[N_e]``: the class with the highest mean response ``counts [N, N_e]``."""
    mean = torch.stack([counts[labels == c].mean(0) if bool((labels == c).any())
                        else counts.new_zeros(counts.shape[1]) for c in range(n_classes)])  # [C, N_e]
    return mean.argmax(0)


def predict(counts: Tensor, assignments: Tensor, n_classes: int) -> Tensor:
    """Class ``[N]`` whose assigned neurons respond most on average; classes without neurons never win."""
    scores = torch.full((counts.shape[0], n_classes), -math.inf, dtype=counts.dtype)  # [N, C]
    for c in range(n_classes):
        sel = assignments == c
        if bool(sel.any()):
            scores[:, c] = counts[:, sel].mean(1)
    return scores.argmax(1)


def run_experiment(cfg: DCConfig, x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor,
                   batch: int = 1) -> dict[str, float]:
    """Train (unsupervised), label neurons on the training set, return train/test accuracy and spike stats."""
    g = torch.Generator().manual_seed(cfg.seed + 1)
    net = DiehlCook(cfg, dtype=x_train.dtype)
    t0 = time.perf_counter()
    net.fit(x_train, g, batch=batch)
    train_s = time.perf_counter() - t0
    c_train = net.respond(x_train, g)
    assignments = assign_labels(c_train, y_train, 10)
    c_test = net.respond(x_test, g)
    acc = (predict(c_test, assignments, 10) == y_test).double().mean().item()
    acc_train = (predict(c_train, assignments, 10) == y_train).double().mean().item()
    return {"test_acc": acc, "train_acc": acc_train, "spikes_per_test_image": c_test.sum(1).mean().item(),
            "classes_covered": float(assignments.unique().numel()), "theta_mean": net.theta.mean().item(),
            "train_seconds": train_s}


def main(argv: list[str] | None = None) -> None:
    from ._data import digits_split

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--n-exc", type=int, nargs="+", default=[25, 50, 100])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--steps", type=int, default=DCConfig.steps)
    ap.add_argument("--batch", type=int, default=1, help="examples per STDP batch (Diehl & Cook: 1)")
    ap.add_argument("--train", type=int, default=0, help="use only the first N training images (0: all)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    x_tr, y_tr, x_te, y_te = digits_split()
    if args.train:
        x_tr, y_tr = x_tr[: args.train], y_tr[: args.train]
    print(f"digits: {len(y_tr)} train / {len(y_te)} test; epochs {args.epochs}, steps {args.steps}, batch {args.batch}")
    for n in args.n_exc:
        for stdp in (True, False):
            accs = []
            for seed in args.seeds:
                cfg = DCConfig(n_exc=n, epochs=args.epochs, steps=args.steps, stdp=stdp, seed=seed)
                r = run_experiment(cfg, x_tr, y_tr, x_te, y_te, batch=args.batch)
                accs.append(r["test_acc"])
                print(f"  n_exc={n:4d} {'stdp  ' if stdp else 'random'} seed={seed}: test {r['test_acc']:.4f} "
                      f"train {r['train_acc']:.4f} spikes/img {r['spikes_per_test_image']:.1f} "
                      f"classes {r['classes_covered']:.0f} theta {r['theta_mean']:.2f} ({r['train_seconds']:.0f} s)",
                      flush=True)
            t = torch.tensor(accs, dtype=torch.float64)
            std = t.std().item() if len(accs) > 1 else 0.0
            print(f"n_exc={n} {'STDP' if stdp else 'random'}: test accuracy {t.mean():.4f} ± {std:.4f} "
                  f"over {len(accs)} seed(s)", flush=True)


if __name__ == "__main__":
    main()
