"""Bad input, over every registered neuron, surrogate and encoder: each gets a clear error naming
the problem (T = 0, a state of the wrong shape, NaN/inf input, a bad size, a non-finite or
non-positive parameter) instead of a crash deep inside torch or a silent NaN."""

from __future__ import annotations

import dataclasses
import inspect
import math

import pytest
import torch

import spikeforge as sf
from spikeforge.encoders import ENCODERS
from spikeforge.neurons import NEURONS
from spikeforge.numerics import NonFiniteError, allow_nonfinite
from spikeforge.surrogate import SURROGATES

T, B, N = 8, 2, 3
NEURON_NAMES = NEURONS.names()
BAD_VALUES = [float("nan"), float("inf"), -float("inf")]


def _neuron(name: str, **kw):
    return NEURONS.create(name, backend="torch", **kw)


def _xs(name: str, gen: torch.Generator) -> torch.Tensor:
    scale = 15.0 if name == "izhikevich" else 3.0
    return torch.rand(T, B, N, generator=gen) * scale  # [T, B, N]


# --- neurons ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NEURON_NAMES)
def test_neuron_empty_sequence(name):
    with pytest.raises(ValueError, match=r"empty sequence \(T = 0"):
        _neuron(name).run(torch.rand(0, B, N))
    with pytest.raises(ValueError, match=r"T = 0"):
        _neuron(name)(torch.rand(0, B, N))


@pytest.mark.parametrize("name", NEURON_NAMES)
def test_neuron_state_of_wrong_shape(name, gen):
    neuron = _neuron(name)
    xs = _xs(name, gen)
    other = neuron.init_state(torch.zeros(B + 1, N))  # a state for batch B + 1
    field = neuron.state_cls._fields[0]
    with pytest.raises(ValueError, match=rf"{type(neuron).__name__}: state field {field} has shape \(3, 3\)"):
        neuron.run(xs, other)
    with pytest.raises(ValueError, match=f"state field {field} has shape"):
        neuron.step(xs[0], other)
    broadcastable = neuron.init_state(torch.zeros(1, N))  # [1, N] used to broadcast silently
    with pytest.raises(ValueError, match=f"state field {field} has shape"):
        neuron.run(xs, broadcastable)
    with pytest.raises(ValueError, match="fields"):
        neuron.run(xs, (*neuron.init_state(xs[0]), xs[0]))  # one field too many


@pytest.mark.parametrize("name", NEURON_NAMES)
@pytest.mark.parametrize("bad", BAD_VALUES)
def test_neuron_nonfinite_input_names_module_step_and_index(name, bad, gen):
    neuron = _neuron(name)
    xs = _xs(name, gen)
    xs[5, 1, 2] = bad
    cls = type(neuron).__name__
    with pytest.raises(NonFiniteError, match=rf"^{cls}: non-finite input \({bad}\) at time step 5, index \(1, 2\)"):
        neuron.run(xs)
    with pytest.raises(NonFiniteError, match=rf"^{cls}: non-finite input \({bad}\) at index \(1, 2\)"):
        neuron.step(xs[5])


@pytest.mark.parametrize("name", NEURON_NAMES)
def test_neuron_nonfinite_state_is_named(name, gen):
    neuron = _neuron(name)
    xs = _xs(name, gen)
    s = neuron.init_state(xs[0])
    field = s._fields[-1]
    poisoned = s._replace(**{field: getattr(s, field).clone().index_put_((torch.tensor(1), torch.tensor(0)),
                                                                           torch.tensor(math.nan))})
    cls = type(neuron).__name__
    with pytest.raises(NonFiniteError, match=rf"^{cls}: non-finite initial state {field} \(nan\) at index \(1, 0\)"):
        neuron.run(xs, poisoned)
    with pytest.raises(NonFiniteError, match=rf"^{cls}: non-finite state {field} \(nan\) at index \(1, 0\)"):
        neuron.step(xs[0], poisoned)


@pytest.mark.parametrize("name", NEURON_NAMES)
def test_neuron_opt_out_gives_raw_ieee_results(name, gen):
    """With the check off, NaN propagates as IEEE arithmetic says: only the poisoned neuron is
    affected (every other output equals the clean run's) and its state holds the NaN."""
    neuron = _neuron(name)
    xs = _xs(name, gen)
    clean_zs, clean_s = neuron.run(xs)
    xs[3, 1, 2] = math.nan
    with allow_nonfinite():
        zs, s = neuron.run(xs)
        z1, _ = neuron.step(xs[3])
    others = torch.ones_like(zs, dtype=torch.bool)
    others[:, 1, 2] = False
    if not getattr(neuron, "elementwise", True):  # coupled neurons (UltraDLIF's ring): the NaN stays in sample 1
        others[3:, 1] = False
    assert torch.equal(zs[others], clean_zs[others])
    assert torch.equal(zs[:3], clean_zs[:3])
    assert any(bool(torch.isnan(v[1, 2])) for v in s)  # the NaN is in the state, as IEEE gives it
    if getattr(neuron, "dense_output", False):  # a sigmoid spike (UltraLIF) passes the NaN on, for ever
        assert torch.isnan(zs[3:, 1, 2]).all()
    elif neuron.spiking:
        assert zs[3:, 1, 2].sum() == 0  # H(NaN) = 0: silenced for ever (why the default raises)
    assert torch.isnan(z1[1, 2]) or z1[1, 2] == 0


class _Unstable:
    """Wraps a step function so the new state turns infinite where the input equals 7.0 (a finite
    input): stands in for unstable dynamics, to check the first bad step is located."""

    def __init__(self, step_fn):
        self.step_fn = step_fn

    def __call__(self, x, state, p, **kw):
        z, s = self.step_fn(x, state, p, **kw)
        first = s._fields[0]
        return z, s._replace(**{first: torch.where(x == 7.0, math.inf, getattr(s, first))})


@pytest.mark.parametrize("name", NEURON_NAMES)
def test_neuron_state_turning_nonfinite_is_located(name, gen):
    cls = NEURONS.get(name)
    unstable = type(f"Unstable{cls.__name__}", (cls,), {"step_fn": staticmethod(_Unstable(cls.step_fn))})
    neuron = unstable(backend="torch")
    xs = _xs(name, gen)
    xs[6, 0, 1] = 7.0
    field = cls.state_cls._fields[0]
    with pytest.raises(NonFiniteError, match=rf"non-finite state {field} .*\(inf\) at time step 6, index \(0, 1\)"):
        neuron.run(xs)
    with pytest.raises(NonFiniteError, match=rf"non-finite state {field} after the step .*\(inf\) at index \(0, 1\)"):
        neuron.step(xs[6])


@pytest.mark.parametrize("name", NEURON_NAMES)
@pytest.mark.parametrize("size, error", [(-3, ValueError), (0, ValueError), ((4, -1), ValueError),
                                         (2.5, TypeError), (True, TypeError)])
def test_neuron_bad_size(name, size, error):
    with pytest.raises(error, match="size must be"):
        _neuron(name, size=size)


@pytest.mark.parametrize("name", NEURON_NAMES)
@pytest.mark.parametrize("bad", BAD_VALUES)
def test_neuron_nonfinite_parameter(name, bad):
    for field in NEURONS.get(name).params_cls._fields:
        with pytest.raises(ValueError, match=field):
            _neuron(name, **{field: bad})


# --- surrogates -------------------------------------------------------------------------------
def _numeric_fields(name: str) -> list[str]:
    return [f.name for f in dataclasses.fields(SURROGATES.get(name)) if f.type in ("float", "int", float, int)]


SURROGATE_PARAMS = [(n, f) for n in SURROGATES.names() for f in _numeric_fields(n)]


def test_every_parametrised_surrogate_is_covered():
    assert {n for n, _ in SURROGATE_PARAMS} == {n for n in SURROGATES.names() if dataclasses.fields(SURROGATES.get(n))
                                                and n != "custom"}


@pytest.mark.parametrize("name, field", SURROGATE_PARAMS)
@pytest.mark.parametrize("bad", [*BAD_VALUES, 0.0, -1.0])
def test_surrogate_parameter_must_be_finite_and_positive(name, field, bad):
    with pytest.raises(ValueError, match=rf"{SURROGATES.get(name).__name__}\.{field} must be finite and > 0"):
        SURROGATES.create(name, **{field: bad})


@pytest.mark.parametrize("name, field", SURROGATE_PARAMS)
def test_surrogate_parameter_must_be_a_number(name, field):
    with pytest.raises(TypeError, match=f"{field} must be a number"):
        SURROGATES.create(name, **{field: "2"})
    sg = SURROGATES.create(name, **{field: 3})  # ints are fine
    assert torch.isfinite(sg.grad(torch.linspace(-2, 2, 9))).all()


# --- encoders ---------------------------------------------------------------------------------
def _signal(name: str) -> bool:
    return ENCODERS.meta(name).get("input") == "signal"


def _enc_input(name: str, gen: torch.Generator) -> torch.Tensor:
    if _signal(name):
        return torch.rand(T, B, N, generator=gen).cumsum(0)  # [T, B, C] signal
    return torch.rand(B, N, generator=gen)  # [B, F] intensities


@pytest.mark.parametrize("name", ENCODERS.names())
@pytest.mark.parametrize("bad", BAD_VALUES)
def test_encoder_nonfinite_input(name, bad, gen):
    enc = ENCODERS.create(name, steps=T)
    x = _enc_input(name, gen)
    if _signal(name):
        x[4, 1, 2] = bad
        where = r"at time step 4, index \(1, 2\)"
    else:
        x[1, 2] = bad
        where = r"at index \(1, 2\)"
    with pytest.raises(NonFiniteError, match=rf"non-finite input \({bad}\) {where}"):
        enc(x)


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_opt_out_passes_nan_through(name, gen):
    """With the check off, NaN is IEEE's: no spike for a probability or intensity of NaN, the NaN
    itself for an analogue output; every other element is encoded as without the NaN."""
    enc = ENCODERS.create(name, steps=T)
    x = _enc_input(name, gen)
    poisoned = x.clone()
    poisoned[(4, 1, 2) if _signal(name) else (1, 2)] = math.nan
    kw = (lambda: {"generator": torch.Generator().manual_seed(5)}) if name in ("bernoulli", "poisson") else dict
    clean = enc(x, **kw())
    with allow_nonfinite():
        out = enc(poisoned, **kw())
    assert out.shape == clean.shape
    hit = torch.zeros_like(out, dtype=torch.bool)  # outputs that belong to the poisoned element
    hit[:, 1, 2] = True
    if _signal(name) and out.shape[2] == 2 * x.shape[2]:  # ON/OFF channels (delta)
        hit[:, 1, 2 + N] = True  # its OFF channel
    if name == "direct":
        assert torch.isnan(out[hit]).all()
    else:
        assert out[hit].sum() == 0 if not _signal(name) else not torch.isnan(out).any()
    if name != "poisson":  # Poisson sampling may draw a different number of randoms for another rate
        assert torch.equal(out[~hit], clean[~hit])


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_empty_time(name, gen):
    for steps in (0, -3):
        with pytest.raises(ValueError, match="steps must be a positive int"):
            ENCODERS.create(name, steps=steps)
    if _signal(name):
        with pytest.raises(ValueError, match=r"T = 0"):
            ENCODERS.create(name)(torch.rand(0, B, N))


def _float_params(name: str) -> list[str]:
    sig = inspect.signature(ENCODERS.get(name).__init__)
    return [p.name for p in sig.parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.annotation in ("float", "float | None")]


@pytest.mark.parametrize("name", ENCODERS.names())
@pytest.mark.parametrize("bad", BAD_VALUES)
def test_encoder_nonfinite_parameter(name, bad):
    for param in _float_params(name):
        with pytest.raises(ValueError, match=param):
            ENCODERS.create(name, steps=T, **{param: bad})


def test_encoder_parameters_found():
    """The parameter test above really has parameters to try."""
    assert {"threshold"} <= set(_float_params("latency")) and "sigma" in _float_params("population")


def test_top_level_exports():
    assert sf.NonFiniteError is NonFiniteError and issubclass(NonFiniteError, (ValueError, FloatingPointError))
    assert sf.allow_nonfinite is allow_nonfinite and callable(sf.set_check_finite)
