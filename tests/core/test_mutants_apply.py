"""Every planted bug of the mutation check (``tools/mutation/mutants.py``) still applies: its original
text occurs exactly once in its file, and each test path it names exists. A refactor that moves the
code on makes the mutant ``stale`` (five had gone stale unnoticed); this catches it in ``make test``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("_mutants", ROOT / "tools" / "mutation" / "mutants.py")
assert _spec is not None and _spec.loader is not None
_mod = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _mod  # dataclasses look their module up
_spec.loader.exec_module(_mod)
MUTANTS = _mod.MUTANTS


def test_ids_are_unique() -> None:
    ids = [m.id for m in MUTANTS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_applies(mutant) -> None:
    text = (ROOT / mutant.file).read_text()
    n = text.count(mutant.old)
    assert n == 1, f"{mutant.id}: original text occurs {n} times in {mutant.file} (expected once)"
    assert mutant.old != mutant.new
    for t in mutant.tests:
        assert (ROOT / t.split("::")[0]).exists(), f"{mutant.id}: test path {t} does not exist"
