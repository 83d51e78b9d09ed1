"""When a linear synapse runs event-driven: the per-call dispatch policy.

A dense ``y = x W^T`` costs ``K * N`` multiply-adds per input row whatever ``x`` holds. With
binary spike inputs at rate ``r``, the event path (:mod:`spikeforge.layers.sparse_linear`) gathers
and adds only the ``r * K`` active weight columns in forward, and in training accumulates the weight
gradient ``grad_W = grad_y^T x`` over the active inputs only; the input gradient ``grad_y W`` stays
dense (surrogate-gradient training needs it exactly). The event path wins below a crossover rate.

Every call of an auto-dispatching synapse (``EventLinear(mode="auto")``, ``TimeDistributed(nn.Linear)``,
the input synapses of ``RecurrentSpiking`` and of the ``mlp``/``rsnn`` model builders) asks
:func:`event_plan`, which takes the event path only when all of these hold:

1. ``SPIKEFORGE_EVENT_DRIVEN`` is not ``0``/``off``/``false`` and ``SPIKEFORGE_BACKEND`` is not
   ``torch``, and the C++ kernels load;
2. CPU float32/float64 weights and a CPU float input of the same dtype, or uint8/bool spikes
   (the C++ kernels); on CUDA tensors, the same dtypes when the Triton event kernels can run
   (:mod:`spikeforge.kernels.triton_event`), with :data:`CUDA_CROSSOVER` as the rate limit;
3. at least :data:`MIN_EVENT_OUT` outputs (narrower layers are faster dense at any rate);
4. the input looks binary and sparse: on an evenly strided sample of at most
   :data:`SAMPLE` entries, every value is 0 or 1 and the nonzero fraction ``r`` is at most
   :func:`crossover` (``TRAIN_CROSSOVER`` when a gradient will be taken, else
   ``INFER_CROSSOVER``).

The sample keeps the check cheap (a few microseconds); it cannot change results, because both
paths compute the same ``x W^T`` for any input values (the event path multiplies each active
input by its value), equal up to float summation order.

``SPIKEFORGE_EVENT_DRIVEN=0`` turns the automatic choice off everywhere; per module,
``EventLinear(mode="dense")`` (``rnn.input.mode = "dense"`` for ``RecurrentSpiking``) or
``TimeDistributed(..., event_driven=False)``.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

from ._policy import fused_available

__all__ = ["CUDA_CROSSOVER", "ENV_VAR", "INFER_CROSSOVER", "MIN_EVENT_OUT", "SAMPLE", "TRAIN_CROSSOVER", "crossover",
           "event_driven_enabled", "event_plan", "spike_rate"]

ENV_VAR = "SPIKEFORGE_EVENT_DRIVEN"
MIN_EVENT_OUT = 64  # below this many outputs the dense matmul wins at any rate (one SIMD tile per input)
SAMPLE = 1 << 14  # entries inspected per call for the binary check and the rate

# Measured crossovers (speed-up = 1 against torch's dense kernels, one thread), see BENCHMARKS.md
# section 9 and `python -m spikeforge.bench --only relu_twin`; three runs on 2026-12-01/02 under
# load 6-16 (the last two with dense and event calls interleaved): forward only 14-16 % for 700 -> 256 and 31-40 % for
# 256 -> 256 with 6400 rows; forward + weight gradient (the input gradient is dense on both paths)
# 19-22 % and 24 %. The constants sit at the low end so that load on a shared machine does not flip
# the decision into a loss.
INFER_CROSSOVER = 0.14
TRAIN_CROSSOVER = 0.12

# On CUDA the dense matmul runs on tensor cores and the event kernels walk lists of nonzeros, so
# the event path can only win at low rates. Not measured: this machine has no GPU (BENCHMARKS.md
# has no CUDA rows). A conservative guess, overridden per layer with EventLinear(crossover=...).
CUDA_CROSSOVER = 0.05

_FLOATS = (torch.float32, torch.float64)
_BYTES = (torch.uint8, torch.bool)


def event_driven_enabled() -> bool:
    """``False`` when ``SPIKEFORGE_EVENT_DRIVEN`` is ``0``, ``off``, ``false`` or ``no``."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in ("", "1", "on", "true", "yes", "auto"):
        return True
    if value in ("0", "off", "false", "no"):
        return False
    raise ValueError(f"{ENV_VAR}={os.environ[ENV_VAR]!r}: use 0/off/false to disable event-driven synapses "
                     f"or 1/on/auto (or unset) for the automatic choice")


def crossover(in_features: int, out_features: int, training: bool) -> float:
    """Rate at or below which the event path is taken for a ``in_features -> out_features`` synapse
    (0 for layers narrower than :data:`MIN_EVENT_OUT`, which never win)."""
    if out_features < MIN_EVENT_OUT or in_features < 1:
        return 0.0
    return TRAIN_CROSSOVER if training else INFER_CROSSOVER


def spike_rate(x: Tensor, max_samples: int = SAMPLE) -> float | None:
    """Nonzero fraction of ``x`` if ``x`` looks binary (every sampled entry 0 or 1), else ``None``.

    Looks at an evenly strided sample of at most ``max_samples`` entries of ``x``.
    """
    flat = x.reshape(-1)  # [numel] (a view for contiguous inputs)
    if flat.numel() == 0:
        return None
    sample = flat[:: max(1, flat.numel() // max_samples)]
    nz = int(torch.count_nonzero(sample))
    if x.dtype != torch.bool and nz and int(torch.count_nonzero(sample == 1)) != nz:
        return None  # some nonzero entry is not 1: not spikes
    return nz / sample.numel()


def event_plan(x: Tensor, weight: Tensor, training: bool, rate_limit: float | None = None) -> bool:
    """Whether ``x @ weight.T`` should run event-driven for this call (see the module docstring).

    ``rate_limit`` overrides the measured :func:`crossover` (the layer still needs
    :data:`MIN_EVENT_OUT` outputs).
    """
    if not event_driven_enabled():
        return False
    on_cuda = x.device.type == "cuda" and weight.device == x.device
    if not on_cuda and (x.device.type != "cpu" or weight.device.type != "cpu"):
        return False
    if weight.dtype not in _FLOATS or (x.dtype not in _BYTES and x.dtype != weight.dtype):
        return False
    n_out, n_in = weight.shape
    limit = crossover(n_in, n_out, training) if rate_limit is None else rate_limit
    if on_cuda and rate_limit is None:
        limit = min(limit, CUDA_CROSSOVER)
    if n_out < MIN_EVENT_OUT or limit <= 0.0:
        return False
    rate = spike_rate(x)
    if rate is None or rate > limit:
        return False
    if on_cuda:
        from .triton_event import triton_event_supports
        return triton_event_supports(x, weight) is None
    return fused_available()  # last: warns once if the kernels cannot load; False with SPIKEFORGE_BACKEND=torch
