r"""Tsodyks–Markram dynamic synapse (Markram, Wang & Tsodyks 1998; as used by Maass et al. 2002).

Each synapse carries a utilisation ``u`` and a fraction of available resources ``r``. Between
presynaptic spikes they relax,

.. math:: u \leftarrow u\,e^{-\Delta/F}, \qquad r \leftarrow 1 - (1 - r)\,e^{-\Delta/D},

and at a spike

.. math:: u \leftarrow u + U(1 - u), \qquad e = u\,r, \qquad r \leftarrow r - e,

where ``e`` is the efficacy of that spike (the postsynaptic amplitude is ``A·e``). From rest
(``u = 0``, ``r = 1``) this is the recursion of the 2002 paper, :math:`A_n = A\,u_n R_n`,
:math:`u_{n+1} = U + u_n(1 - U)e^{-\Delta_n/F}`, :math:`R_{n+1} = 1 + (R_n - u_n R_n - 1)e^{-\Delta_n/D}`,
:math:`u_1 = U`, :math:`R_1 = 1`. ``F = 0`` means no facilitation (``u = U`` at every spike).

The relaxation is exact for any interval, so :func:`tm_step` serves both a clock (``dt`` = the step,
``z`` = this step's spikes) and an event-driven simulator (``dt`` = per-synapse time since the
previous spike, ``z = 1``); the two give the same efficacies.

For a regular train of period :math:`\Delta` the efficacy converges to (:func:`tm_steady_state`)

.. math:: u^* = \frac{U}{1 - (1 - U)e^{-\Delta/F}}, \qquad
    r^* = \frac{1 - e^{-\Delta/D}}{1 - (1 - u^*)e^{-\Delta/D}}, \qquad e^* = u^* r^*.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["TMParams", "TMState", "TsodyksMarkram", "tm_init_state", "tm_steady_state", "tm_step"]


class TMParams(NamedTuple):
    U: Tensor | float  # utilisation increment per spike, in (0, 1]
    tau_rec: Tensor | float  # D: recovery time constant of the resources [s], > 0
    tau_facil: Tensor | float  # F: decay time constant of the utilisation [s], >= 0 (0: no facilitation)


class TMState(NamedTuple):
    u: Tensor  # [..., S] utilisation just after the last spike (0 at rest)
    r: Tensor  # [..., S] available resources just after the last spike (1 at rest)


def tm_init_state(shape: tuple[int, ...], *, dtype: torch.dtype = torch.float64,
                  device: torch.device | str | None = None) -> TMState:
    """Synapses at rest: ``u = 0``, ``r = 1``."""
    return TMState(u=torch.zeros(shape, dtype=dtype, device=device), r=torch.ones(shape, dtype=dtype, device=device))


def _decay(dt: Tensor | float, tau: Tensor | float, like: Tensor) -> Tensor:
    """``exp(-dt/tau)``, with ``tau = 0`` giving 0 (instant decay; the 0/0 of ``dt = 0`` too)."""
    tau_t = tau if isinstance(tau, Tensor) else torch.tensor(tau, dtype=like.dtype, device=like.device)
    return torch.exp(-dt / tau_t).nan_to_num_(nan=0.0)


def tm_step(z: Tensor | float, state: TMState, p: TMParams, *, dt: Tensor | float) -> tuple[Tensor, TMState]:
    """Relax the synapses over ``dt`` seconds, then apply the spikes ``z`` (module docstring).

    Args:
        z: Presynaptic spikes (0/1), broadcastable to the state ``[..., S]``.
        state: Synapse state before the interval.
        p: ``U``, ``tau_rec``, ``tau_facil`` (scalars or per-synapse ``[S]``).
        dt: Interval since the previous call [s]: a float (clock) or a per-synapse tensor (event-driven).

    Returns:
        ``(e, state)``: efficacy ``u·r`` of each spike (0 where ``z = 0``) and the new state.

    Example:
        >>> s = tm_init_state((1,))
        >>> e1, s = tm_step(1.0, s, TMParams(0.5, 1.1, 0.05), dt=0.0)
        >>> e2, s = tm_step(1.0, s, TMParams(0.5, 1.1, 0.05), dt=0.02)   # depressed second spike
        >>> round(e1.item(), 4), round(e2.item(), 4)
        (0.5, 0.3398)
    """
    if isinstance(dt, Tensor):
        if bool((dt < 0).any()):
            raise ValueError("tm_step: dt must be >= 0")
    elif dt < 0:
        raise ValueError(f"tm_step: dt must be >= 0, got {dt}")
    u = state.u * _decay(dt, p.tau_facil, state.u)
    r = 1.0 - (1.0 - state.r) * _decay(dt, p.tau_rec, state.r)
    u = u + z * p.U * (1.0 - u)
    e = z * u * r
    return e, TMState(u=u, r=r - e)


def tm_steady_state(p: TMParams, isi: Tensor | float) -> tuple[Tensor, Tensor]:
    """Closed-form ``(u*, r*)`` at the spikes of a regular train of period ``isi`` [s] (efficacy ``u* r*``)."""
    ref = torch.as_tensor(isi, dtype=torch.float64)
    ref = ref if ref.is_floating_point() else ref.double()
    ef, ed = _decay(isi, p.tau_facil, ref), _decay(isi, p.tau_rec, ref)
    u = p.U / (1.0 - (1.0 - torch.as_tensor(p.U, dtype=ref.dtype)) * ef)
    return u, (1.0 - ed) / (1.0 - (1.0 - u) * ed)


class TsodyksMarkram(nn.Module):
    """``S`` dynamic synapses on a clock; ``forward(zs [T, B, S]) -> (efficacies [T, B, S], state)``.

    Dynamics in :func:`tm_step`; ``U``, ``tau_rec``, ``tau_facil`` are buffers (scalars or ``[S]``).

    Example:
        >>> syn = TsodyksMarkram(U=0.5, tau_rec=1.1, tau_facil=0.05, dt=1e-4)
        >>> zs = torch.zeros(300, 1, 1, dtype=torch.float64); zs[::100] = 1   # 100 Hz
        >>> e, _ = syn(zs); [round(x, 3) for x in e[::100, 0, 0].tolist()]
        [0.5, 0.356, 0.124]
    """

    U: Tensor
    tau_rec: Tensor
    tau_facil: Tensor

    def __init__(self, U: Tensor | float, tau_rec: Tensor | float, tau_facil: Tensor | float, *, dt: float = 1e-4,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        vals = {"U": U, "tau_rec": tau_rec, "tau_facil": tau_facil}
        for name, v in vals.items():
            t = torch.as_tensor(v, dtype=dtype)
            self.register_buffer(name, t.clone())
        if bool((self.U <= 0).any() | (self.U > 1).any()):
            raise ValueError("TsodyksMarkram: U must lie in (0, 1]")
        if bool((self.tau_rec <= 0).any()) or bool((self.tau_facil < 0).any()):
            raise ValueError("TsodyksMarkram: tau_rec must be > 0 and tau_facil >= 0 [s]")
        if dt <= 0:
            raise ValueError(f"TsodyksMarkram: dt must be > 0, got {dt}")
        self.dt = dt

    def forward(self, zs: Tensor, state: TMState | None = None) -> tuple[Tensor, TMState]:
        if zs.ndim < 2:
            raise ValueError(f"TsodyksMarkram: input must be [T, B, S] spikes, got shape {tuple(zs.shape)}")
        s = tm_init_state(tuple(zs.shape[1:]), dtype=zs.dtype, device=zs.device) if state is None else state
        p = TMParams(self.U, self.tau_rec, self.tau_facil)
        out = []
        for z in zs:
            e, s = tm_step(z, s, p, dt=self.dt)
            out.append(e)
        return torch.stack(out), s
