"""The LIF layer of ``peers.py`` in JAX-based libraries, timed forward + backward (issue 17).

Run by the JAX environment's python (``make jax-peers`` builds ``.venv-jax``), never imported by
spikeforge: this file imports neither torch nor any other part of spikeforge. The torch side
(:mod:`spikeforge.bench.jax_bridge`) writes the input, runs one library per process, and checks
the returned spikes against spikeforge's before it trusts the timings.

Exchange format (one case)::

    python jax_peers.py --lib {jax,spyx,brainpy} --input x.npy --spikes z.npy --reps R --warmup W

- ``x.npy``: float32 ``[T, B, N]`` input current (time-major).
- ``z.npy`` (written): uint8 ``[T, B, N]`` spikes of the layer on ``x`` from rest.
- stdout, last line: one JSON object ``{"lib", "version", "reset", "reset_kind", "compile_s", "first_call_s",
  "times", "rss_base_kb", "rss_peak_kb", "devices"}``; times in seconds.

Dynamics (the shared ones of ``peers.py``): ``v <- 0.9 v + x``, spike ``z = H(v - 1)`` (strict),
reset ``v <- v (1 - z)`` with ``z`` detached, SuperSpike surrogate ``dz/dv = 1 / (1 + |v - 1|)^2``.
Where a library cannot express them, ``reset`` says what it does instead and ``reset_kind``
(``"zero"`` or ``"subtract"``) which reference the torch side checks its spikes against:

- ``jax``: pure JAX, ``lax.scan`` over time and a ``jax.custom_vjp`` spike; exactly the shared dynamics.
- ``spyx``: ``spyx.nn.LIF`` — subtractive ("soft") reset ``v <- v - z`` (see ``_spyx``).
- ``brainpy``: ``brainpy.dyn.LifRef`` / ``Lif`` — see ``_brainpy`` for what is matched.

The timed unit is ``jit(grad(lambda x: layer(x).sum()))``: ahead-of-time compilation
(``lower(...).compile()``) is timed separately as ``compile_s``; ``times`` are steady-state calls
of the compiled function, each ended by ``block_until_ready``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

DECAY = 0.9
THRESHOLD = 1.0
SLOPE = 1.0
LIBS = ("jax", "spyx", "brainpy")


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _superspike() -> Callable[[Any], Any]:
    """Heaviside spike of ``u = v - threshold`` with the SuperSpike surrogate gradient."""
    import jax
    import jax.numpy as jnp

    @jax.custom_vjp
    def spike(u: Any) -> Any:
        return (u > 0).astype(u.dtype)

    def fwd(u: Any) -> tuple[Any, Any]:
        return spike(u), u

    def bwd(u: Any, g: Any) -> tuple[Any]:
        return (g / (1.0 + SLOPE * jnp.abs(u)) ** 2,)

    spike.defvjp(fwd, bwd)
    return spike


def _pure_jax() -> tuple[Callable[[Any], Any], str, str]:
    import jax
    from jax import lax

    spike = _superspike()

    def layer(xs: Any) -> Any:  # xs: [T, B, N] -> spikes [T, B, N]
        def step(v: Any, x: Any) -> tuple[Any, Any]:
            v = DECAY * v + x
            z = spike(v - THRESHOLD)
            v = v * (1.0 - lax.stop_gradient(z))  # hard reset to 0, detached
            return v, z

        _, zs = lax.scan(step, jax.numpy.zeros_like(xs[0]), xs)
        return zs

    return layer, "hard to 0, detached (shared dynamics)", "zero"


def _spyx() -> tuple[Callable[[Any], Any], str, str]:
    """``spyx.nn.LIF`` with ``spyx.axn.superspike(k=1)``. Its step is
    ``z_t = H(V_{t-1} - 1); V_t = 0.9 V_{t-1} + x_t - z_t``: the spike is read from the state
    *before* the input arrives (one step later than ours), the reset subtracts the threshold after
    the decay ("soft"), and it is not detached. No option gives the shared hard reset."""
    import jax.numpy as jnp
    import spyx
    from flax import nnx
    from jax import lax

    cell = spyx.nn.LIF(tuple(), beta=DECAY, threshold=THRESHOLD, activation=spyx.axn.superspike(k=SLOPE),
                       rngs=nnx.Rngs(0))

    def layer(xs: Any) -> Any:  # [T, B, N] -> [T, B, N]
        def step(v: Any, x: Any) -> tuple[Any, Any]:
            z, v = cell(x, v)
            return v, z

        _, zs = lax.scan(step, jnp.zeros_like(xs[0]), xs)
        return zs

    return layer, "soft (subtract after decay), spike read before the input, reset not detached", "spyx"


def _brainpy() -> tuple[Callable[[Any], Any], str, str]:
    """``brainpy.dyn.Lif`` (exponential-Euler integration of ``tau dV/dt = -V + R I`` with
    ``exp(-dt/tau) = 0.9`` and ``R = 1 / (1 - 0.9)``, so ``V <- 0.9 V + x`` up to rounding), hard
    reset to 0, ``InvSquareGrad(alpha=1)`` = SuperSpike. Its hard reset is not detached (BrainPy's
    ``detach_spk`` would detach the output spike too), so its gradient differs from the shared one."""
    import math

    import brainpy as bp
    import brainpy.math as bm

    dt = 1.0
    bm.set_dt(dt)
    state: dict[str, Any] = {}

    def layer(xs: Any) -> Any:  # [T, B, N] -> [T, B, N]
        T, shape = xs.shape[0], xs.shape[1:]
        n = math.prod(shape)  # neurons are element-wise: one population of B * N, batch folded in
        if state.get("n") != n:
            state["n"] = n
            state["neu"] = bp.dyn.Lif(n, V_rest=0.0, V_reset=0.0, V_th=THRESHOLD, tau=-dt / math.log(DECAY),
                                      R=1.0 / (1.0 - DECAY), spk_reset="hard",
                                      spk_fun=bm.surrogate.InvSquareGrad(alpha=SLOPE), method="exp_auto",
                                      mode=bm.TrainingMode(batch_size=1))  # surrogate spikes only here
        neu = state["neu"]
        neu.reset_state(1)
        zs = bm.for_loop(lambda x: neu.update(x), xs.reshape(T, 1, n), progress_bar=False)  # [T, 1, B*N]
        return bm.as_jax(zs).reshape(xs.shape)  # [T, 1, B*N] -> [T, B, N]

    return layer, "hard to 0, reset not detached (spikes as ours; gradient through the reset)", "zero"


def _version(lib: str) -> str:
    from importlib.metadata import version
    return version({"jax": "jax", "spyx": "spyx", "brainpy": "brainpy"}[lib])


def run(lib: str, x_path: str, z_path: str, reps: int, warmup: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    builders = {"jax": _pure_jax, "spyx": _spyx, "brainpy": _brainpy}
    if lib not in builders:
        raise SystemExit(f"unknown JAX peer {lib!r}; valid: {LIBS}")
    x_np = np.load(x_path)
    if x_np.dtype != np.float32 or x_np.ndim != 3:
        raise SystemExit(f"{x_path}: expected float32 [T, B, N], got {x_np.dtype} {x_np.shape}")
    layer, reset, reset_kind = builders[lib]()
    x = jnp.asarray(x_np)
    # spikes on the whole input, for the equality check on the torch side
    z = np.asarray(jax.jit(layer)(x))
    np.save(z_path, (z != 0).astype(np.uint8))
    grad = jax.jit(jax.grad(lambda xs: layer(xs).sum()))
    rss_base = _rss_kb("VmRSS:")
    t0 = time.perf_counter()
    compiled = grad.lower(x).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    compiled(x).block_until_ready()
    first = time.perf_counter() - t0
    for _ in range(max(warmup - 1, 0)):
        compiled(x).block_until_ready()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        compiled(x).block_until_ready()
        times.append(time.perf_counter() - t0)
    return {"lib": lib, "version": _version(lib), "reset": reset, "reset_kind": reset_kind,
            "compile_s": compile_s, "first_call_s": first,
            "times": times, "rss_base_kb": rss_base, "rss_peak_kb": _rss_kb("VmHWM:"),
            "devices": [str(d) for d in jax.devices()]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lib", required=True, choices=LIBS)
    p.add_argument("--input", required=True, help="float32 [T, B, N] .npy")
    p.add_argument("--spikes", required=True, help="where to write the uint8 [T, B, N] spikes (.npy)")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    print(json.dumps(run(a.lib, a.input, a.spikes, a.reps, a.warmup)))


if __name__ == "__main__":
    main()
