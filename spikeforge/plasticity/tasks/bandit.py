r"""A multi-armed bandit learned by a spiking policy with a three-factor rule (R-STDP with a reward baseline).

Each trial, ``n_in`` Poisson inputs drive one LIF neuron per arm for ``steps`` steps (the arms' neurons
inhibit each other, a soft winner-take-all); the arm whose neuron fires most is pulled (ties broken at
random) and pays 1 with its probability, else 0. The synapses keep
:class:`~spikeforge.plasticity.ThreeFactor` eligibility traces during the trial; after it, the reward minus
a running average of past rewards (Frémaux & Gerstner's mean-zero modulator) is delivered as one dopamine
pulse, so :math:`\Delta W = \eta\,(r - \bar r)\,e\,dt`. Weights are clipped to ``[0, w_max]``.

Run ``python -m spikeforge.plasticity.tasks.bandit --help``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from torch import Tensor

from ...encoders.rate import bernoulli_encode
from ...neurons.lif import LIFDecayParams, LIFState, lif_step
from ..constraints import clamp_
from ..three_factor import ThreeFactor, three_factor_step

__all__ = ["BanditConfig", "run_bandit"]


@dataclass(frozen=True)
class BanditConfig:
    probs: tuple[float, ...] = (0.1, 0.2, 0.3, 0.8)  # payout probability per arm
    n_in: int = 20  # Poisson inputs
    p_in: float = 0.2  # input spike probability per step
    steps: int = 50  # steps per trial (dt = 1 ms)
    trials: int = 600
    beta: float = 0.9  # LIF membrane decay per step
    w_init: float = 0.06  # initial weights ~ U(0.5, 1.5) * w_init
    w_max: float = 0.3
    w_lat: float = 0.5  # lateral inhibition between the arms' neurons (soft winner-take-all)
    eta: float = 5.0  # learning rate of the three-factor rule [1/s]
    tau_e: float = 0.05  # eligibility time constant [s]
    baseline_rate: float = 0.05  # running average of the reward: rbar += rate * (r - rbar)
    learn: bool = True  # False: the same policy with fixed weights (chance)
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.probs) < 2 or not all(0 <= p <= 1 for p in self.probs):
            raise ValueError(f"BanditConfig: need >= 2 arms with probabilities in [0, 1], got {self.probs}")
        if self.trials < 1 or self.steps < 1 or self.n_in < 1:
            raise ValueError("BanditConfig: trials, steps and n_in must be >= 1")
        if not 0 < self.baseline_rate <= 1:
            raise ValueError(f"BanditConfig: baseline_rate must be in (0, 1], got {self.baseline_rate}")


def run_bandit(cfg: BanditConfig) -> dict[str, object]:
    """Play ``cfg.trials`` trials; returns per-trial ``rewards``/``actions`` and summary rates."""
    g = torch.Generator().manual_seed(cfg.seed)
    k = len(cfg.probs)
    w = cfg.w_init * (0.5 + torch.rand(k, cfg.n_in, generator=g))  # [K, N_in]
    lif = LIFDecayParams(beta=cfg.beta)  # v' = beta v + I, spike at v > 1, subtract 1 (LIF.from_decay)
    rule = ThreeFactor(a_plus=1.0, a_minus=1.0, tau_e=cfg.tau_e, tau_d=1e-3, eta=cfg.eta)
    probs = torch.tensor(cfg.probs, dtype=torch.float64)
    rbar = float(probs.mean())  # start the baseline at chance
    rewards: list[float] = []
    actions: list[int] = []
    p_in = torch.full((1, cfg.n_in), cfg.p_in)
    quiet_in, quiet_out = torch.zeros(1, cfg.n_in), torch.zeros(1, k)
    with torch.no_grad():
        for _ in range(cfg.trials):
            xs = bernoulli_encode(p_in, cfg.steps, generator=g)  # [T, 1, N_in]
            currents = xs @ w.T  # [T, 1, K]; weights are fixed within a trial
            z, ns, out = quiet_out, LIFState(v=torch.zeros(1, k)), []
            for i in currents:  # lateral inhibition: each spike inhibits the other arms' neurons next step
                z, ns = lif_step(i - cfg.w_lat * (z.sum(-1, keepdim=True) - z), ns, lif, integrator="decay")
                out.append(z)
            zs = torch.stack(out)  # [T, 1, K]
            counts = zs.sum((0, 1))  # [K]
            best = (counts == counts.max()).nonzero().flatten()
            action = int(best[torch.randint(0, best.numel(), (1,), generator=g)])
            r = float(torch.rand((), generator=g, dtype=torch.float64) < probs[action])
            rewards.append(r)
            actions.append(action)
            if not cfg.learn:
                continue
            state = rule.init_state(quiet_in, quiet_out, w)
            for x, z in zip(xs, zs):  # eligibility over the trial; no dopamine yet, so no change
                _, state = three_factor_step(x, z, state, w, rule.params, modulator=0.0, dt=rule.dt)
            dw, _ = three_factor_step(quiet_in, quiet_out, state, w, rule.params, modulator=r - rbar,
                                      dt=rule.dt)  # the reward arrives
            clamp_(w.add_(dw), 0.0, cfg.w_max)
            rbar += cfg.baseline_rate * (r - rbar)
    last = max(1, cfg.trials // 4)
    best_arm = int(probs.argmax())
    return {
        "rewards": rewards,
        "actions": actions,
        "reward_rate_last": sum(rewards[-last:]) / last,
        "best_arm_fraction_last": sum(a == best_arm for a in actions[-last:]) / last,
        "chance": float(probs.mean()),
        "optimal": float(probs.max()),
        "weights": w,
    }


def _summary(cfg: BanditConfig, seeds: list[int]) -> tuple[Tensor, Tensor]:
    rr, bf = [], []
    for seed in seeds:
        r = run_bandit(BanditConfig(**{**cfg.__dict__, "seed": seed}))
        rr.append(float(r["reward_rate_last"]))  # type: ignore[arg-type]
        bf.append(float(r["best_arm_fraction_last"]))  # type: ignore[arg-type]
    return torch.tensor(rr, dtype=torch.float64), torch.tensor(bf, dtype=torch.float64)


def _sd(t: Tensor) -> float:
    """Sample standard deviation (0 for a single value)."""
    return float(t.std()) if t.numel() > 1 else 0.0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Spiking three-factor policy on a multi-armed bandit")
    ap.add_argument("--probs", type=float, nargs="+", default=list(BanditConfig.probs))
    ap.add_argument("--trials", type=int, default=BanditConfig.trials)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for learn in (True, False):
        cfg = BanditConfig(probs=tuple(args.probs), trials=args.trials, learn=learn)
        rr, bf = _summary(cfg, args.seeds)
        print(f"{'learning' if learn else 'fixed   '}: reward rate over the last quarter {rr.mean():.3f} ± "
              f"{_sd(rr):.3f}, best arm chosen {bf.mean():.3f} ± {_sd(bf):.3f} ({len(args.seeds)} seeds; "
              f"chance {sum(args.probs) / len(args.probs):.3f}, optimal {max(args.probs):.3f})", flush=True)


if __name__ == "__main__":
    main()
