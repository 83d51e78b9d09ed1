r"""Benchmark series for reservoirs: NARMA10 and Mackey–Glass (reference §3.5).

NARMA10 (Atiya & Parlos 2000), explicit constants, :math:`u \sim U(0, 0.5)`:

.. math:: y(t+1) = 0.3\,y(t) + 0.05\,y(t)\sum_{i=0}^{9} y(t-i) + 1.5\,u(t-9)\,u(t) + 0.1

Mackey–Glass: :math:`\dot x = a\,x(t-\tau)/(1 + x(t-\tau)^n) - b\,x(t)`, a = 0.2, b = 0.1, n = 10,
τ = 17, constant history ``x0``; Euler or RK4 with step ``dt`` (delayed values read from the stored
grid, so ``tau/dt`` must be an integer; RK4 half-steps use the mean of the two neighbouring delayed
samples).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["mackey_glass", "narma10"]


def narma10(steps: int, *, seed: int = 0, drop: int = 200) -> tuple[Tensor, Tensor]:
    """Return ``(u, y)``, each ``[steps]`` float64, after discarding ``drop`` warm-up steps.

    ``y[t]`` is the target for input history up to ``u[t]`` (one-step-ahead NARMA10 output).
    """
    if steps < 1 or drop < 0:
        raise ValueError(f"narma10: need steps >= 1 and drop >= 0, got steps={steps}, drop={drop}")
    g = torch.Generator()
    g.manual_seed(seed)
    total = steps + drop
    u = (torch.rand(total, generator=g, dtype=torch.float64) * 0.5).tolist()
    y = [0.0] * (total + 1)
    for t in range(total):
        past = sum(y[max(0, t - 9): t + 1])
        u9 = u[t - 9] if t >= 9 else 0.0
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * past + 1.5 * u9 * u[t] + 0.1
        if not math.isfinite(y[t + 1]):
            raise ValueError(f"narma10: series diverged at step {t} (seed {seed}); try another seed")
    ut = torch.tensor(u[drop:], dtype=torch.float64)
    yt = torch.tensor(y[drop + 1:], dtype=torch.float64)
    return ut, yt


def mackey_glass(
    steps: int, *, tau: float = 17.0, dt: float = 0.1, method: str = "euler", x0: float = 1.2,
    discard: float = 500.0, a: float = 0.2, b: float = 0.1, n: float = 10.0, sample_every: float = 1.0,
) -> Tensor:
    """Mackey–Glass series ``[steps]`` float64, sampled every ``sample_every`` time units after ``discard``."""
    if method not in ("euler", "rk4"):
        raise ValueError(f"mackey_glass: method must be 'euler' or 'rk4', got {method!r}")
    lag = tau / dt
    stride = sample_every / dt
    if abs(lag - round(lag)) > 1e-9 or abs(stride - round(stride)) > 1e-9 or dt <= 0:
        raise ValueError(f"mackey_glass: tau/dt and sample_every/dt must be integers (tau={tau}, dt={dt}, "
                         f"sample_every={sample_every})")
    lag_i, stride_i = round(lag), round(stride)
    start = round(discard / dt)
    n_steps = start + stride_i * (steps - 1) + 1
    xs = [x0] * (lag_i + 1)  # history on [-tau, 0]; xs[i + lag_i] = x(i*dt)

    def f(x: float, xd: float) -> float:
        return a * xd / (1.0 + xd ** n) - b * x

    for i in range(n_steps - 1):
        x = xs[-1]
        xd = xs[i]  # x(t - tau)
        if method == "euler":
            xs.append(x + dt * f(x, xd))
        else:
            xd_next = xs[i + 1]
            xd_mid = 0.5 * (xd + xd_next)
            k1 = f(x, xd)
            k2 = f(x + 0.5 * dt * k1, xd_mid)
            k3 = f(x + 0.5 * dt * k2, xd_mid)
            k4 = f(x + dt * k3, xd_next)
            xs.append(x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4))
    traj = xs[lag_i:]  # x(0), x(dt), ...
    return torch.tensor(traj[start::stride_i][:steps], dtype=torch.float64)
