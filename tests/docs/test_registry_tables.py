"""The registry tables in the docs are the registries, rendered (``registry_tables.py``).

A new neuron, surrogate or reset mode, a changed default or a changed docstring summary makes
this fail until ``python tests/docs/registry_tables.py --write`` has rewritten the docs.
"""

from __future__ import annotations

import re

import pytest
from registry_tables import DOC_FILES, RENDERERS, ROOT, regions, rewrite

from spikeforge.neurons import NEURONS, RESETS
from spikeforge.surrogate import SURROGATES

FOUND = [(path, kind, body) for path in DOC_FILES for kind, body in regions(path.read_text())]


def test_every_renderer_has_a_region_and_every_region_a_renderer():
    kinds = {kind for _, kind, _ in FOUND}
    assert kinds == set(RENDERERS), (kinds, set(RENDERERS))


@pytest.mark.parametrize("path,kind,body", FOUND, ids=[f"{p.relative_to(ROOT)}:{k}" for p, k, _ in FOUND])
def test_generated_region_is_current(path, kind, body):
    assert body == RENDERERS[kind](), (
        f"{path.relative_to(ROOT)}: the generated '{kind}' table is stale; "
        "run `python tests/docs/registry_tables.py --write`")


@pytest.mark.parametrize("kind,registry", [("neurons", NEURONS), ("surrogates", SURROGATES), ("resets", RESETS)])
def test_tables_list_every_registered_name(kind, registry):
    rows = re.findall(r"^\| `\"?([\w]+)\"?` \|", RENDERERS[kind](), re.MULTILINE)
    assert rows == registry.names()


def test_equations_table_covers_every_neuron():
    text = (ROOT / "docs" / "neurons.md").read_text()
    section = text[text.index("Equations"):text.index("integrator=\"exp\"")]
    assert sorted(re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE)) == NEURONS.names()


def test_every_registered_neuron_has_an_equation_and_a_source():
    from spikeforge.neurons.catalog import NEURON_EQUATIONS

    assert sorted(NEURON_EQUATIONS) == NEURONS.names(), (
        f"missing: {sorted(set(NEURONS.names()) - set(NEURON_EQUATIONS))}, "
        f"stale: {sorted(set(NEURON_EQUATIONS) - set(NEURONS.names()))} (spikeforge/neurons/catalog.py)")
    for name, eq in NEURON_EQUATIONS.items():
        assert eq.update.strip() and eq.source.strip(), f"{name}: empty update or source"
        assert "|" not in eq.update + eq.source, f"{name}: '|' would split the Markdown table row"


def test_a_stale_region_is_detected():
    text = "x\n<!-- BEGIN GENERATED: neuron-list -->\n`LIF` (1 registered)\n<!-- END GENERATED: neuron-list -->\n"
    assert rewrite(text) != text and regions(rewrite(text))[0][1] == RENDERERS["neuron-list"]()
    assert rewrite(rewrite(text)) == rewrite(text)


def test_sequence_neuron_table_lists_every_sequence_neuron():
    from spikeforge.neurons import SEQUENCE_NEURONS
    from spikeforge.neurons.catalog import SEQUENCE_NEURON_EQUATIONS

    assert sorted(SEQUENCE_NEURON_EQUATIONS) == SEQUENCE_NEURONS.names()
    rows = re.findall(r"^\| `(\w+)` \|", RENDERERS["sequence-neurons"](), re.MULTILINE)
    assert rows == SEQUENCE_NEURONS.names() and {"psn", "hdlif"} <= set(rows)
    assert "sequence-neurons" in (ROOT / "docs" / "neurons.md").read_text()
