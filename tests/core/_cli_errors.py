"""Shared check of the command line's clean failure, for the bad-input tests."""

from __future__ import annotations

import pytest

from spikeforge.cli.__main__ import main


def fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI, expect the clean failure (exit 2, ``spikeforge CMD: error: ...``), return stderr."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"spikeforge {argv[0]}: error: ") and "Traceback" not in err, err
    return err
