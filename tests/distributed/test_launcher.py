"""The ``--nproc`` launcher (:func:`spikeforge.learning.distributed.launch`) with small stand-in ranks.

The ranks here are tiny ``python -c`` programs instead of ``spikeforge train`` (a few seconds,
not a training run): :func:`launch` starts them through ``subprocess.Popen``, which the tests wrap
to swap the command and to act at the moment the ranks start.

* Port race: another process binds the rendezvous port after the launcher chose it and before
  rank 0 listens on it (on a busy machine rank 0 needs seconds of imports first). The launcher
  must hold the port from its choice on; when it picked a free port and released it, the
  interloper got it and rank 0 failed with ``EADDRINUSE`` (launch returned 1).
* A rank killed by a signal: the launcher names the rank and the signal and returns 128 + n; it
  returned a bare 1 and printed nothing, so a SIGKILLed or crashed rank looked like a Python error.
"""

from __future__ import annotations

import errno
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from spikeforge.learning import distributed

# a real process group over the launcher's environment (env://): rank r adds r + 1, both must see 1 + 2
ALL_REDUCE = """
import torch, torch.distributed as dist
dist.init_process_group("gloo", init_method="env://")
t = torch.tensor([dist.get_rank() + 1.0])
dist.all_reduce(t)
assert t.item() == 3.0, t
dist.destroy_process_group()
"""


@pytest.fixture
def popen_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Records the launcher's ``Popen`` calls; a test sets ``calls[0]["rank_code"]`` (rank -> source)
    and optionally ``calls[0]["before_start"]`` (called with the rank's environment before it starts)."""
    real = subprocess.Popen
    calls: list[dict[str, Any]] = [{}]

    def fake(cmd: list[str], env: dict[str, str], **kw: Any) -> subprocess.Popen[bytes]:
        rank = int(env["RANK"])
        hook = calls[0].get("before_start")
        if hook is not None:
            hook(env)
        calls.append({"rank": rank, "cmd": cmd, "env": env})
        return real([sys.executable, "-c", calls[0]["rank_code"][rank]], env=env, **kw)

    monkeypatch.setattr(subprocess, "Popen", fake)
    yield calls


def test_the_rendezvous_port_cannot_be_taken_before_rank_0_listens(popen_calls: list[dict[str, Any]]) -> None:
    interloper = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    took: list[int] = []

    def take_the_port(env: dict[str, str]) -> None:  # another process binds the port as rank 0 starts
        if took or env["RANK"] != "0":
            return
        port = int(env["MASTER_PORT"])
        try:
            interloper.bind(("127.0.0.1", port))
            interloper.listen(1)
            took.append(port)
        except OSError as e:
            assert e.errno == errno.EADDRINUSE, e
            took.append(-port)

    popen_calls[0].update(rank_code=[ALL_REDUCE, ALL_REDUCE], before_start=take_the_port)
    try:
        code = distributed.launch(["unused"], 2, env={"OMP_NUM_THREADS": "1"})
    finally:
        interloper.close()
    assert took and took[0] < 0, f"another process could bind the rendezvous port {took} before rank 0 used it"
    assert code == 0, f"the ranks did not form their group (exit {code})"
    envs = [c["env"] for c in popen_calls[1:]]
    assert [e["RANK"] for e in envs] == ["0", "1"] and {e["WORLD_SIZE"] for e in envs} == {"2"}


def test_the_rendezvous_port_is_free_again_after_the_run(popen_calls: list[dict[str, Any]]) -> None:
    popen_calls[0]["rank_code"] = [ALL_REDUCE, ALL_REDUCE]
    assert distributed.launch(["unused"], 2, env={"OMP_NUM_THREADS": "1"}) == 0
    port = int(popen_calls[1]["env"]["MASTER_PORT"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))  # raises if the launcher still held it


@pytest.mark.parametrize(
    "how, code, words",
    [
        (
            "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
            128 + signal.SIGKILL,
            "rank 1 was killed by signal 9 (SIGKILL)",
        ),
        (
            "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
            128 + signal.SIGSEGV,
            "rank 1 was killed by signal 11 (SIGSEGV)",
        ),
        ("raise SystemExit(3)", 3, "rank 1 exited with code 3"),
    ],
)
def test_a_failed_rank_is_named_with_its_exit_code_or_signal(
    popen_calls: list[dict[str, Any]], capfd: pytest.CaptureFixture[str], how: str, code: int, words: str
) -> None:
    popen_calls[0]["rank_code"] = ["import time; time.sleep(120)", how]  # rank 0 waits: the launcher stops it
    assert distributed.launch(["unused"], 2, poll=0.05) == code
    err = capfd.readouterr().err
    assert f"spikeforge --nproc 2: {words}; stopping the other processes" in err, err
    assert "rank 0" not in err, "rank 0 was stopped by the launcher, not failed"
