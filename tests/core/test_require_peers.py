"""The missing-peer policy (``tests/_peers.py``, hooked in by ``tests/conftest.py``): skips of peer
tests fail under ``SPIKEFORGE_REQUIRE_PEERS=1`` (``make test``) and stay skips otherwise.

Runs a tiny suite in a subprocess with a copy of the real hooks: one test marked ``peers``
that skips, one that ``importorskip``s a module that does not exist, a module skipped at
import, an ordinary skip (must stay a skip) and a passing test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


TESTS = Path(__file__).parents[1]
SUITE = {
    "test_inner.py": '''
import pytest

@pytest.mark.peers
def test_marked_peer():
    pytest.skip("peer unavailable")

def test_importorskip():
    pytest.importorskip("spikeforge_no_such_peer_xyz")

def test_ordinary_skip():
    pytest.skip("not relevant on this platform")

def test_passes():
    pass
''',
    "test_module_level.py": '''
import pytest
pytest.importorskip("spikeforge_no_such_peer_abc")

def test_never_runs():
    pass
''',
}


def _run(tmp_path: Path, require: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "_peers.py").write_text((TESTS / "_peers.py").read_text())
    hooks = [line.strip().rstrip(",") for line in (TESTS / "conftest.py").read_text().splitlines()
             if line.strip().startswith("pytest_")]  # the hooks the real conftest imports
    assert len(hooks) == 4, hooks
    (tmp_path / "conftest.py").write_text(f"from _peers import {', '.join(hooks)}  # noqa: F401\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    peers: peer test\n")
    for name, text in SUITE.items():
        (tmp_path / name).write_text(text)
    env = {**os.environ, "SPIKEFORGE_REQUIRE_PEERS": require}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_user_run_without_peers_skips(tmp_path):
    res = _run(tmp_path, "0")
    assert res.returncode == 0, res.stdout
    assert "1 passed, 4 skipped" in res.stdout


def test_make_test_fails_on_missing_peer_with_the_reason(tmp_path):
    res = _run(tmp_path, "1")
    out = res.stdout
    assert res.returncode == 1, out
    assert "FAILED test_inner.py::test_marked_peer" in out
    assert "FAILED test_inner.py::test_importorskip" in out
    assert "spikeforge_no_such_peer_xyz" in out
    assert "FAILED (skipped at collection) test_module_level.py" in out and "spikeforge_no_such_peer_abc" in out
    assert "SKIPPED" in out and "not relevant on this platform" in out  # an ordinary skip stays a skip
    assert "2 failed, 1 passed" in out
