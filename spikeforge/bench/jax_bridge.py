"""Run the JAX-based LIF peers (``jax_peers.py``) from the torch bench and check their spikes.

The JAX libraries live in their own environment (``.venv-jax``, built by ``make jax-peers``; no
torch there), so each case is a subprocess of that environment's python. The exchange is two
``.npy`` files and a JSON line (format in :mod:`spikeforge.bench.jax_peers`): this side writes the
scenario's input ``x`` (float32 ``[T, B, N]``), the peer writes its spikes (uint8 ``[T, B, N]``),
and they are compared with spikeforge's LIF on the same ``x`` — with the reset the peer actually
implements (``"zero"`` or ``"subtract"``), so a peer whose library cannot express the shared hard
reset is still checked, and its row says which reset it ran. A peer whose spikes differ by more than
rounding-level flips is reported, not timed; a missing environment is one explanatory row.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .harness import ROUNDING_FLIPS, measure_contention, summarize
from .peers import JAX_PEERS as JAX_LIBS

__all__ = ["JAX_LIBS", "jax_python", "write_input", "read_spikes", "reference_spikes", "compare_spikes",
           "run_jax_case", "jax_rows"]

SCRIPT = Path(__file__).with_name("jax_peers.py")
_RESETS = ("zero", "subtract", "spyx")


def jax_python() -> Path | None:
    """The JAX environment's python: ``$SPIKEFORGE_JAX_PYTHON``, else a finished ``.venv-jax`` in the
    checkout or the working directory; ``None`` if there is none."""
    env = os.environ.get("SPIKEFORGE_JAX_PYTHON")
    if env:
        return Path(env) if Path(env).is_file() else None
    # a venv counts once `make jax-peers` finished it (it touches .installed last)
    venvs = [Path(__file__).resolve().parents[2] / ".venv-jax", Path.cwd() / ".venv-jax"]
    return next((v / "bin" / "python" for v in venvs if (v / ".installed").is_file()), None)


def write_input(path: str | Path, x: Tensor) -> None:
    """Save ``x`` (``[T, B, N]``) as a C-contiguous float32 ``.npy`` for the JAX side."""
    if x.dim() != 3:
        raise ValueError(f"JAX peer input must be [T, B, N], got shape {tuple(x.shape)}")
    np.save(path, np.ascontiguousarray(x.detach().to(torch.float32).cpu().numpy()))


def read_spikes(path: str | Path, shape: tuple[int, ...]) -> Tensor:
    """Load a peer's spikes: uint8 of exactly ``shape`` with values in {0, 1}, else ``ValueError``."""
    z = np.load(path)
    if z.dtype != np.uint8:
        raise ValueError(f"{path}: spikes must be uint8, got {z.dtype}")
    if tuple(z.shape) != tuple(shape):
        raise ValueError(f"{path}: spikes have shape {tuple(z.shape)}, expected {tuple(shape)}")
    if z.size and int(z.max()) > 1:
        raise ValueError(f"{path}: spikes must be 0 or 1, found {int(z.max())}")
    return torch.from_numpy(z)


def reference_spikes(x: Tensor, reset: str = "zero") -> Tensor:
    """spikeforge's LIF (decay 0.9, threshold 1, detached ``reset``) on ``x``, as uint8 ``[T, B, N]``."""
    if reset not in _RESETS:
        raise ValueError(f"unknown reset {reset!r}; valid: {_RESETS}")
    if reset == "spyx":
        return _spyx_reference(x)
    from ..neurons import LIF
    from ..surrogate import FastSigmoid
    from .peers import DECAY, SLOPE
    layer = LIF.from_decay(DECAY, reset=reset, detach_reset=True, surrogate=FastSigmoid(slope=SLOPE))
    with torch.no_grad():
        return (layer(x) != 0).to(torch.uint8)


def _spyx_reference(x: Tensor) -> Tensor:
    """Spyx's LIF step written out in float32 (its own order of operations):
    ``z_t = H(V_{t-1} - 1); V_t = 0.9 V_{t-1} + x_t - z_t`` — the spike is read from the state
    before the input, the threshold is subtracted after the decay. Our LIF has no such mode."""
    from .peers import DECAY
    x = x.detach().to(torch.float32)
    v = torch.zeros_like(x[0])  # [B, N]
    out = torch.empty(x.shape, dtype=torch.uint8)
    for t in range(x.shape[0]):
        z = (v - 1.0 > 0).to(torch.float32)
        v = DECAY * v + x[t] - z * 1.0
        out[t] = z.to(torch.uint8)
    return out


def compare_spikes(z: Tensor, ref: Tensor) -> dict[str, Any]:
    """Equality record in the shape of :func:`spikeforge.bench.harness.check_spikes`'s."""
    if z.shape != ref.shape:
        raise ValueError(f"spike shapes differ: peer {tuple(z.shape)} vs ours {tuple(ref.shape)}")
    n_diff = int((z != ref).sum())
    return {"equal": n_diff <= ROUNDING_FLIPS * ref.numel(), "identical": n_diff == 0, "n_diff": n_diff,
            "n": ref.numel(), "rate": float(ref.float().mean())}


def run_jax_case(lib: str, x: Tensor, *, reps: int = 7, warmup: int = 2, python: Path | None = None,
                 timeout: float = 900.0, script: Path = SCRIPT) -> dict[str, Any]:
    """One JAX peer on input ``x``: a bench row (``lib``, ``check``, timings or ``error``).

    ``script`` is the peer program (default ``jax_peers.py``; tests substitute one that speaks the
    same exchange format)."""
    if lib not in JAX_LIBS:
        raise ValueError(f"unknown JAX peer {lib!r}; valid: {JAX_LIBS}")
    python = python or jax_python()
    row: dict[str, Any] = {"lib": lib, "check": {}}
    if python is None:
        return {**row, "error": "no .venv-jax (build it with `make jax-peers`)"}
    with tempfile.TemporaryDirectory() as d:
        xp, zp = Path(d) / "x.npy", Path(d) / "z.npy"
        write_input(xp, x)
        cmd = [str(python), str(script), "--lib", lib, "--input", str(xp), "--spikes", str(zp),
               "--reps", str(reps), "--warmup", str(warmup)]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # keep the torch env out
        try:
            proc, load = measure_contention(lambda: subprocess.run(cmd, capture_output=True, text=True,
                                                                   timeout=timeout, env=env))
        except subprocess.TimeoutExpired:
            return {**row, "error": f"timed out after {timeout:.0f} s"}
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            return {**row, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
        out = json.loads(lines[-1])
        try:
            z = read_spikes(zp, tuple(x.shape))
        except (OSError, ValueError) as e:
            return {**row, "error": f"bad spikes from the peer: {e}"[:300]}
    reset = out.get("reset_kind", "zero")
    row.update(version=out.get("version", "?"), reset=out.get("reset", reset), reset_kind=reset)
    row["check"] = compare_spikes(z, reference_spikes(x, reset))
    if not row["check"]["equal"]:
        return row  # reported, not timed
    row.update(times=out["times"], compile_s=out["compile_s"], first_step=out["first_call_s"],
               rss_base_kb=out["rss_base_kb"], rss_peak_kb=out["rss_peak_kb"])
    row.update(summarize(out["times"]))
    row.update(load)
    return row


def jax_rows(x: Tensor, *, reps: int = 7, warmup: int = 2, log: Any = None) -> list[dict[str, Any]]:
    """Rows for every JAX peer on ``x``, or one row explaining why they were not run."""
    python = jax_python()
    if python is None:
        return [{"lib": "JAX peers", "check": {},
                 "error": "not run: no .venv-jax (`make jax-peers` builds it; `make bench` tries to)"}]
    rows = []
    for lib in JAX_LIBS:
        if log:
            log(f"  lif_layer {tuple(x.shape)} {lib} (JAX, {python}) ...")
        rows.append(run_jax_case(lib, x, reps=reps, warmup=warmup, python=python))
        if log:
            r = rows[-1]
            log(f"    median {r['median']:.4f} s, compile {r['compile_s']:.2f} s" if "median" in r
                else f"    {r.get('error') or 'spikes differ: ' + str(r['check'])}")
    return rows
