r"""Spike-template classification with the Maass liquid (after Maass, Natschläger & Markram 2002).

:func:`jittered_templates` draws ``n_templates`` fixed Poisson spike patterns (``n_in`` channels at
``rate`` Hz over ``duration``) and returns samples that are one template with every spike moved by
Gaussian jitter (SD ``jitter``, kept inside the window), rasterised on the ``dt`` grid (coincident
spikes of one channel merge), followed by ``tail`` seconds of fresh Poisson spikes at the same rate
(different in every sample, so the class must be remembered across it).

:func:`template_classification` simulates the liquid on every sample (each from its own random
initial membrane, ``U(13.5, 15)`` mV), reads the liquid state at the end (spikes filtered with
:math:`e^{-t/30\,\mathrm{ms}}`) and trains a one-vs-rest ridge readout; the same readout on the
equally filtered *input* spikes is the no-liquid baseline.

Values of the task (4 channels, 20 Hz, 100 ms template + 50 ms tail, 4 ms jitter, 2 templates) are
our choice in the spirit of the paper's jittered-template task, not its exact protocol [R].
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .maass import LSM, MaassConfig
from .readout import Ridge

__all__ = ["TemplateResult", "jittered_templates", "liquid_state", "template_classification"]


def jittered_templates(n_samples: int, *, n_templates: int = 2, n_in: int = 4, rate: float = 20.0,
                       duration: float = 0.1, tail: float = 0.05, jitter: float = 4e-3, dt: float = 1e-4,
                       seed: int = 0) -> tuple[Tensor, Tensor]:
    """``(x [T, n_samples, n_in] 0/1 float64, labels [n_samples])``, ``T = round((duration + tail)/dt)``."""
    if n_samples < 1 or n_templates < 1 or n_in < 1 or rate <= 0 or duration <= 0 or jitter < 0 or dt <= 0 \
            or tail < 0:
        raise ValueError("jittered_templates: sizes must be >= 1, rate, duration, dt > 0 and jitter, tail >= 0")
    g = torch.Generator().manual_seed(seed)
    T0, T = round(duration / dt), round((duration + tail) / dt)
    templates = []
    for _ in range(n_templates):
        chans = []
        for _ in range(n_in):
            k = int(torch.poisson(torch.tensor(rate * duration, dtype=torch.float64), generator=g))
            chans.append(torch.rand(k, generator=g, dtype=torch.float64) * duration)  # spike times [s]
        templates.append(chans)
    labels = torch.randint(0, n_templates, (n_samples,), generator=g)
    x = torch.zeros(T, n_samples, n_in, dtype=torch.float64)
    for b in range(n_samples):
        for c, times in enumerate(templates[int(labels[b])]):
            moved = (times + jitter * torch.randn(times.shape, generator=g, dtype=torch.float64)).clamp(0, duration)
            x[(moved / dt).long().clamp_max(T0 - 1), b, c] = 1.0
    x[T0:] = (torch.rand(T - T0, n_samples, n_in, generator=g, dtype=torch.float64) < rate * dt).to(x.dtype)
    return x, labels


def liquid_state(spikes: Tensor, *, tau: float = 30e-3, dt: float = 1e-4) -> Tensor:
    r"""State at the last step: :math:`\sum_t z_t e^{-(T-1-t)dt/\tau}`, ``[T, B, N] -> [B, N]``."""
    T = spikes.shape[0]
    w = torch.exp(-(T - 1 - torch.arange(T, dtype=torch.float64)) * dt / tau)  # [T]
    return torch.einsum("t,tbn->bn", w, spikes.to(torch.float64))


class TemplateResult(NamedTuple):
    acc_liquid: float  # test accuracy of the readout on the liquid state
    acc_input: float  # test accuracy of the same readout on the filtered input spikes
    rate_hz: float  # mean liquid firing rate [Hz]


def template_classification(n_train: int = 200, n_test: int = 200, *, cfg: MaassConfig = MaassConfig(),
                            ridge: float = 1e-1, seed: int = 0, chunk: int = 100,
                            **task: float) -> TemplateResult:
    """Train/test a ridge readout on jittered-template samples (module docstring); ``task`` goes to
    :func:`jittered_templates` (``n_templates``, ``n_in``, ``rate``, ``duration``, ``jitter``)."""
    n_in = int(task.get("n_in", 4))
    x, y = jittered_templates(n_train + n_test, dt=cfg.dt, seed=seed, **task)  # type: ignore[arg-type]
    lsm = LSM(n_in, cfg, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    states, spikes = [], 0
    for lo in range(0, x.shape[1], chunk):
        xb = x[:, lo : lo + chunk]
        v0 = cfg.v0[0] + (cfg.v0[1] - cfg.v0[0]) * torch.rand(xb.shape[1], lsm.n, generator=g, dtype=torch.float64)
        z, _ = lsm(xb, lsm.init_state(xb.shape[1], v0=v0))
        states.append(liquid_state(z, dt=cfg.dt))
        spikes += int(z.sum())
    s = torch.cat(states)  # [samples, N]
    onehot = torch.nn.functional.one_hot(y).double()

    def accuracy(feats: Tensor) -> float:
        r = Ridge(ridge).fit(feats[:n_train], onehot[:n_train])
        return float((r.predict(feats[n_train:]).argmax(1) == y[n_train:]).double().mean())

    seconds = x.shape[0] * cfg.dt
    return TemplateResult(acc_liquid=accuracy(s), acc_input=accuracy(liquid_state(x, dt=cfg.dt)),
                          rate_hz=spikes / (x.shape[1] * lsm.n * seconds))

