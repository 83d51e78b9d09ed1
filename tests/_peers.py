"""Missing peers are a failure under ``make test``, a skip elsewhere (hooks used by ``tests/conftest.py``).

Peer libraries are test-only extras installed with ``--no-deps``, so one missing transitive
dependency turns every test that imports the peer into a skip. A plain ``pytest`` run by someone
without the peers may skip them; with ``SPIKEFORGE_REQUIRE_PEERS=1`` (set by ``make test``, and so
in CI) such a skip fails the run and says what could not be imported. A skip counts as a missing
peer when the test is marked ``peers`` or its reason is a failed import (``pytest.importorskip``'s
"could not import ...", "No module named ...", "... not installed"). Other skips (no C++
compiler, platform) stay skips.
"""

from __future__ import annotations

import os
import re

import pytest

_MISSING_IMPORT = re.compile(r"could not import|No module named|not installed", re.IGNORECASE)
_missing_at_collection: dict[str, str] = {}  # node id -> reason


def _require_peers() -> bool:
    return os.environ.get("SPIKEFORGE_REQUIRE_PEERS", "0").strip().lower() not in ("", "0", "false", "no")


def _skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, lineno, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and _require_peers()) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if item.get_closest_marker("peers") is not None or _MISSING_IMPORT.search(reason):
        report.outcome = "failed"
        report.longrepr = (f"SPIKEFORGE_REQUIRE_PEERS is set, so a skipped peer test is a failure: {reason}\n"
                           "Install the test peers with `make dev` (see PEERS_NODEPS / PEER_DEPS in the Makefile).")


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module skipped at import (module-level ``importorskip``) is recorded, and fails the run
    at the end instead of aborting collection, so the remaining tests still run."""
    if report.skipped and _require_peers():
        reason = _skip_reason(report)
        if _MISSING_IMPORT.search(reason):
            _missing_at_collection[report.nodeid] = reason


def pytest_terminal_summary(terminalreporter, exitstatus: int) -> None:  # type: ignore[no-untyped-def]
    if _missing_at_collection:
        terminalreporter.section("missing peers (SPIKEFORGE_REQUIRE_PEERS is set)", red=True)
        for nodeid, reason in _missing_at_collection.items():
            terminalreporter.line(f"FAILED (skipped at collection) {nodeid}: {reason}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _missing_at_collection and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
