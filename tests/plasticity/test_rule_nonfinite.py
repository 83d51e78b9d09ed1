"""No silent NaN from a plasticity rule: over every registered rule, a NaN/inf in the presynaptic
input, the weight, the modulator or any trace of the state either leaves ``dw`` finite or raises
:class:`NonFiniteError` naming that input; the opt-out lets IEEE values through."""

from __future__ import annotations

import pytest
import torch

from spikeforge.numerics import NonFiniteError, allow_nonfinite
from spikeforge.plasticity import PLASTICITY, STDP

RULES = PLASTICITY.names()
# (rule, input) pairs: the modulator only for three-factor rules
INPUTS = [(name, what) for name in RULES
          for what in ("w", "pre", *(("modulator",) if PLASTICITY.get(name).uses_modulator else ()))]


def _inputs(rule, gen):
    pre = (torch.rand(2, 5, generator=gen) < 0.5).float()  # [B, N_in]
    post = (torch.rand(2, 3, generator=gen) < 0.5).float()  # [B, N_out]
    w = torch.rand(3, 5, generator=gen)  # [N_out, N_in]
    mod = torch.tensor(0.7) if rule.uses_modulator else None
    return pre, post, w, mod


def _step(rule, pre, post, state, w, mod):
    return rule.step(pre, post, state, w, mod) if mod is not None else rule.step(pre, post, state, w)


def _poisoned_states(rule, pre, post, w):
    """One state per float trace field, with a NaN at its first element (after a warm-up step so
    traces are not all zero)."""
    _, state = _step(rule, pre, post, None, w, torch.tensor(0.7) if rule.uses_modulator else None)
    for i, field in enumerate(state._fields):
        value = state[i]
        if isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel():
            bad = value.clone()
            bad.view(-1)[0] = float("nan")
            yield field, state._replace(**{field: bad})


@pytest.mark.parametrize("name", RULES)
def test_nan_trace_is_named_or_harmless(name):
    gen = torch.Generator().manual_seed(0)
    rule = PLASTICITY.create(name)
    pre, post, w, mod = _inputs(rule, gen)
    fields = list(_poisoned_states(rule, pre, post, w))
    if not fields:
        pytest.skip("a stateless rule (no trace to poison)")
    for field, state in fields:
        try:
            dw, _ = _step(rule, pre, post, state, w, mod)
        except NonFiniteError as err:
            assert f"non-finite state {field} (nan)" in str(err)
            continue
        assert torch.isfinite(dw).all(), f"{name}: NaN in state {field} gave a NaN dw without an error"
    with allow_nonfinite():
        for _, state in fields:
            _step(rule, pre, post, state, w, mod)  # passes through


@pytest.mark.parametrize(("name", "what"), INPUTS)
def test_nan_input_is_named_or_refused(name, what):
    gen = torch.Generator().manual_seed(1)
    rule = PLASTICITY.create(name)
    pre, post, w, mod = _inputs(rule, gen)
    if what == "modulator":
        mod = torch.tensor(float("inf"))
    elif what == "w":
        w[1, 2] = float("nan")
    else:
        pre[1, 2] = float("nan")
    try:
        dw, _ = _step(rule, pre, post, None, w, mod)
    except NonFiniteError as err:
        assert f"non-finite {what}" in str(err)
        return
    except ValueError as err:  # spike rules refuse a non-binary pre first
        assert what == "pre" and rule.needs_spikes and "binary spikes" in str(err)
        return
    assert torch.isfinite(dw).all(), f"{name}: non-finite {what} gave a non-finite dw without an error"


def test_overflow_with_finite_inputs_names_the_update():
    rule = STDP(dt=1.0, eta_plus=3e38, eta_minus=3e38)
    pre = torch.ones(4, 5)
    post = torch.ones(4, 3)
    with pytest.raises(NonFiniteError, match=r"STDP: non-finite weight update dw \(every input finite"):
        rule.step(pre, post, None, torch.zeros(3, 5))
