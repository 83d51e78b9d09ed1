"""Why L2MU does not learn permuted sequential digits (issue 16): the measurements behind
``docs/research_neurons.md``. Same data, permutation, batch (64), optimiser (Adam) and read-out
(output spike counts as logits) as ``tools/research_neurons.py seq``.

Task ``train``: train L2MU and print, after every epoch, the test accuracy and each population's
firing rate (encoder u, memory m, hidden h, output o) with the learned β and Θ — shows the layer going
silent. Task ``static``: positive control, the same layer on static digits (all 64 pixels at every
one of ``--T`` steps). Task ``ceiling``: what a read-out without spiking memory gets on the sequential
task — logistic regression on the bag of pixel values (order ignored) and on the final state of a
float LMU memory (d = 4, one channel). Task ``float-memory``: one change to the paper's L2MU — the
memory population is replaced by the LMU's own real-valued memory :math:`m_t = \bar A m_{t-1} + \bar B
z^u_t` (read by the encoder and hidden populations as a value, not as 0/1 spikes); every other
population, weight, initialisation and the training of ``research_neurons.py seq`` (thermometer code,
12 epochs) unchanged: how much the 0/1 memory spike costs.

    .venv/bin/python tools/l2mu_diagnosis.py train --seed 0 --epochs 4 --l2mu-theta 10 --encoder 16 --input-gain 4
    .venv/bin/python tools/l2mu_diagnosis.py static --seed 0 --epochs 5
    .venv/bin/python tools/l2mu_diagnosis.py ceiling
    .venv/bin/python tools/l2mu_diagnosis.py float-memory --seeds 0 1 2 --epochs 12 --l2mu-theta 10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from research_common import adam, encode_pixels, fit, load_static, permuted_sequential, sum_t  # noqa: E402

from spikeforge.layers.l2mu import (  # noqa: E402
    L2MU,
    L2MUState,
    L2MUWeights,
    leaky_delayed_step,
    legendre_matrices,
    lmu_discretize,
    lmu_memory_step,
)


def sequential_digits(seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    x, y, xt, yt = load_static("digits", seed)
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(1234))  # as `seq`
    return permuted_sequential(x, perm), y, permuted_sequential(xt, perm), yt  # [64, N, 1]


def rates(m: L2MU, xs: Tensor) -> tuple[float, float, float, float]:
    """Each population's mean firing rate over the steps and samples of ``xs``."""
    state, zu, zm, zh, zo = None, [], [], [], []
    with torch.no_grad():
        for t in range(xs.shape[0]):
            z, state = m.run(xs[t:t + 1], state)
            zu.append((state.u > m.v_th[0]).float())  # the encoder's spike at this step
            zm.append(state.zm)
            zh.append(state.zh)
            zo.append(z)
    ru, rm, rh, ro = (torch.stack(z).mean().item() for z in (zu, zm, zh, zo))
    return ru, rm, rh, ro


def train_epochs(m: L2MU, xs: Tensor, y: Tensor, xts: Tensor, yt: Tensor, epochs: int, lr: float) -> None:
    opt = adam(m, lr)
    t0 = time.time()
    print("| epoch | train loss | test acc | rate u | rate m | rate h | rate o | β (u, m, h, o) | Θ (u, m, h, o) | s |")
    for ep in range(epochs):
        perm, total, n = torch.randperm(xs.shape[1]), 0.0, 0
        for k in range(0, xs.shape[1], 64):
            idx = perm[k:k + 64]
            loss = torch.nn.functional.cross_entropy(m(xs[:, idx]).sum(0), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + loss.item(), n + 1
        with torch.no_grad():
            acc = (m(xts).sum(0).argmax(-1) == yt).float().mean().item()
        ru, rm, rh, ro = rates(m, xts)
        beta = m.beta().detach().tolist()
        th = m.v_th.detach().tolist()
        print(f"| {ep + 1} | {total / n:.3f} | {acc:.3f} | {ru:.3f} | {rm:.3f} | {rh:.3f} | {ro:.3f} | "
              f"{', '.join(f'{b:.2f}' for b in beta)} | {', '.join(f'{t:.2f}' for t in th)} | "
              f"{time.time() - t0:.0f} |", flush=True)


def task_train(args: argparse.Namespace) -> None:
    xs, y, xts, yt = sequential_digits(args.seed)
    torch.manual_seed(args.seed)
    m = L2MU(1, hidden_size=args.hidden, output_size=10, encoder_size=args.encoder, order=4, theta=args.l2mu_theta,
             transpose_a=args.transpose_a)
    train_epochs(m, args.input_gain * xs, y, args.input_gain * xts, yt, args.epochs, args.lr)


def task_static(args: argparse.Namespace) -> None:
    x, y, xt, yt = load_static("digits", args.seed)
    xs, xts = x.expand(args.T, -1, -1), xt.expand(args.T, -1, -1)  # [N, 64] -> [T, N, 64]
    torch.manual_seed(args.seed)
    m = L2MU(64, hidden_size=args.hidden, output_size=10, encoder_size=args.encoder, order=4, theta=args.l2mu_theta)
    train_epochs(m, xs, y, xts, yt, args.epochs, args.lr)


def task_ceiling(args: argparse.Namespace) -> None:
    from sklearn.linear_model import LogisticRegression

    def bag(z: Tensor) -> Tensor:  # counts of the 17 pixel levels per image: [64, N, 1] -> [N, 17]
        return torch.nn.functional.one_hot((z[..., 0] * 16).round().long(), 17).sum(0).double()

    print("| seed | bag of pixel values | float LMU d = 4, θ = 10 | float LMU d = 4, θ = 64 |")
    for seed in args.seeds:
        xs, y, xts, yt = sequential_digits(seed)
        row = []
        feats = [bag]
        for th in (10.0, 64.0):
            a_bar, b_bar = lmu_discretize(*legendre_matrices(4, th), 1.0)

            def final_memory(z: Tensor, a_bar: Tensor = a_bar, b_bar: Tensor = b_bar) -> Tensor:
                m = torch.zeros(z.shape[1], 1, 4, dtype=torch.float64)  # [N, 1 channel, d]
                for t in range(z.shape[0]):
                    m = lmu_memory_step(m, z[t].double(), a_bar, b_bar)
                return m.flatten(1)  # [N, 1, d] -> [N, d]
            feats.append(final_memory)
        for f in feats:
            clf = LogisticRegression(max_iter=3000).fit(f(xs).numpy(), y.numpy())
            row.append(f"{clf.score(f(xts).numpy(), yt.numpy()):.3f}")
        print(f"| {seed} | {' | '.join(row)} |", flush=True)


class FloatMemoryL2MU(torch.nn.Module):
    """``net`` (an :class:`L2MU`) with its memory population replaced by the LMU's real-valued memory
    (ours, not the paper: the paper's memory is a LIF population read as spikes). Same parameters;
    ``state.m`` holds the memory ``[B, C·d]``, ``state.zm`` the same values (what the others read)."""

    def __init__(self, net: L2MU) -> None:
        super().__init__()
        self.net = net

    def forward(self, xs: Tensor) -> Tensor:  # [T, B, I] -> output spikes [T, B, O]
        return self.run(xs)[0]

    def run(self, xs: Tensor, state: L2MUState | None = None) -> tuple[Tensor, L2MUState]:
        n = self.net
        d = n.order
        s = n.init_state(xs[0]) if state is None else state
        beta, th = n.beta(), n.v_th
        w = L2MUWeights(*(getattr(n, f) for f in L2MUWeights._fields))  # the net's own tensors, typed
        zs = []
        for x in xs:  # x: [B, I]
            zu, vu = leaky_delayed_step(x @ w.e_x.T + s.zh @ w.e_h.T + s.zm @ w.e_m.T, s.u, beta[0], th[0])
            m = lmu_memory_step(s.zm.unflatten(-1, (-1, d)), zu, w.a_bar, w.g_m * w.b_bar)  # [B, C, d]
            m = m.flatten(-2)  # [B, C, d] -> [B, C·d]
            zh, vh = leaky_delayed_step(x @ w.w_x.T + s.zh @ w.w_h.T + m @ w.w_m.T, s.h, beta[2], th[2])
            zo, vo = leaky_delayed_step(zh @ w.w_o.T + w.b_o, s.o, beta[3], th[3])
            s = L2MUState(u=vu, m=m, h=vh, o=vo, zm=m, zh=zh)
            zs.append(zo)
        return torch.stack(zs), s  # [T, B, O]


def task_float_memory(args: argparse.Namespace) -> None:
    print("| memory | seed | test acc | zero fraction: hidden, memory, output | wall s |")
    for seed in args.seeds:
        xs, y, xts, yt = sequential_digits(seed)
        xs, xts = (encode_pixels(z, "thermometer", 8) for z in (xs, xts))  # [64, N, 1] -> [64, N, 8]
        for arm in args.arms:
            torch.manual_seed(seed)
            net = L2MU(8, hidden_size=args.hidden, output_size=10, encoder_size=args.encoder, order=4,
                       theta=args.l2mu_theta)
            m: torch.nn.Module = FloatMemoryL2MU(net) if arm == "float" else net
            t0 = time.time()
            fit(m, xs, y, epochs=args.epochs, lr=args.lr, loss_fn=torch.nn.functional.cross_entropy, head=sum_t)
            with torch.no_grad():
                out, _ = m.run(xts)  # type: ignore[operator]
                acc = (out.sum(0).argmax(-1) == yt).float().mean().item()
                s, zh, zm = None, [], []
                for t in range(xts.shape[0]):
                    _, s = m.run(xts[t:t + 1], s)  # type: ignore[operator]
                    zh.append(s.zh)
                    zm.append(s.zm)
            zero = ", ".join(f"{(z == 0).float().mean().item():.3f}" for z in (torch.stack(zh), torch.stack(zm), out))
            print(f"| {arm} | {seed} | {acc:.3f} | {zero} | {time.time() - t0:.0f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", choices=["train", "static", "ceiling", "float-memory"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="ceiling, float-memory")
    ap.add_argument("--arms", nargs="+", choices=["float", "spiking"], default=["float"],
                    help="float-memory: which memory (spiking = the paper's L2MU, same init and batches)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--encoder", type=int, default=4, help="encoder channels C")
    ap.add_argument("--l2mu-theta", type=float, default=64.0)
    ap.add_argument("--input-gain", type=float, default=1.0, help="train: scale the pixels (ours)")
    ap.add_argument("--transpose-a", action="store_true", help="train: Āᵀ as in the authors' code")
    ap.add_argument("--T", type=int, default=16, help="static: steps")
    args = ap.parse_args()
    torch.set_num_threads(1)
    {"train": task_train, "static": task_static, "ceiling": task_ceiling,
     "float-memory": task_float_memory}[args.task](args)


if __name__ == "__main__":
    main()
