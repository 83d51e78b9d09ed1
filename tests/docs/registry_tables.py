"""Render the registry tables of the docs from the registries, so they cannot fall behind.

A generated region in a Markdown file looks like::

    <!-- BEGIN GENERATED: neurons -->
    ...
    <!-- END GENERATED: neurons -->

``tests/docs/test_registry_tables.py`` checks that every region equals what :func:`render` gives
now. After registering a component (or changing a default or a docstring's first line), rewrite
the regions with::

    python tests/docs/registry_tables.py --write
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REGION = re.compile(r"^(?P<indent> *)(?P<begin><!-- BEGIN GENERATED: (?P<kind>[\w-]+) -->\n)(?P<body>.*?)"
                    r"^(?P=indent)(?P<end><!-- END GENERATED: (?P=kind) -->)", re.DOTALL | re.MULTILINE)


def _summary(obj: object) -> str:
    """First paragraph of a docstring, reST roles turned into Markdown code."""
    doc = inspect.getdoc(obj) or ""
    text = " ".join(doc.split("\n\n")[0].split())
    text = re.sub(r":(?:math|func|class|meth|attr):`~?([^`]*)`", lambda m: f"`{m.group(1).split('.')[-1]}`"
                  if not m.group(0).startswith(":math:") else f"`{m.group(1)}`", text)
    text = re.sub(r"``([^`]*)``", r"`\1`", text)
    text = re.sub(r";? *dynamics in `\w+`\.?$", "", text).rstrip(";").replace("|", r"\|")
    return re.sub(r"^Layer of ", "", text)


def _number(value: object) -> str:
    import torch

    t = torch.as_tensor(value)
    return f"{t.item():g}" if t.numel() == 1 else f"tensor{tuple(t.shape)}"


def neurons() -> str:
    from spikeforge.neurons import NEURONS

    rows = ["| name | class | model | output | parameters (defaults of `cls()`, `dt = 1e-3`) | state |",
            "|---|---|---|---|---|---|"]
    for name, cls in NEURONS.items():
        module = cls()
        params = ", ".join(f"`{p}={_number(getattr(module, p))}`" for p in cls.params_cls._fields)
        state = ", ".join(f"`{s}`" for s in cls.state_cls._fields)
        output = "spikes" if cls.spiking else "membrane"
        if getattr(cls, "dense_output", False):
            output = "soft spikes in (0, 1), never 0"
        rows.append(f"| `{name}` | `{cls.__name__}` | {_summary(cls)} | {output} | {params} | {state} |")
    return "\n".join(rows) + "\n"


def neuron_equations() -> str:
    """Update per step and source of every registered neuron (``spikeforge.neurons.catalog``)."""
    from spikeforge.neurons import NEURONS
    from spikeforge.neurons.catalog import NEURON_EQUATIONS

    rows = ["| name | update per step | source |", "|---|---|---|"]
    for name in NEURONS.names():
        eq = NEURON_EQUATIONS[name]  # a KeyError names a registered neuron without an entry
        rows.append(f"| `{name}` | {eq.update} | {eq.source} |")
    return "\n".join(rows) + "\n"


def sequence_neurons() -> str:
    """The sequence neurons (``SEQUENCE_NEURONS``: fixed T, non-causal), their map and source."""
    from spikeforge.neurons import SEQUENCE_NEURONS
    from spikeforge.neurons.catalog import SEQUENCE_NEURON_EQUATIONS

    rows = ["| name | class | built for | map over the whole sequence | source |", "|---|---|---|---|---|"]
    for name, cls in SEQUENCE_NEURONS.items():
        eq = SEQUENCE_NEURON_EQUATIONS[name]  # a KeyError names a registered sequence neuron without an entry
        fixed = "`t_steps` and `features` (C)" if cls.needs_features else "`t_steps`"
        rows.append(f"| `{name}` | `{cls.__name__}` | {fixed} | {eq.update} | {eq.source} |")
    return "\n".join(rows) + "\n"


def resets() -> str:
    from spikeforge.neurons import RESETS

    rows = ["| `reset=` | function | effect |", "|---|---|---|"]
    rows += [f"| `\"{name}\"` | `{fn.__name__}` | {_summary(fn)} |" for name, fn in RESETS.items()]
    return "\n".join(rows) + "\n"


def surrogates() -> str:
    from spikeforge.surrogate import SURROGATES

    rows = ["| `surrogate=` | class | parameters (defaults) | definition |", "|---|---|---|---|"]
    for name, cls in SURROGATES.items():
        fields = dataclasses.fields(cls)
        params = ", ".join(f"`{f.name}={f.default:g}`" if isinstance(f.default, float) else f"`{f.name}`"
                           for f in fields) or "–"
        rows.append(f"| `\"{name}\"` | `{cls.__name__}` | {params} | {_summary(cls)} |")
    return "\n".join(rows) + "\n"


def neuron_list() -> str:
    """One sentence for the README's feature list."""
    from spikeforge.neurons import NEURONS

    return ", ".join(f"`{cls.__name__}`" for _, cls in NEURONS.items()) + f" ({len(NEURONS)} registered)\n"


def surrogate_list() -> str:
    from spikeforge.surrogate import SURROGATES

    return ", ".join(f"`{name}`" for name in SURROGATES.names()) + "\n"


RENDERERS: dict[str, Callable[[], str]] = {
    "neurons": neurons, "neuron-equations": neuron_equations, "resets": resets, "surrogates": surrogates,
    "neuron-list": neuron_list, "surrogate-list": surrogate_list, "sequence-neurons": sequence_neurons,
}


def _indented(text: str, indent: str) -> str:
    return "".join(indent + line if line.strip() else line for line in text.splitlines(keepends=True))


def regions(text: str) -> list[tuple[str, str]]:
    """``(kind, body)`` of every generated region in ``text``, body without its indentation."""
    return [(m.group("kind"), "".join(line[len(m.group("indent")):] for line in
                                      m.group("body").splitlines(keepends=True)))
            for m in REGION.finditer(text)]


def rewrite(text: str) -> str:
    """``text`` with every generated region re-rendered."""
    def sub(m: re.Match[str]) -> str:
        indent = m.group("indent")
        return indent + m.group("begin") + _indented(RENDERERS[m.group("kind")](), indent) + indent + m.group("end")

    return REGION.sub(sub, text)


def main(argv: list[str]) -> int:
    stale = []
    for path in DOC_FILES:
        text = path.read_text()
        new = rewrite(text)
        if new != text:
            stale.append(path)
            if "--write" in argv:
                path.write_text(new)
    verb = "rewrote" if "--write" in argv else "stale (run with --write)"
    for path in stale:
        print(f"{verb}: {path.relative_to(ROOT)}")
    return 1 if stale and "--write" not in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
