"""Three-factor rules: STDP eligibility gated by a modulator (reward, dopamine, TD error).

- :func:`mstdp_step` — Florian 2007 MSTDP: ``dw = eta * r * zeta`` with the eligibility ``zeta`` of the
  previous step (the one-step lag of SpikingJelly's and BindsNET's implementations).
- :func:`mstdpet_step` — MSTDP with an eligibility trace ``z`` (MSTDP-ET).
- :func:`three_factor_step` — the general form of Izhikevich 2007 / Frémaux & Gerstner 2016: a
  per-synapse eligibility ``e`` that accumulates STDP increments and decays with ``tau_e``, a dopamine
  trace ``d`` driven by rewards and decaying with ``tau_d``, and ``dw = eta * (d - baseline) * e * dt``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor

from ._base import PLASTICITY, Rule, _additive, decay_factor, pair_traces, zeros
from ._base import weight_dependence as resolve_weight_dependence
from .stdp import pair_terms

__all__ = ["MSTDP", "MSTDPET", "MSTDPParams", "MSTDPState", "MSTDPETParams", "MSTDPETState", "ThreeFactor",
           "ThreeFactorParams", "ThreeFactorState", "mstdp_step", "mstdpet_step", "three_factor_step"]


class MSTDPParams(NamedTuple):
    tau_pre: float = 20e-3  # presynaptic trace [s]
    tau_post: float = 20e-3  # postsynaptic trace [s]
    a_plus: float = 1.0  # potentiation amplitude of the eligibility
    a_minus: float = 1.0  # depression amplitude of the eligibility
    eta: float = 1.0  # learning rate gamma
    w_min: float = 0.0  # bounds for the weight dependence
    w_max: float = 1.0
    mu: float = 1.0


class MSTDPState(NamedTuple):
    x: Tensor  # presynaptic trace [B, N_in]
    y: Tensor  # postsynaptic trace [B, N_out]
    zeta: Tensor  # eligibility of the previous step, per sample [B, N_out, N_in]


def _zeta(pre: Tensor, post: Tensor, x: Tensor, y: Tensor, w: Tensor, p: Any, wdep: Callable[..., Any],
          reduce: str) -> Tensor:
    """STDP eligibility ``a+ A+(w) (post ⊗ x) - a- A-(w) (y ⊗ pre)`` (per sample for ``reduce="none"``)."""
    a_plus, a_minus = wdep(w, p.w_min, p.w_max, p.mu)
    ltp, ltd = pair_terms(pre, post, x, y, reduce)
    return p.a_plus * a_plus * ltp - p.a_minus * a_minus * ltd


def mstdp_step(pre: Tensor, post: Tensor, state: MSTDPState, w: Tensor, p: MSTDPParams, *, modulator: Any,
               dt: float = 1e-3, weight_dependence: Callable[..., Any] = _additive) -> tuple[Tensor, MSTDPState]:
    r"""One step of reward-modulated STDP (Florian 2007), per-sample reward.

    .. math::
        x' = e^{-dt/\tau_{pre}}x + s_{pre},\quad y' = e^{-dt/\tau_{post}}y + s_{post},\quad
        \zeta_b = a_+A_+(W)(s_{post}\otimes x') - a_-A_-(W)(y'\otimes s_{pre})

        \Delta W = \eta \sum_b r_b\,\zeta_b^{(t-1)}

    The reward of this step multiplies the eligibility of the previous step (as SpikingJelly's
    ``MSTDPLearner`` does). ``modulator``: scalar or ``[B]``.

    Example:
        >>> s = MSTDPState(torch.zeros(1, 3), torch.zeros(1, 2), torch.zeros(1, 2, 3))
        >>> dw, s = mstdp_step(torch.ones(1, 3), torch.ones(1, 2), s, torch.zeros(2, 3), MSTDPParams(), modulator=1.0)
    """
    x, y = pair_traces(pre, post, state.x, state.y, p.tau_pre, p.tau_post, dt)
    zeta = _zeta(pre, post, x, y, w, p, weight_dependence, "none")  # [B, O, I]
    r = _reward(modulator, pre.shape[0], w, per_sample=True)
    dw = p.eta * (r.reshape(-1, 1, 1) * state.zeta).sum(0)  # [O, I]
    return dw, MSTDPState(x=x, y=y, zeta=zeta)


class MSTDPETParams(NamedTuple):
    tau_pre: float = 20e-3  # presynaptic trace [s]
    tau_post: float = 20e-3  # postsynaptic trace [s]
    tau_z: float = 25e-3  # eligibility trace [s]
    a_plus: float = 1.0
    a_minus: float = 1.0
    eta: float = 1.0  # learning rate gamma
    w_min: float = 0.0
    w_max: float = 1.0
    mu: float = 1.0


class MSTDPETState(NamedTuple):
    x: Tensor  # presynaptic trace [B, N_in]
    y: Tensor  # postsynaptic trace [B, N_out]
    zeta: Tensor  # eligibility of the previous step (batch-summed) [N_out, N_in]
    z: Tensor  # eligibility trace [N_out, N_in]


def mstdpet_step(pre: Tensor, post: Tensor, state: MSTDPETState, w: Tensor, p: MSTDPETParams, *, modulator: Any,
                 dt: float = 1e-3, weight_dependence: Callable[..., Any] = _additive
                 ) -> tuple[Tensor, MSTDPETState]:
    r"""One step of MSTDP with an eligibility trace (Florian 2007, MSTDP-ET), scalar reward.

    .. math::
        z' = e^{-dt/\tau_z} z + \frac{dt}{\tau_z}\,\zeta^{(t-1)},\qquad \Delta W = \eta\,r\,z'

    (Florian's :math:`\dot z = -z/\tau_z + \zeta/\tau_z`, :math:`\dot w = \gamma r z`, per step of ``dt``;
    with ``dt`` = one step and time constants in steps this is SpikingJelly's ``MSTDPETLearner``.)

    Example:
        >>> s = MSTDPETState(torch.zeros(1, 3), torch.zeros(1, 2), torch.zeros(2, 3), torch.zeros(2, 3))
        >>> dw, s = mstdpet_step(torch.ones(1, 3), torch.ones(1, 2), s, torch.zeros(2, 3), MSTDPETParams(),
        ...                      modulator=1.0)
    """
    x, y = pair_traces(pre, post, state.x, state.y, p.tau_pre, p.tau_post, dt)
    zeta = _zeta(pre, post, x, y, w, p, weight_dependence, "sum")  # [O, I]
    z = decay_factor(p.tau_z, dt) * state.z + (dt / p.tau_z) * state.zeta
    r = _reward(modulator, pre.shape[0], w, per_sample=False)
    return p.eta * r * z, MSTDPETState(x=x, y=y, zeta=zeta, z=z)


class ThreeFactorParams(NamedTuple):
    tau_pre: float = 20e-3  # STDP presynaptic trace [s]
    tau_post: float = 20e-3  # STDP postsynaptic trace [s]
    a_plus: float = 0.1  # STDP potentiation increment of the eligibility (Izhikevich 2007: 0.1)
    a_minus: float = 0.15  # STDP depression increment (Izhikevich 2007: 1.5 x a_plus)
    tau_e: float = 1.0  # eligibility time constant tau_c [s]
    tau_d: float = 0.2  # dopamine time constant [s]
    eta: float = 1.0  # learning rate
    baseline: float = 0.0  # modulator baseline (tonic dopamine enters with a negative baseline)
    w_min: float = 0.0
    w_max: float = 1.0
    mu: float = 1.0


class ThreeFactorState(NamedTuple):
    x: Tensor  # presynaptic trace [B, N_in]
    y: Tensor  # postsynaptic trace [B, N_out]
    e: Tensor  # eligibility per synapse [N_out, N_in]
    d: Tensor  # dopamine level (scalar tensor)


def three_factor_step(pre: Tensor, post: Tensor, state: ThreeFactorState, w: Tensor, p: ThreeFactorParams, *,
                      modulator: Any, dt: float = 1e-3, weight_dependence: Callable[..., Any] = _additive
                      ) -> tuple[Tensor, ThreeFactorState]:
    r"""One step of the general three-factor rule with eligibility and dopamine traces.

    .. math::
        e' = e^{-dt/\tau_e} e + \zeta,\qquad d' = e^{-dt/\tau_d} d + R,\qquad
        \Delta W = \eta\,(d' - b)\,e'\,dt

    with :math:`\zeta` the batch-summed pair-STDP increment (:func:`~.stdp.stdp_step`'s convention,
    amplitudes ``a_plus``/``a_minus``) and ``modulator`` the reward :math:`R` delivered this step
    (scalar). Continuous limit (:math:`\dot e = -e/\tau_e + \zeta\delta`, :math:`\dot d = -d/\tau_d +
    R\delta`, :math:`\dot w = \eta (d - b) e`): an eligibility :math:`c_0` at :math:`t_0` and a reward
    :math:`D` at :math:`t_0 + \Delta` give :math:`\Delta w = \eta c_0 D e^{-\Delta/\tau_e}
    \tau_e\tau_d/(\tau_e + \tau_d)`. Zero reward and zero baseline give zero change for any spikes.

    Example:
        >>> s = ThreeFactorState(torch.zeros(1, 3), torch.zeros(1, 2), torch.zeros(2, 3), torch.tensor(0.))
        >>> dw, s = three_factor_step(torch.ones(1, 3), torch.ones(1, 2), s, torch.zeros(2, 3),
        ...                           ThreeFactorParams(), modulator=0.5)
    """
    x, y = pair_traces(pre, post, state.x, state.y, p.tau_pre, p.tau_post, dt)
    zeta = _zeta(pre, post, x, y, w, p, weight_dependence, "sum")  # [O, I]
    e = decay_factor(p.tau_e, dt) * state.e + zeta
    d = decay_factor(p.tau_d, dt) * state.d + _reward(modulator, pre.shape[0], w, per_sample=False)
    return p.eta * (d - p.baseline) * e * dt, ThreeFactorState(x=x, y=y, e=e, d=d)


def _reward(modulator: Any, batch: int, w: Tensor, *, per_sample: bool) -> Tensor:
    r = torch.as_tensor(modulator, dtype=w.dtype, device=w.device).detach()
    if r.dim() == 0:
        return r.expand(batch) if per_sample else r
    if per_sample and r.shape == (batch,):
        return r
    want = f"a scalar or shape [{batch}]" if per_sample else "a scalar"
    raise ValueError(f"the modulator (reward) must be {want}, got shape {tuple(r.shape)}")


class _ModulatedRule(Rule):
    uses_modulator = True
    positive: ClassVar[tuple[str, ...]] = ("tau_pre", "tau_post")

    def __init__(self, *, dt: float = 1e-3, weight_dependence: str | Callable[..., Any] = "additive",
                 **params: Any) -> None:
        super().__init__(dt=dt, **params)
        self.weight_dependence = resolve_weight_dependence(weight_dependence)

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt, "weight_dependence": self.weight_dependence}


@PLASTICITY.register("mstdp", family="three_factor")
class MSTDP(_ModulatedRule):
    """Reward-modulated STDP (Florian 2007); dynamics in :func:`mstdp_step`.

    Example:
        >>> rule = MSTDP(tau_pre=20e-3, tau_post=20e-3)
        >>> dw, s = rule.step(torch.ones(2, 3), torch.ones(2, 2), None, torch.rand(2, 3), modulator=1.0)
    """

    params_cls = MSTDPParams
    state_cls = MSTDPState
    step_fn = staticmethod(mstdp_step)

    def init_state(self, pre: Tensor, post: Tensor, w: Tensor) -> MSTDPState:
        return MSTDPState(x=zeros(pre), y=zeros(post), zeta=w.new_zeros(pre.shape[0], *w.shape))


@PLASTICITY.register("mstdpet", family="three_factor")
class MSTDPET(_ModulatedRule):
    """Reward-modulated STDP with an eligibility trace; dynamics in :func:`mstdpet_step`.

    Example:
        >>> rule = MSTDPET(tau_z=25e-3)
        >>> dw, s = rule.step(torch.ones(1, 3), torch.ones(1, 2), None, torch.rand(2, 3), modulator=0.5)
    """

    params_cls = MSTDPETParams
    state_cls = MSTDPETState
    step_fn = staticmethod(mstdpet_step)
    positive = ("tau_pre", "tau_post", "tau_z")

    def init_state(self, pre: Tensor, post: Tensor, w: Tensor) -> MSTDPETState:
        return MSTDPETState(x=zeros(pre), y=zeros(post), zeta=torch.zeros_like(w), z=torch.zeros_like(w))


@PLASTICITY.register("three_factor", family="three_factor")
class ThreeFactor(_ModulatedRule):
    """General three-factor rule (eligibility x dopamine); dynamics in :func:`three_factor_step`.

    Example:
        >>> rule = ThreeFactor(tau_e=1.0, tau_d=0.2)
        >>> dw, s = rule.step(torch.ones(1, 3), torch.ones(1, 2), None, torch.rand(2, 3), modulator=0.0)
        >>> float(dw.abs().sum())
        0.0
    """

    params_cls = ThreeFactorParams
    state_cls = ThreeFactorState
    step_fn = staticmethod(three_factor_step)
    positive = ("tau_pre", "tau_post", "tau_e", "tau_d")

    def init_state(self, pre: Tensor, post: Tensor, w: Tensor) -> ThreeFactorState:
        return ThreeFactorState(x=zeros(pre), y=zeros(post), e=torch.zeros_like(w), d=w.new_zeros(()))
