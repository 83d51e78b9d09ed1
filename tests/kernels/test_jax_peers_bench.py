"""JAX peers in the bench (issue 17): exchange format, spike check, contention marking, report rows.

The JAX environment (``.venv-jax``) is optional, so everything but the last test runs on the torch
side, with stand-in peers written in numpy that speak the same exchange format as ``jax_peers.py``.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from spikeforge.bench.harness import STEAL_CONTENDED, contention, cpu_times
from spikeforge.bench.jax_bridge import (
    compare_spikes,
    jax_python,
    read_spikes,
    reference_spikes,
    run_jax_case,
    write_input,
)
from spikeforge.bench.report import to_markdown


def _lif64(x: np.ndarray, reset: str) -> np.ndarray:
    """Independent float64 LIF: v <- 0.9 v + x, z = v > 1, hard (zero) or subtractive reset."""
    v = np.zeros(x.shape[1:])
    out = np.zeros(x.shape, dtype=np.uint8)
    for t in range(x.shape[0]):
        v = 0.9 * v + x[t]
        z = v > 1.0
        v = np.where(z, 0.0, v) if reset == "zero" else v - z
        out[t] = z
    return out


def _x(T: int = 12, B: int = 3, N: int = 40) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.randn(T, B, N, generator=g) * 0.5 + 0.3  # fires often, so the resets matter


def test_exchange_format_roundtrip_and_rejects_bad_spikes(tmp_path: Path) -> None:
    x = _x().transpose(1, 2).transpose(1, 2)  # same values, exercised through a contiguity round trip
    write_input(tmp_path / "x.npy", x)
    a = np.load(tmp_path / "x.npy")
    assert a.dtype == np.float32 and a.shape == (12, 3, 40) and a.flags.c_contiguous
    assert np.array_equal(a, x.numpy())
    with pytest.raises(ValueError, match=r"\[T, B, N\]"):
        write_input(tmp_path / "y.npy", x[0])
    ok = (a > 1).astype(np.uint8)
    np.save(tmp_path / "z.npy", ok)
    assert torch.equal(read_spikes(tmp_path / "z.npy", (12, 3, 40)), torch.from_numpy(ok))
    for bad, msg in ((ok.astype(np.float32), "uint8"), (ok[:5], "shape"), (ok * 2, "0 or 1")):
        np.save(tmp_path / "z.npy", bad)
        with pytest.raises(ValueError, match=msg):
            read_spikes(tmp_path / "z.npy", (12, 3, 40))


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_reference_spikes_match_float64_loop(reset: str) -> None:
    x = _x()
    ref = reference_spikes(x, reset).numpy()
    want = _lif64(x.double().numpy(), reset)
    assert ref.dtype == np.uint8 and ref.sum() > 50
    assert (ref != want).sum() <= 1  # float32 vs float64 may flip a spike within an ulp of threshold


_FAKE_PEER = """
import argparse, json, numpy as np
p = argparse.ArgumentParser()
for a in ("--lib", "--input", "--spikes", "--reps", "--warmup"):
    p.add_argument(a)
a = p.parse_args()
x = np.load(a.input).astype(np.float64)
v = np.zeros(x.shape[1:]); z = np.zeros(x.shape, np.uint8)
for t in range(x.shape[0]):
    v = 0.9 * v + x[t]; s = v > 1.0; v = {update}; z[t] = s
np.save(a.spikes, z)
print(json.dumps({{"lib": a.lib, "version": "0.0", "reset": "{desc}", "reset_kind": "{kind}",
                  "compile_s": 0.5, "first_call_s": 0.6, "times": [0.003, 0.001, 0.002],
                  "rss_base_kb": 1000, "rss_peak_kb": 3000}}))
"""


def _fake(tmp_path: Path, name: str, update: str, desc: str, kind: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(_FAKE_PEER.format(update=update, desc=desc, kind=kind)))
    return p


def test_peer_checked_against_the_reset_it_declares(tmp_path: Path) -> None:
    x, py = _x(), Path(sys.executable)
    hard = _fake(tmp_path, "hard.py", "np.where(s, 0.0, v)", "hard to 0", "zero")
    soft = _fake(tmp_path, "soft.py", "v - s", "soft (subtract)", "subtract")
    liar = _fake(tmp_path, "liar.py", "v - s", "claims hard", "zero")  # soft reset, declared hard
    r = run_jax_case("jax", x, reps=3, warmup=1, python=py, script=hard)
    assert r["check"]["equal"] and r["median"] == 0.002 and r["compile_s"] == 0.5 and "contended" in r
    r = run_jax_case("spyx", x, reps=3, warmup=1, python=py, script=soft)
    assert r["check"]["equal"] and r["reset_kind"] == "subtract" and "median" in r
    r = run_jax_case("spyx", x, reps=3, warmup=1, python=py, script=liar)
    assert not r["check"]["equal"] and r["check"]["n_diff"] > 10 and "median" not in r  # not timed
    assert "DIFFER, not timed" in to_markdown(_results([r]))


def test_compare_spikes_tolerates_only_rounding_flips() -> None:
    ref = torch.zeros(100, 10, 20, dtype=torch.uint8)  # 20000 elements: 2 flips allowed
    z = ref.clone()
    z.view(-1)[:2] = 1
    assert compare_spikes(z, ref)["equal"] and not compare_spikes(z, ref)["identical"]
    z.view(-1)[:3] = 1
    assert not compare_spikes(z, ref)["equal"]
    with pytest.raises(ValueError, match="shapes differ"):
        compare_spikes(z[:5], ref)


def test_contention_marking() -> None:
    stat = "cpu  100 0 50 800 10 0 0 40 7 0\ncpu0 1 2 3\n"
    assert cpu_times(stat) == (1000, 40)
    t0, t1 = (1000, 40), (2000, 40 + int(1000 * STEAL_CONTENDED) + 5)
    c = contention(0.5, 0.7, (1000, 40), (2000, 40), cores=2)
    assert c == {"load": [0.5, 0.7], "steal": 0.0, "contended": False}
    assert contention(2.5, 1.0, (1000, 40), (2000, 40), cores=2)["contended"]  # more runnable tasks than cores
    c = contention(0.5, 0.5, t0, t1, cores=2)
    assert c["contended"] and c["steal"] == pytest.approx((t1[1] - 40) / 1000)
    with pytest.raises(ValueError, match="backwards"):
        contention(0.5, 0.5, t1, t0, cores=2)


def _row(lib: str, median: float, **kw: object) -> dict:
    r = {"lib": lib, "check": {"equal": True, "identical": True, "n_diff": 0, "n": 10}, "median": median,
         "min": median, "max": median, "q1": median, "q3": median, "n": 3, "rss_base_kb": 1024,
         "rss_peak_kb": 2048, "load": [0.4, 0.6], "steal": 0.0, "contended": False}
    r.update(kw)
    return r


def _results(rows: list[dict]) -> dict:
    env = {"cpu": "test", "cores": 2, "threads": 1, "load_start": "0", "versions": {},
           "bw": {"prealloc": 1e10, "fresh": 5e9}, "kernel_first_call": "n/a", "jax": "`.venv-jax/bin/python`"}
    return {"env": env, "command": "python -m spikeforge.bench", "date": "today",
            "sections": [{"title": "1. LIF", "cases": [{"label": "shape=(1, 2, 3)", "rows": rows}]}]}


def test_report_renders_jax_rows_as_peers() -> None:
    rows = [_row("spikeforge", 0.001), _row("snntorch", 0.010),
            _row("spyx", 0.004, version="1.0.0", reset="soft (subtract)", compile_s=1.25,
                 load=[3.1, 2.9], contended=True),
            {"lib": "brainpy", "check": {}, "error": "timed out after 900 s"}]
    md = to_markdown(_results(rows))
    line = {ln.split("|")[1].strip().split(" ")[0]: ln for ln in md.splitlines() if ln.startswith("| ")}
    assert "spyx (1.0.0, soft (subtract); compile 1.25 s (not in median))" in line["spyx"]
    assert "| 1.00× |" in line["spyx"] and "| 0.40× |" in line["snntorch"]  # fastest peer is the JAX one
    assert "3.10→2.90, steal 0.0% **contended**" in line["spyx"] and "**contended**" not in line["snntorch"]
    assert "not timed: timed out after 900 s" in line["brainpy"]
    assert "JAX peers (jax, spyx, brainpy; LIF section only): `.venv-jax/bin/python`" in md


@pytest.mark.skipif(jax_python() is None,
                    reason="no .venv-jax: the JAX peers are optional (build them with `make jax-peers`)")
def test_jax_script_runs_tiny_case() -> None:
    # pure JAX only: each JAX process costs seconds of import and compile (Spyx and BrainPy are
    # checked the same way by the bench itself before they are timed)
    r = run_jax_case("jax", _x(8, 2, 16), reps=2, warmup=1, timeout=300)
    assert "error" not in r, r
    assert r["check"]["identical"], r["check"]
    assert r["n"] == 2 and r["compile_s"] > 0 and r["rss_peak_kb"] >= r["rss_base_kb"] > 0


def test_missing_jax_env_is_one_explanatory_row(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from spikeforge.bench.jax_bridge import jax_rows
    monkeypatch.setenv("SPIKEFORGE_JAX_PYTHON", str(tmp_path / "nowhere" / "python"))
    assert jax_python() is None
    rows = jax_rows(_x(2, 1, 4))
    assert len(rows) == 1 and "make jax-peers" in rows[0]["error"] and "median" not in rows[0]
    assert "| JAX peers | not timed: not run: no .venv-jax" in to_markdown(_results([_row("spikeforge", 1e-3)] + rows))
