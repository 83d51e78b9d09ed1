"""Base class shared by every neuron module.

A neuron module is thin: it registers the fields of its ``Params`` NamedTuple as buffers (or as
``nn.Parameter`` when named in ``learn=``), builds the resting state, and runs the pure
``<name>_step`` function over time. The math lives only in the step function.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, TypeVar

import torch
from torch import Tensor, nn

from ..kernels import run_fused
from ..numerics import check_finite, check_finite_enabled, first_nonfinite, raise_nonfinite
from ..surrogate import Surrogate, get_surrogate
from ..types import Quantizer, ResetFn
from ._dynamics import check_discretisation, decay_to_physical, project_learnable_
from ._reset import get_reset

__all__ = ["NEURONS", "Neuron", "check_sequence", "check_size", "check_step_input", "tau_from_decay"]

P = TypeVar("P", bound=NamedTuple)
S = TypeVar("S", bound=NamedTuple)


def check_sequence(xs: Tensor, who: str | None = None) -> Tensor:
    """Validate a time-major input ``[T, B, ...]`` with at least one step and return it.

    ``who`` (a module name) prefixes the error messages.
    """
    pre = f"{who}: " if who else ""
    if not isinstance(xs, Tensor):
        raise TypeError(f"{pre}expected a torch.Tensor of shape [T, B, ...], got {type(xs).__name__}")
    if xs.dim() < 2:
        raise ValueError(
            f"{pre}expected time-major input of shape [T, B, ...] (at least 2 dims), got shape {tuple(xs.shape)}"
        )
    if xs.shape[0] == 0:
        raise ValueError(f"{pre}got an empty sequence (T = 0 time steps, shape {tuple(xs.shape)}); "
                         "a time-major input [T, B, ...] needs T >= 1")
    if not xs.is_floating_point():
        raise TypeError(f"{pre}expected a floating-point input, got dtype {xs.dtype}; cast with xs.float()")
    return xs


def check_step_input(x: Tensor, who: str | None = None) -> Tensor:
    """Validate a single-step input ``[B, ...]`` and return it (``who`` prefixes the errors)."""
    pre = f"{who}: " if who else ""
    if not isinstance(x, Tensor):
        raise TypeError(f"{pre}expected a torch.Tensor of shape [B, ...], got {type(x).__name__}")
    if x.dim() < 1:
        raise ValueError(f"{pre}expected a single-step input of shape [B, ...], got a 0-d tensor")
    if not x.is_floating_point():
        raise TypeError(f"{pre}expected a floating-point input, got dtype {x.dtype}; cast with x.float()")
    return x


def check_size(size: Any, who: str) -> tuple[int, ...] | None:
    """``size`` (``None``, an int or a sequence of ints, each >= 1) as a shape tuple."""
    if size is None:
        return None
    dims = (size,) if isinstance(size, int) else size
    if not isinstance(dims, (tuple, list, torch.Size)) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in dims):
        raise TypeError(f"{who}: size must be an int or a tuple of ints, got {size!r}")
    if not all(d >= 1 for d in dims):
        raise ValueError(f"{who}: size must be positive (every dim >= 1), got {size!r}")
    return tuple(dims)


def tau_from_decay(beta: float, dt: float) -> float:
    """Time constant whose forward-Euler decay per step of ``dt`` is ``beta``: ``dt / (1 - beta)``."""
    beta = float(beta)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"decay beta must be in [0, 1), got {beta!r}")
    return float(dt) / (1.0 - beta)


class Neuron(nn.Module, Generic[P, S]):
    """A layer of neurons of one model, applied elementwise to ``[T, B, *]`` inputs.

    Subclasses set ``params_cls`` (a NamedTuple of parameters with defaults), ``state_cls`` and
    ``step_fn`` (the pure step function), and define :meth:`init_state`.

    Args:
        dt: Integration step in seconds (> 0).
        learn: Names of parameters to train (``nn.Parameter``); the rest are buffers.
        size: Per-neuron shape (e.g. ``128`` or ``(16, 8, 8)``); scalar parameters are expanded
            to it so each neuron has its own value. Tensors given as parameters are kept as-is.
        surrogate: Registry name or :class:`~spikeforge.surrogate.Surrogate` for the spike
            function's gradient.
        reset: ``"subtract"``, ``"value"`` (to ``v_reset``), ``"zero"`` or ``"none"``, or a
            reset function.
        detach_reset: Stop the gradient through the reset term.
        integrator: How time constants are discretised (:mod:`._dynamics`): ``"euler"`` (forward
            Euler; requires ``dt <= tau``), ``"exp"`` (exact exponential integration, any
            ``tau > 0``) or ``"decay"`` (discrete time: stores the per-step decays and gains,
            see ``from_decay``); each model lists what it offers in ``integrators``.
        backend: ``"torch"`` (reference loop of the step function) or a fused backend that
            produces the same results; ``"auto"`` picks the fastest exact one available.
        state_quant: Rounds the membrane (the state field ``state_quant_field``, ``v``) to a level
            set (SQUAT, :class:`spikeforge.quant.StateQuant`); see :meth:`set_state_quant` for
            where in the step, and which models refuse one. Kept in ``state_dict``; runs on the
            torch backend.
        dtype, device: Factory kwargs for the parameter tensors.
        **params: Values for the fields of ``params_cls`` (float, or tensor per neuron); with
            ``integrator="decay"`` the fields of ``decay_params_cls``.
    """

    if TYPE_CHECKING:  # parameters and buffers are registered by name at run time
        def __getattr__(self, name: str) -> Any: ...

    params_cls: ClassVar[type[Any]]
    state_cls: ClassVar[type[Any]]
    step_fn: ClassVar[Callable[..., tuple[Tensor, Any]]]
    positive: ClassVar[tuple[str, ...]] = ()  # parameters that must be > 0
    spiking: ClassVar[bool] = True  # False for readouts whose output is the membrane
    time_constants: ClassVar[tuple[str, ...]] = ()  # parameters that are time constants [s]
    integrators: ClassVar[tuple[str, ...]] = ("euler",)  # discretisations the step function offers
    decay_params_cls: ClassVar[type[Any] | None] = None  # stored parameters with integrator="decay"
    state_quant_field: ClassVar[str | None] = "v"  # membrane field a state quantizer rounds (None: refused)
    no_state_quant: ClassVar[str] = ""  # why this model refuses a state quantizer (with state_quant_field None)

    def __init__(
        self,
        *,
        dt: float = 1e-3,
        learn: Iterable[str] = (),
        size: int | tuple[int, ...] | None = None,
        surrogate: str | Surrogate = "atan",
        reset: str | ResetFn = "subtract",
        detach_reset: bool = False,
        integrator: str = "euler",
        backend: str = "auto",
        state_quant: Quantizer | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        **params: Any,
    ) -> None:
        super().__init__()
        dt = float(dt)
        if not (dt > 0 and math.isfinite(dt)):
            raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
        self.dt = dt
        self.surrogate = get_surrogate(surrogate)
        self.reset_fn = get_reset(reset)
        self.reset_name = reset if isinstance(reset, str) else getattr(reset, "__name__", "custom")
        self.detach_reset = bool(detach_reset)
        self.backend = str(backend)
        if integrator not in self.integrators:
            raise ValueError(f"{type(self).__name__}: integrator must be one of {list(self.integrators)}, "
                             f"got {integrator!r}")
        self.integrator = integrator
        stored_cls = self._stored_cls()
        fields = stored_cls._fields
        unknown = sorted(set(params) - set(fields))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown parameter(s) {unknown}; valid: {list(fields)}"
            )
        learn = tuple(learn)
        bad = sorted(set(learn) - set(fields))
        if bad:
            raise ValueError(f"cannot learn {bad}: {type(self).__name__} parameters are {list(fields)}")
        self.learn = learn
        shape = check_size(size, type(self).__name__)
        factory = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        for name in fields:
            value = params.get(name, stored_cls._field_defaults[name])
            self._register(name, self._to_tensor(name, value, shape, factory), name in learn)
        self.validate()
        self.state_quant: Quantizer | None = None
        self.set_state_quant(state_quant)

    # --- parameters -------------------------------------------------------------------------
    @staticmethod
    def _to_tensor(name: str, value: Any, shape: tuple[int, ...] | None, factory: dict) -> Tensor:
        if isinstance(value, bool) or not isinstance(value, (int, float, Tensor)):
            raise TypeError(f"parameter {name} must be a number or a tensor, got {type(value).__name__}")
        t = torch.as_tensor(value.detach() if isinstance(value, Tensor) else value, **factory).clone()
        if shape is not None and t.dim() == 0:
            t = t.expand(shape).clone()
        return t

    def _register(self, name: str, t: Tensor, learnable: bool) -> None:
        if learnable:
            self.register_parameter(name, nn.Parameter(t))
        else:
            self.register_buffer(name, t)

    def validate(self) -> None:
        """Check parameter constraints; raises ``ValueError`` naming the offending parameter."""
        check_discretisation(self)  # decays in [0, 1); forward Euler needs dt <= tau
        p = self.params()
        for name in self.positive:
            value = getattr(p, name)
            if not bool(torch.all(torch.as_tensor(value) > 0)):
                raise ValueError(f"{type(self).__name__}: {name} must be > 0, got {_show(value)}")
        for name in p._fields:
            if not bool(torch.all(torch.isfinite(torch.as_tensor(getattr(p, name))))):
                raise ValueError(f"{type(self).__name__}: {name} must be finite, got {_show(getattr(p, name))}")
        if "v_th" in p._fields and "v_reset" in p._fields and self.spiking:
            pa: Any = p  # models with a reset value have v_th and v_reset fields
            if not bool(torch.all(torch.as_tensor(pa.v_th) > torch.as_tensor(pa.v_reset))):
                raise ValueError(
                    f"{type(self).__name__}: threshold v_th must be > reset value v_reset, "
                    f"got v_th={_show(pa.v_th)}, v_reset={_show(pa.v_reset)}"
                )

    def _stored_cls(self) -> Any:
        return self.decay_params_cls if self.integrator == "decay" else self.params_cls

    def stored_params(self) -> Any:
        """The parameters as stored and as the step function takes them: ``params()``, except
        with ``integrator="decay"`` (then a ``decay_params_cls`` of per-step decays and gains)."""
        cls = self._stored_cls()
        # straight from the module's parameter/buffer dicts (a registered name is never shadowed by an
        # attribute): nn.Module.__getattr__ is the slow path and runs on every forward (issue 17)
        q, b = self._parameters, self._buffers
        return cls(*[q[n] if n in q else b[n] if n in b else getattr(self, n) for n in cls._fields])

    def params(self) -> P:
        """The current parameters as a ``Params`` NamedTuple of tensors (time constants in seconds,
        also with ``integrator="decay"``: the equivalent ``tau = dt / (1 - decay)``)."""
        if self.integrator == "decay":
            return decay_to_physical(self.stored_params(), self.params_cls, self.dt)
        return self.stored_params()

    def _params_for(self, x: Tensor) -> P:
        if self._parameters:  # learnable time constants back into their stable range (buffers: none)
            project_learnable_(self)
        p = self.stored_params()
        for name, value in zip(p._fields, p):
            if value.dim() and not _broadcasts_to(value.shape, x.shape[1:]):
                raise ValueError(
                    f"{type(self).__name__}: per-neuron parameter {name} of shape {tuple(value.shape)} "
                    f"does not broadcast to the neuron shape {tuple(x.shape[1:])} of input {tuple(x.shape)}"
                )
        dtype, device = x.dtype, x.device
        if any(v.dtype != dtype or v.device != device for v in p):
            p = type(p)(*(v.to(dtype=dtype, device=device) for v in p))
        return p

    # --- state quantization -------------------------------------------------------------------
    @classmethod
    def accepts_state_quant(cls) -> bool:
        """Whether the step function itself takes a ``state_quant`` argument (it then rounds the
        membrane between the update and the spike test, SQUAT's placement)."""
        return "state_quant" in inspect.signature(cls.step_fn).parameters

    @classmethod
    def state_quant_refusal(cls) -> str | None:
        """``None`` if this model takes a state quantizer, else the reason it does not."""
        field = cls.state_quant_field
        if field is None:
            return cls.no_state_quant or "it declares no membrane state to quantize"
        if field not in cls.state_cls._fields:
            return f"its state {cls.state_cls.__name__}{cls.state_cls._fields} has no field {field!r}"
        if not cls.spiking:
            return ("it is a non-spiking readout: there is no threshold to build the levels around, and its "
                    "membrane is the network's output (quantize the output instead)")
        return None

    def set_state_quant(self, state_quant: Quantizer | None) -> None:
        """Quantize the membrane with ``state_quant`` at every step (``None``: float state).

        Where in the step: a model whose step function takes ``state_quant`` (LIF, PLIF, IF, the
        meta neuron) rounds the updated membrane before the spike test (SQUAT; snnTorch's
        placement); for every other spiking model the base class rounds the membrane field
        ``state_quant_field`` of the state the step returns (after the reset), so the stored
        membrane is always one of the levels and the next update starts from a level. Non-spiking
        readouts and models whose membrane is a biophysical voltage (HH, Izhikevich) refuse one.

        A quantizer that carries a ``v_th`` (its levels are built around it) must match this
        neuron's fixed threshold. A quantizer with ``levels`` is saved in ``state_dict`` (keys
        ``state_quant_levels``, ``state_quant_v_th``) and restored by ``load_state_dict``.
        """
        who = type(self).__name__
        if state_quant is not None:
            why = self.state_quant_refusal()
            if why is not None:
                raise ValueError(f"{who} does not take a state quantizer: {why}")
            if not callable(state_quant):
                raise TypeError(f"{who}: state_quant must be callable (tensor -> tensor), "
                                f"got {type(state_quant).__name__}")
            th = getattr(state_quant, "v_th", None)
            if th is not None and "v_th" in self._stored_cls()._fields:
                if "v_th" in self.learn:
                    raise ValueError(f"{who}: a learnable v_th moves away from the fixed levels of {state_quant!r}")
                if not bool(torch.all(self.v_th == th)):
                    raise ValueError(f"{who}: state quantizer built for v_th={th:g}, but the neuron has "
                                     f"v_th={_show(self.v_th)}; build the levels for this threshold")
        self.state_quant = state_quant

    def _stepper(self) -> Callable[[Tensor, Any, Any], tuple[Tensor, Any]]:
        """``(x, state, p) -> (z, state)``: the step function with its keyword arguments and, for a
        model whose step function takes none, the state quantizer applied to the returned membrane."""
        step_fn, kwargs, q = type(self).step_fn, self.step_kwargs(), self.state_quant
        if q is None or self.accepts_state_quant():
            return lambda x, state, p: step_fn(x, state, p, **kwargs)
        field = str(self.state_quant_field)  # set_state_quant checked that the model has this field

        def quantized_step(x: Tensor, state: Any, p: Any) -> tuple[Tensor, Any]:
            z, new = step_fn(x, state, p, **kwargs)
            return z, new._replace(**{field: q(getattr(new, field))})

        return quantized_step

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        levels = getattr(self.state_quant, "levels", None)
        if levels is not None:  # a level-set quantizer (StateQuant): saved as two float64 tensors
            destination[prefix + "state_quant_levels"] = torch.tensor(tuple(levels), dtype=torch.float64)
            th = getattr(self.state_quant, "v_th", None)
            destination[prefix + "state_quant_v_th"] = torch.tensor(float("nan") if th is None else float(th),
                                                                    dtype=torch.float64)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, local_metadata: Any, strict: bool,
                              missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str]) -> None:
        # ours, not parameters: taken out so the parent does not report them unexpected (load_state_dict
        # hands every module the same private copy of the dict)
        levels = state_dict.pop(prefix + "state_quant_levels", None)
        th = state_dict.pop(prefix + "state_quant_v_th", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        if levels is None:  # a float checkpoint leaves the quantizer configured on this module alone
            return
        from ..quant.state_quant import StateQuant  # quant sits above neurons; imported only when loading one

        th_f = float(th) if th is not None else 1.0
        sq = StateQuant(tuple(float(v) for v in levels.tolist()), 1.0 if math.isnan(th_f) else th_f, "loaded")
        try:
            self.set_state_quant(sq)
        except ValueError as e:
            error_msgs.append(f"{prefix}state_quant_levels: {e}")

    # --- dynamics -----------------------------------------------------------------------------
    def step_kwargs(self) -> dict[str, Any]:
        """Keyword arguments passed to ``step_fn`` besides ``(x, state, params)``."""
        kwargs = {"dt": self.dt, "surrogate": self.surrogate, "reset": self.reset_fn,
                  "detach_reset": self.detach_reset}
        if self.state_quant is not None and self.accepts_state_quant():  # else applied by _stepper
            kwargs["state_quant"] = self.state_quant
        return kwargs

    def init_state(self, x: Tensor) -> S:
        """Resting state for a single-step input ``x`` of shape ``[B, *]``."""
        raise NotImplementedError(f"{type(self).__name__} must define init_state(x)")

    def _start_state(self, x: Tensor) -> S:
        """The state ``run`` starts from when given none: :meth:`init_state` (a model may return a
        memoised resting state here, which unlike ``init_state``'s never reaches the caller)."""
        return self.init_state(x)

    def step(self, x: Tensor, state: S | None = None) -> tuple[Tensor, S]:
        """Advance one time step. ``x``: ``[B, *]``; returns ``(z [B, *], state)``.

        Raises :class:`~spikeforge.numerics.NonFiniteError` if ``x``, ``state`` or the new state
        holds NaN/inf (unless disabled, see :mod:`spikeforge.numerics`).
        """
        who = type(self).__name__
        check_step_input(x, who)
        p = self._params_for(x.unsqueeze(0))
        if state is None:
            state = self.init_state(x)
        else:
            self.check_state(state, x)
        checking = check_finite_enabled()
        if checking:
            check_finite(x, who, "input", time_major=False)
            self._check_state_finite(state, p)
        z, new = self._stepper()(x, state, p)
        if checking:
            self._check_state_finite(new, p, note=" after the step (input and state were finite)")
        return z, new

    def prepare_run(self, xs: Tensor, state: S | None) -> tuple[Any, S, dict[str, Any]]:
        """What a backend needs to run ``xs [T, B, *]`` from ``state``: the checked sequence's
        parameters, the (checked or initial) state, and the step's keyword arguments, with
        ``state_quant`` among them when set (the kernels quantize it or decline the call)."""
        check_sequence(xs, type(self).__name__)
        p = self._params_for(xs)
        if state is None:
            state = self._start_state(xs[0])
        else:
            self.check_state(state, xs[0])
        kwargs = self.step_kwargs()
        if self.state_quant is not None:
            kwargs["state_quant"] = self.state_quant
        return p, state, kwargs

    def run(self, xs: Tensor, state: S | None = None) -> tuple[Tensor, S]:
        """Run over a sequence. ``xs``: ``[T, B, *]``; returns ``(zs [T, B, *], final state)``.

        Passing the returned state back in continues the same sequence exactly. A NaN/inf in
        ``xs`` or in the state raises :class:`~spikeforge.numerics.NonFiniteError` naming the
        time step and index (unless disabled, see :mod:`spikeforge.numerics`).
        """
        p, state, kwargs = self.prepare_run(xs, state)
        # fused backend of the same step function (spikeforge.kernels); None: run the reference
        # (backend "torch", SPIKEFORGE_BACKEND=torch, or no kernel for this call)
        out = run_fused(self.backend, type(self).step_fn, xs, state, p, kwargs, where=type(self).__name__)
        if out is not None:  # the fused kernels detect non-finite values inside their own loop
            return out
        return self._run_torch(xs, state, p)

    def _run_torch(self, xs: Tensor, state: S, p: P) -> tuple[Tensor, S]:
        step = self._stepper()
        checking = check_finite_enabled()
        if checking:
            check_finite(xs, type(self).__name__, "input")
            self._check_state_finite(state, p, "initial state")
        state0, zs = state, []
        for x in xs:  # x: [B, *]
            z, state = step(x, state, p)
            zs.append(z)
        if checking and any(first_nonfinite(v) is not None for v in state):
            self._locate_nonfinite(xs, state0, p)
        return torch.stack(zs), state  # [T, B, *]

    # --- checks -------------------------------------------------------------------------------
    def check_state(self, state: Any, x: Tensor) -> None:
        """Raise ``ValueError``/``TypeError`` unless ``state`` is a state of this model for the
        single-step input ``x [B, *]``: a ``state_cls`` whose fields are tensors shaped like ``x``."""
        who, cls = type(self).__name__, self.state_cls
        if not isinstance(state, tuple) or (hasattr(state, "_fields") and not isinstance(state, cls)):
            raise TypeError(f"{who}: state must be a {cls.__name__}{cls._fields}, got {type(state).__name__}")
        if len(state) != len(cls._fields):
            raise ValueError(f"{who}: state must have the {len(cls._fields)} fields {cls._fields} of "
                             f"{cls.__name__}, got {len(state)}")
        for name, v in zip(cls._fields, state):
            if not isinstance(v, Tensor):
                raise TypeError(f"{who}: state field {name} must be a tensor, got {type(v).__name__}")
            if v.shape != x.shape:
                raise ValueError(f"{who}: state field {name} has shape {tuple(v.shape)}, but the input has "
                                 f"{tuple(x.shape)} per step ([B, *]); pass the state returned for an input "
                                 f"of this shape, or None to start from rest")
            if v.device != x.device:
                raise ValueError(f"{who}: state field {name} is on {v.device}, the input on {x.device}")

    def _check_state_finite(self, state: Any, p: P, label: str = "state", note: str = "") -> None:
        """Raise naming the field (or a non-finite parameter, the likelier cause) if ``state`` holds NaN/inf."""
        for name, v in zip(self.state_cls._fields, state):
            idx = first_nonfinite(v)
            if idx is not None:
                self._check_params_finite(p)
                raise_nonfinite(type(self).__name__, f"{label} {name}{note}", idx, float(v.detach()[idx]),
                                time_major=False)

    def _check_params_finite(self, p: P) -> None:
        for name, value in zip(p._fields, p):
            check_finite(value, type(self).__name__, f"parameter {name}", time_major=False)

    def _locate_nonfinite(self, xs: Tensor, state: Any, p: P) -> None:
        """Re-run from ``state`` (inputs known finite) to report the first step whose state is not finite."""
        self._check_params_finite(p)
        step = self._stepper()
        with torch.no_grad():
            for t, x in enumerate(xs):  # x: [B, *]
                _, state = step(x, state, p)
                for name, v in zip(self.state_cls._fields, state):
                    idx = first_nonfinite(v)
                    if idx is not None:
                        raise_nonfinite(type(self).__name__, f"state {name} (inputs and earlier states were finite)",
                                        (t, *idx), float(v[idx]))

    def forward(self, xs: Tensor) -> Tensor:
        """Run a whole sequence ``[T, B, *]`` from rest and return the outputs ``[T, B, *]``."""
        return self.run(xs)[0]

    def extra_repr(self) -> str:
        parts = [f"{n}={_show(getattr(self, n))}" for n in self._stored_cls()._fields]
        parts.append(f"dt={self.dt:g}")
        if self.integrator != "euler":
            parts.append(f"integrator={self.integrator!r}")
        if self.spiking:
            parts += [f"surrogate={self.surrogate!r}", f"reset={self.reset_name!r}"]
        if self.learn:
            parts.append(f"learn={self.learn}")
        if self.state_quant is not None:
            parts.append(f"state_quant={self.state_quant!r}")
        return ", ".join(parts)


def _broadcasts_to(shape: torch.Size, target: torch.Size) -> bool:
    try:
        return torch.broadcast_shapes(shape, target) == target
    except RuntimeError:
        return False


def _show(value: Any) -> str:
    t = torch.as_tensor(value).detach()
    if t.numel() == 1:
        return f"{t.item():g}"
    return f"tensor{tuple(t.shape)}[{t.min().item():g}..{t.max().item():g}]"


from .._registry import Registry  # noqa: E402

NEURONS: Registry[type[Neuron[Any, Any]]] = Registry("neuron")
"""Registry of neuron model classes (``NEURONS.create("lif", tau_mem=20e-3)``)."""
