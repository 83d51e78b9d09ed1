"""Every public symbol (``__all__`` of the public packages) has a docstring; neurons show their
equations and shapes."""

from __future__ import annotations

import importlib
import inspect

import pytest

from spikeforge.neurons import NEURONS

PACKAGES = [
    "spikeforge", "spikeforge.neurons", "spikeforge.surrogate", "spikeforge.encoders",
    "spikeforge.layers", "spikeforge.learning", "spikeforge.metrics", "spikeforge.monitors",
    "spikeforge.models", "spikeforge.data", "spikeforge.interop", "spikeforge.kernels",
]


def _public(pkg: str):
    mod = importlib.import_module(pkg)
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield f"{pkg}.{name}", obj


SYMBOLS = sorted({k: v for pkg in PACKAGES for k, v in _public(pkg)}.items())


@pytest.mark.parametrize("qualname,obj", SYMBOLS, ids=[s[0] for s in SYMBOLS])
def test_public_symbol_has_docstring(qualname, obj):
    doc = inspect.getdoc(obj)
    if inspect.isclass(obj) and issubclass(obj, tuple) and hasattr(obj, "_fields"):
        return  # NamedTuples: fields are documented by comments beside them and in the step function
    assert doc and len(doc) > 20, f"{qualname} lacks a docstring"


@pytest.mark.parametrize("name", NEURONS.names())
def test_neuron_step_documents_math_and_shapes(name):
    cls = NEURONS.get(name)
    doc = inspect.getdoc(cls.step_fn)
    assert ".. math::" in doc and "Shapes:" in doc, f"{cls.step_fn.__name__} lacks equations or shapes"
