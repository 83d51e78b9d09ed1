"""Every training mode (BPTT and the online SLTT, SLTT-K, OTTT, which call ``backward`` once per
time step) trains the same weights in 2 gloo processes as in one process with the same global
batch.

Reference: :func:`ddp_online_worker.train` without a process group — torch's ``RandomSampler``
and ``DataLoader`` batching, no gradient exchange. The 2 ranks (``ddp_online_worker.py``) use the
``ShardedBatchSampler`` and the weighted all-reduce; the last global batch (3 of 43 samples) is
split 2 + 1, so the gradient weights 2/3 and 1/3 are exercised. The model is float64, so the only
difference, the order of the gradient sums (2 partial sums vs 1), stays near float64 rounding;
the tolerance 1e-12 is far below the spread between modes.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from spikeforge.learning.distributed import hosted_rendezvous

WORKER = Path(__file__).with_name("ddp_online_worker.py")
ATOL = 1e-12


def _worker() -> Any:
    spec = importlib.util.spec_from_file_location("ddp_online_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, dict[str, torch.Tensor]]]:
    """Each rank's weights per mode (and the stochastic runs); ``killed.pt`` stays in the folder."""
    out = tmp_path_factory.mktemp("ddp_online")
    logs = [out / f"rank{r}.log" for r in range(2)]
    with hosted_rendezvous(2) as group:  # the port stays bound until both ranks are done (no port race)
        base = {**os.environ, **group, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        procs = []
        for r in range(2):
            with open(logs[r], "wb") as log:  # files, not pipes: a full pipe would stall one rank and so both
                procs.append(subprocess.Popen([sys.executable, str(WORKER), str(out)], stdout=log,
                                              stderr=subprocess.STDOUT,
                                              env={**base, "RANK": str(r), "LOCAL_RANK": str(r)}))
        for p, log_path in zip(procs, logs):
            assert p.wait(timeout=300) == 0, log_path.read_text(errors="replace")[-2000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]
    ranks[0]["_final_checkpoint"] = torch.load(out / "killed.pt", weights_only=True)
    return ranks


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("mode", ["bptt", "sltt", "sltt-k", "ottt"])
def test_two_processes_train_the_single_process_weights(two_ranks: list[dict[str, Any]], mode: str) -> None:
    worker = _worker()
    one = worker.train(mode)  # one process, no process group
    init = worker.model().state_dict()
    r0, r1 = two_ranks[0][mode], two_ranks[1][mode]
    for k in one:
        assert torch.equal(r0[k], r1[k]), f"{mode} {k}: the ranks diverged"
        torch.testing.assert_close(r0[k], one[k], atol=ATOL, rtol=0,
                                   msg=lambda m, k=k: f"{mode} {k}: 2 processes != 1 process: {m}")
    assert max(float((one[k] - init[k]).abs().max()) for k in one) > 1e-2, "training barely moved the weights"
    others = [m for m in worker.MODES if m != mode]  # the modes train differently: the check has teeth
    for m in others:
        assert max(float((two_ranks[0][m][k] - r0[k]).abs().max()) for k in r0) > 1e3 * ATOL, f"{mode} == {m}"


def test_stochastic_run_killed_mid_epoch_resumes_bit_identically(two_ranks: list[dict[str, Any]]) -> None:
    # random spike deletion draws as many numbers as a rank has samples: after the uneven last share
    # of epoch 1 (2 + 1 samples) the ranks' RNG streams differ, so each rank must resume its own
    final = two_ranks[0]["_final_checkpoint"]
    states = final["rng_ranks"]
    assert len(states) == 2 and not torch.equal(states[0]["torch"], states[1]["torch"]), "the streams did not drift"
    assert int(final["epoch"]) == 2 and "step" not in final
    for r, ranks in enumerate(two_ranks):
        full, resumed = ranks["stochastic"], ranks["stochastic_resumed"]
        for k in full:
            assert torch.equal(resumed[k], full[k]), f"rank {r} {k}: resumed mid-epoch != uninterrupted"
