r"""Izhikevich 2007's distal-reward experiment, scaled down, with :class:`~spikeforge.plasticity.ThreeFactor`.

A random recurrent network of Izhikevich neurons (80 % regular-spiking excitatory, 20 % fast-spiking
inhibitory, sparse connections, 1 ms conduction delay) is driven by noise and random thalamic kicks. One
excitatory synapse ``n1 → n2`` is chosen; whenever ``n2`` fires within ``window`` (20 ms) after ``n1``, a
dopamine pulse is scheduled a random 1–3 s later. Every excitatory synapse keeps an eligibility trace
(``tau_e`` ≈ 1 s, STDP increments ``a_plus = 0.1``, ``a_minus = 0.15``) and changes by
:math:`\dot w = \eta\,(d - b)\,e` with dopamine :math:`d` (``tau_d`` = 0.2 s) and tonic dopamine
:math:`-b` = 0.002, clipped to ``[0, w_max]``, as in the author's ``daspnet.m``
(``w += (0.002 + DA)·c`` every 10 ms ⇔ ``eta = 100 /s`` at ``dt = 1 ms``). Despite the 1–3 s between the
pair and its reward, and the many other pairs firing in between, the rewarded synapse is singled out:
its weight climbs to the top while the others stay low.

Run ``python -m spikeforge.plasticity.tasks.distal_reward --help``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from ...neurons.izhikevich import IzhikevichParams
from ..constraints import clamp_
from ..three_factor import ThreeFactor, three_factor_step

__all__ = ["DistalRewardConfig", "RewardSchedule", "build_network", "run_distal_reward"]


@dataclass(frozen=True)
class DistalRewardConfig:
    n_exc: int = 40  # regular-spiking excitatory neurons (Izhikevich: 800)
    n_inh: int = 10  # fast-spiking inhibitory neurons (Izhikevich: 200)
    p_connect: float = 0.1  # connection probability (Izhikevich: 100 of 1000)
    w_exc: float = 1.0  # initial excitatory weight [current units per spike]
    w_inh: float = -1.0  # inhibitory weight (fixed)
    w_max: float = 4.0  # excitatory bound
    seconds: float = 600.0  # simulated time [s] (Izhikevich: 3600)
    noise: float = 13.0  # uniform noise current of width `noise` every ms (daspnet: 13*(rand-0.5))
    kick: float = 20.0  # thalamic kick current
    kick_rate: float = 1.0  # kicks per neuron per second (daspnet: one random neuron per ms, 1/s per neuron)
    window: float = 20e-3  # n2 within this time after n1 schedules a reward [s]
    delay_min: float = 1.0  # reward delay range [s]
    delay_max: float = 3.0
    dopamine: float = 0.5  # dopamine per reward
    tau_e: float = 0.995  # eligibility (daspnet: x0.99 per 10 ms)
    tau_d: float = 0.1995  # dopamine (daspnet: x0.995 per ms)
    tau_stdp: float = 0.0195  # STDP traces (daspnet: x0.95 per ms)
    a_plus: float = 0.1
    a_minus: float = 0.15
    eta: float = 100.0  # [1/s]; daspnet's rate at dt = 1 ms
    tonic: float = 0.002  # tonic dopamine (enters as baseline -tonic)
    dt: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_exc < 2 or self.n_inh < 0:
            raise ValueError(f"DistalRewardConfig: need n_exc >= 2 and n_inh >= 0, got {self.n_exc}, {self.n_inh}")
        if not 0 < self.p_connect <= 1:
            raise ValueError(f"DistalRewardConfig: p_connect must be in (0, 1], got {self.p_connect}")
        if not 0 <= self.delay_min <= self.delay_max:
            raise ValueError(f"DistalRewardConfig: need 0 <= delay_min <= delay_max, got {self.delay_min}, "
                             f"{self.delay_max}")
        for name in ("seconds", "dt", "window", "tau_e", "tau_d", "tau_stdp", "w_max"):
            if not getattr(self, name) > 0:
                raise ValueError(f"DistalRewardConfig: {name} must be > 0, got {getattr(self, name)}")


class RewardSchedule:
    """Schedules a dopamine pulse ``delay`` after each step where ``n2`` fires within ``window`` after ``n1``.

    Call :meth:`step` once per step with whether ``n1`` and ``n2`` fired; it returns the dopamine delivered
    at this step. Times are in steps; delays are drawn uniformly in ``[delay_min, delay_max]`` steps.

    Example:
        >>> rs = RewardSchedule(window=20, delay_min=1000, delay_max=3000, amount=0.5,
        ...                     generator=torch.Generator().manual_seed(0))
        >>> sum(rs.step(t == 0, t == 5) for t in range(4000))
        0.5
    """

    def __init__(self, window: int, delay_min: int, delay_max: int, amount: float,
                 generator: torch.Generator | None = None) -> None:
        self.window, self.delay_min, self.delay_max, self.amount = window, delay_min, delay_max, amount
        self.generator = generator
        self.t = 0
        self.last_n1: int | None = None
        self.pending: list[int] = []
        self.pairs = 0  # rewarded pairs so far
        self.delivered = 0

    def step(self, n1_fired: bool, n2_fired: bool) -> float:
        t = self.t
        if n1_fired:
            self.last_n1 = t
        if n2_fired and self.last_n1 is not None and 0 < t - self.last_n1 <= self.window:
            span = self.delay_max - self.delay_min
            extra = int(torch.randint(0, span + 1, (1,), generator=self.generator)) if span else 0
            self.pending.append(t + self.delay_min + extra)
            self.pairs += 1
        due = sum(1 for r in self.pending if r == t)
        if due:
            self.pending = [r for r in self.pending if r != t]
            self.delivered += due
        self.t += 1
        return due * self.amount


def build_network(cfg: DistalRewardConfig, generator: torch.Generator) -> tuple[Tensor, Tensor, IzhikevichParams]:
    """``(w [N, N], plastic [N, N] bool, params)``: ``w[post, pre]``; plastic marks existing exc→any synapses.

    Each neuron gets ``round(p_connect * N)`` distinct random targets (no self-connections).
    """
    n = cfg.n_exc + cfg.n_inh
    k = max(1, round(cfg.p_connect * n))
    conn = torch.zeros(n, n, dtype=torch.bool)  # [post, pre]
    for pre in range(n):
        targets = torch.randperm(n - 1, generator=generator)[:k]
        targets = targets + (targets >= pre).long()  # skip the neuron itself
        conn[targets, pre] = True
    exc_pre = torch.zeros(n, dtype=torch.bool)
    exc_pre[: cfg.n_exc] = True
    w = torch.where(conn, torch.where(exc_pre, cfg.w_exc, cfg.w_inh), torch.zeros(())).to(torch.float32)
    plastic = conn & exc_pre.unsqueeze(0)
    exc = exc_pre.float()
    params = IzhikevichParams(a=0.02 * exc + 0.1 * (1 - exc), b=torch.full((n,), 0.2), c=torch.full((n,), -65.0),
                              d=8.0 * exc + 2.0 * (1 - exc), v_th=30.0)
    return w, plastic, params


def run_distal_reward(cfg: DistalRewardConfig, *, log_every: float = 0.0) -> dict[str, float]:
    """Simulate ``cfg.seconds``; returns the rewarded synapse's weight, its rank and the others' statistics."""
    g = torch.Generator().manual_seed(cfg.seed)
    w, plastic, params = build_network(cfg, g)
    n = w.shape[0]
    syn = plastic.nonzero()  # [S, 2] (post, pre) of the plastic synapses
    post_i, pre_j = (int(v) for v in syn[torch.randint(0, syn.shape[0], (1,), generator=g)][0])
    rule = ThreeFactor(dt=cfg.dt, tau_pre=cfg.tau_stdp, tau_post=cfg.tau_stdp, a_plus=cfg.a_plus,
                       a_minus=cfg.a_minus, tau_e=cfg.tau_e, tau_d=cfg.tau_d, eta=cfg.eta, baseline=-cfg.tonic)
    steps = int(round(cfg.seconds / cfg.dt))
    rs = RewardSchedule(round(cfg.window / cfg.dt), round(cfg.delay_min / cfg.dt), round(cfg.delay_max / cfg.dt),
                        cfg.dopamine, generator=g)
    a, b, c, d = (torch.as_tensor(v).unsqueeze(0) for v in (params.a, params.b, params.c, params.d))  # [1, N]
    v = torch.full((1, n), -65.0)
    u = b * v
    z = torch.zeros(1, n)
    tf = rule.params
    state = rule.init_state(z, z, w)
    mask = plastic.to(w.dtype)  # the update applies to existing excitatory synapses only
    p_kick = cfg.kick_rate * cfg.dt
    chunk = 1000
    spikes = torch.zeros(())
    t0 = time.perf_counter()
    with torch.no_grad():
        for t in range(steps):
            if t % chunk == 0:  # drive for the next `chunk` steps in one draw: [chunk, N]
                drive = cfg.noise * (torch.rand(chunk, n, generator=g) - 0.5)
                drive += (torch.rand(chunk, n, generator=g) < p_kick).to(w.dtype) * cfg.kick
            # Izhikevich (daspnet.m): spikes are read and reset first, then v takes two half-ms steps, u one
            fired = v >= 30.0  # [1, N]
            z = fired.to(w.dtype)
            v = torch.where(fired, c, v)
            u = u + d * z
            i_syn = drive[t % chunk] + z @ w.T  # [1, N]: spikes reach their targets within the ms (daspnet, D = 1)
            v = v + 0.5 * ((0.04 * v + 5) * v + 140 - u + i_syn)
            v = v + 0.5 * ((0.04 * v + 5) * v + 140 - u + i_syn)
            u = u + a * (b * v - u)
            spikes += z.sum()
            pair = z[0, [pre_j, post_i]].tolist()
            reward = rs.step(pair[0] > 0, pair[1] > 0)
            dw, state = three_factor_step(z, z, state, w, tf, modulator=reward, dt=rule.dt)
            w.addcmul_(dw, mask)
            clamp_(w[:, : cfg.n_exc], 0.0, cfg.w_max)  # a view of the excitatory columns: clamps w in place
            if log_every and (t + 1) % int(log_every / cfg.dt) == 0:
                others = w[plastic].sum() - w[post_i, pre_j]
                print(f"  t={(t + 1) * cfg.dt:6.0f} s  w_rewarded {float(w[post_i, pre_j]):.3f}  mean others "
                      f"{float(others) / (int(plastic.sum()) - 1):.3f}  rewards {rs.delivered}  "
                      f"rate {float(spikes) / n / ((t + 1) * cfg.dt):.2f} Hz  ({time.perf_counter() - t0:.0f} s)",
                      flush=True)
    weights = w[plastic]  # [S]
    w_rew = float(w[post_i, pre_j])
    others = w[plastic & ~_one_hot(n, post_i, pre_j)]  # [S - 1]
    return {
        "w_rewarded": w_rew,
        "w_rewarded_initial": cfg.w_exc,
        "mean_others": float(others.mean()),
        "std_others": float(others.std()),
        "max_others": float(others.max()),
        "rank": float(int((weights > w_rew).sum()) + 1),  # 1 = largest
        "synapses": float(weights.numel()),
        "pairs": float(rs.pairs),
        "rewards": float(rs.delivered),
        "rate_hz": float(spikes) / n / cfg.seconds,
        "sim_seconds_per_wall_second": cfg.seconds / max(time.perf_counter() - t0, 1e-9),
    }


def _one_hot(n: int, i: int, j: int) -> Tensor:
    m = torch.zeros(n, n, dtype=torch.bool)
    m[i, j] = True
    return m


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Izhikevich 2007 distal reward, scaled down")
    ap.add_argument("--seconds", type=float, default=DistalRewardConfig.seconds)
    ap.add_argument("--eta", type=float, default=DistalRewardConfig.eta)
    ap.add_argument("--kick-rate", type=float, default=DistalRewardConfig.kick_rate)
    ap.add_argument("--n-exc", type=int, default=DistalRewardConfig.n_exc)
    ap.add_argument("--n-inh", type=int, default=DistalRewardConfig.n_inh)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--log-every", type=float, default=60.0, help="progress line every N simulated seconds")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for seed in args.seeds:
        cfg = DistalRewardConfig(seconds=args.seconds, eta=args.eta, kick_rate=args.kick_rate, n_exc=args.n_exc,
                                 n_inh=args.n_inh, seed=seed)
        r = run_distal_reward(cfg, log_every=args.log_every)
        ratio = r["w_rewarded"] / max(r["mean_others"], 1e-12)
        print(f"seed {seed}: rewarded synapse w = {r['w_rewarded']:.3f} (rank {r['rank']:.0f} of "
              f"{r['synapses']:.0f}), others {r['mean_others']:.3f} ± {r['std_others']:.3f} (max "
              f"{r['max_others']:.3f}), ratio {ratio:.1f}; {r['pairs']:.0f} rewarded pairs, "
              f"{r['rate_hz']:.2f} Hz", flush=True)


if __name__ == "__main__":
    main()
