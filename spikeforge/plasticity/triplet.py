"""Triplet STDP (Pfister & Gerstner 2006): pair terms plus triplet terms from slow traces."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor

from ._base import PLASTICITY, Rule, decay_factor, trace_update, zeros

__all__ = ["TRIPLET_SETS", "TripletSTDP", "TripletParams", "TripletState", "triplet_stdp_step"]


class TripletParams(NamedTuple):
    tau_plus: float = 16.8e-3  # fast presynaptic trace r1 [s]
    tau_minus: float = 33.7e-3  # fast postsynaptic trace o1 [s]
    tau_x: float = 101e-3  # slow presynaptic trace r2 [s]
    tau_y: float = 125e-3  # slow postsynaptic trace o2 [s]
    a2_plus: float = 5e-10  # pair potentiation
    a3_plus: float = 6.2e-3  # triplet potentiation (post-pre-post)
    a2_minus: float = 7e-3  # pair depression
    a3_minus: float = 2.3e-4  # triplet depression (pre-post-pre)


# Published parameter sets (Pfister & Gerstner 2006, Table 4 as reproduced by third-party codes; the
# reference tags the visual set [S], the hippocampal set [S] from one code: treat as unverified).
TRIPLET_SETS: dict[str, TripletParams] = {
    "visual_all_to_all": TripletParams(16.8e-3, 33.7e-3, 101e-3, 125e-3, 5e-10, 6.2e-3, 7e-3, 2.3e-4),
    "hippocampal_all_to_all": TripletParams(16.8e-3, 33.7e-3, 946e-3, 27e-3, 6.1e-3, 6.7e-3, 1.6e-3, 1.4e-3),
}


class TripletState(NamedTuple):
    r1: Tensor  # fast presynaptic trace [B, N_in]
    r2: Tensor  # slow presynaptic trace [B, N_in]
    o1: Tensor  # fast postsynaptic trace [B, N_out]
    o2: Tensor  # slow postsynaptic trace [B, N_out]


def triplet_stdp_step(
    pre: Tensor,
    post: Tensor,
    state: TripletState,
    w: Tensor,
    p: TripletParams,
    *,
    dt: float = 1e-3,
    nearest: bool = False,
) -> tuple[Tensor, TripletState]:
    r"""One step of triplet STDP (all-to-all, or nearest-spike with ``nearest``), exact trace decay.

    .. math::
        \Delta W = s_{post} \otimes r_1\,(A_2^+ + A_3^+ o_2^-) - (o_1 \otimes s_{pre})\,(A_2^- + A_3^- r_2^-)

    where :math:`r_2^-, o_2^-` are the slow traces decayed to this step but *before* this step's own
    spikes are added (a spike never pairs with itself), and the fast traces :math:`r_1, o_1` include
    this step's spikes (same-step pre and post both count, as in :func:`~.stdp.stdp_step`). Sums over
    the batch. Mean field for independent Poisson pre/post at rates :math:`\rho_x, \rho_y`:
    :math:`\dot w = \rho_x\rho_y(A_2^+\tau_+ - A_2^-\tau_-) + A_3^+\tau_+\tau_y\rho_x\rho_y^2
    - A_3^-\tau_-\tau_x\rho_x^2\rho_y`.

    Shapes:
        pre ``[B, N_in]``, post ``[B, N_out]``, w and dw ``[N_out, N_in]``.

    Example:
        >>> s = TripletState(*(torch.zeros(1, n) for n in (3, 3, 2, 2)))
        >>> dw, s = triplet_stdp_step(torch.ones(1, 3), torch.zeros(1, 2), s, torch.zeros(2, 3), TripletParams())
    """
    r2m = decay_factor(p.tau_x, dt) * state.r2  # slow traces before this step's own spikes
    o2m = decay_factor(p.tau_y, dt) * state.o2
    r1 = trace_update(state.r1, pre, decay_factor(p.tau_plus, dt), 1.0, nearest)
    o1 = trace_update(state.o1, post, decay_factor(p.tau_minus, dt), 1.0, nearest)
    ltp = (post * (p.a2_plus + p.a3_plus * o2m)).transpose(0, 1) @ r1  # [O, B] @ [B, I] -> [O, I]
    ltd = o1.transpose(0, 1) @ (pre * (p.a2_minus + p.a3_minus * r2m))  # [O, B] @ [B, I] -> [O, I]
    r2 = trace_update(r2m, pre, 1.0, 1.0, nearest)
    o2 = trace_update(o2m, post, 1.0, 1.0, nearest)
    return ltp - ltd, TripletState(r1=r1, r2=r2, o1=o1, o2=o2)


@PLASTICITY.register("triplet_stdp", family="stdp")
class TripletSTDP(Rule):
    """Triplet STDP; dynamics in :func:`triplet_stdp_step`.

    Args:
        dt: Time step [s].
        preset: a name in :data:`TRIPLET_SETS` (``"visual_all_to_all"`` — the default values —
            or ``"hippocampal_all_to_all"``); explicit parameters override it.
        traces: ``"all_to_all"`` or ``"nearest"``.

    Example:
        >>> rule = TripletSTDP(preset="hippocampal_all_to_all")
        >>> rule.params.tau_x
        0.946
    """

    params_cls = TripletParams
    state_cls = TripletState
    step_fn = staticmethod(triplet_stdp_step)
    positive = ("tau_plus", "tau_minus", "tau_x", "tau_y")

    def __init__(self, *, dt: float = 1e-3, preset: str | None = None, traces: str = "all_to_all",
                 **params: Any) -> None:
        if preset is not None:
            if preset not in TRIPLET_SETS:
                raise ValueError(f"TripletSTDP: unknown preset {preset!r}; valid: {sorted(TRIPLET_SETS)}")
            params = {**TRIPLET_SETS[preset]._asdict(), **params}
        super().__init__(dt=dt, **params)
        if traces not in ("all_to_all", "nearest"):
            raise ValueError(f"TripletSTDP: traces must be 'all_to_all' or 'nearest', got {traces!r}")
        self.nearest = traces == "nearest"

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt, "nearest": self.nearest}

    def init_state(self, pre: Tensor, post: Tensor, w: Tensor) -> TripletState:
        return TripletState(r1=zeros(pre), r2=zeros(pre), o1=zeros(post), o2=zeros(post))
