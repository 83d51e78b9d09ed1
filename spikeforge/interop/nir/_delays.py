r"""NIR converters for the learnable-delay layers (:mod:`spikeforge.layers.dcls`).

NIR's ``Delay`` holds one delay per element of the signal, :math:`y(t) = x(t - \tau)`, in seconds.

- :class:`~spikeforge.layers.LearnableDelay` (one delay per neuron) → ``nir.Delay`` with
  ``delay = d · dt``; it re-imports as the fixed :class:`~spikeforge.layers.Delay`.
- :class:`~spikeforge.layers.DelayLinear` (a weight and a delay per synapse) has no single NIR
  node. It is written as a subgraph that fans every input out to one channel per synapse, delays
  each channel, and sums the channels of each output neuron with the weights:

  .. math:: u = F x,\quad v(t) = u(t - \tau),\quad y = S v + b,
            \qquad c = j \cdot N_{in} + i,\; F_{c,i} = 1,\; \tau_c = d_{ji}\, dt,\; S_{j,c} = w_{ji}

  (``fanout``: ``nir.Linear`` ``[N_out·N_in, N_in]``; ``delay``: ``nir.Delay`` ``[N_out·N_in]``;
  ``sum``: ``nir.Affine`` ``[N_out, N_out·N_in]``, or ``nir.Linear`` without bias). The subgraph's
  ``metadata`` records ``{"layer": "DelayLinear", "K": K}``; spikeforge's importer turns a subgraph
  with that tag and exactly this structure back into one ``DelayLinear`` (rounded mode), which
  computes the same sums in the same order as the exported layer, so outputs are bit-identical.
  Without the tag (or after an edit that breaks the structure) the three nodes run as written,
  which is the same network up to float summation order.

- :class:`~spikeforge.layers.DelayedRecurrentSpiking` (DelRec) → a subgraph ``input → ff → neuron →
  output`` whose feedback ``neuron → [fanout →] delay → recurrent → neuron`` closes a cycle (NIR
  delivers a cycle's value one step later, so a spike arrives ``d + 1`` steps later, as in the
  layer); tagged ``{"layer": "DelayedRecurrentSpiking", "max_delay": …, "synaptic": 0/1}`` and
  re-imported as that layer (bit-identical), or run node by node without the tag.

Only whole-step delays can be written. In evaluation mode the layers use rounded positions (a
one-hot kernel); in training mode their Gaussian kernels spread each delay over several steps,
and export refuses them unless ``to_nir(..., round_delays=True)`` asks for the rounded delays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import nir
import numpy as np
import torch
from torch import Tensor

from ...layers.dcls import DelayLinear, LearnableDelay, delay_taps
from ...layers.delay import delay_steps_from_seconds
from ...layers.delrec import DelayedRecurrentSpiking
from ...neurons import Neuron

if TYPE_CHECKING:
    from ._converters import ExportContext, ImportContext

__all__ = ["LAYER_KEY", "export_learnable_delay", "export_delay_linear", "import_delay_linear", "export_delrec",
           "import_delrec"]

LAYER_KEY = "layer"  # subgraph metadata: the spikeforge layer a NIR expansion stands for
K_KEY = "K"


def integer_delays(m: DelayLinear | LearnableDelay, name: str, ctx: ExportContext) -> Tensor:
    """Whole-step delays (shape of ``m.positions``) of the kernel ``m`` applies in its current mode.

    Raises ``ValueError`` if that kernel is not one-hot (Gaussian or fractional triangle taps),
    unless ``ctx.round_delays``: then the rounded positions are used, as ``m.eval()`` would.
    """
    with torch.no_grad():
        taps = m.taps()  # [*, K]
        one_hot = bool(((taps == 0) | (taps == 1)).all()) and bool((taps.sum(-1) == 1).all())
        if not one_hot:
            if not ctx.round_delays:
                mode = m.mode if m.mode != "auto" else ("gauss" if m.training else "round")
                raise ValueError(
                    f"module {name!r} ({type(m).__name__}): its delays are interpolated (mode {mode!r}"
                    f"{', training' if m.training else ''}; sigma_eff = {m.sigma_eff.max().item():.3g}), not whole "
                    f"steps, and NIR's Delay holds whole delays only; call .eval() (rounded positions, exact "
                    f"integer delays), set_mode('round'), or pass to_nir(..., round_delays=True) to export the "
                    f"rounded delays")
            taps = delay_taps(m.positions.detach().clamp(*m.position_range), m.K, "round")
        return (m.K - 1) - taps.argmax(-1)  # tap k delays by K-1-k steps


def _seconds(steps: Tensor, ctx: ExportContext) -> np.ndarray:
    return np.ascontiguousarray(steps.cpu().numpy().astype(np.float64) * ctx.dt)


def export_learnable_delay(m: LearnableDelay, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    """``nir.Delay(delay = d · dt)``, one delay per neuron."""
    return nir.Delay(delay=_seconds(integer_delays(m, name, ctx), ctx))


def export_delay_linear(m: DelayLinear, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    """The fan-out → Delay → summing Affine subgraph of the module docstring."""
    d = integer_delays(m, name, ctx)  # [N_out, N_in]
    n_in, n_out = m.in_features, m.out_features
    w = m.weight.detach().cpu().numpy()  # [N_out, N_in]
    fanout = np.tile(np.eye(n_in, dtype=w.dtype), (n_out, 1))  # [N_out*N_in, N_in]: F[j*N_in + i, i] = 1
    summing = np.zeros((n_out, n_out, n_in), dtype=w.dtype)  # [N_out, N_out, N_in] -> [N_out, N_out*N_in]
    summing[np.arange(n_out), np.arange(n_out)] = w  # S[j, j*N_in + i] = w[j, i]
    summing = summing.reshape(n_out, n_out * n_in)
    sum_node: nir.NIRNode = (nir.Linear(weight=summing) if m.bias is None else
                             nir.Affine(weight=summing, bias=m.bias.detach().cpu().numpy().copy()))
    nodes = {"input": nir.Input(input_type=np.array([n_in])), "fanout": nir.Linear(weight=fanout),
             "delay": nir.Delay(delay=_seconds(d.reshape(-1), ctx)), "sum": sum_node,
             "output": nir.Output(output_type=np.array([n_out]))}
    edges = [("input", "fanout"), ("fanout", "delay"), ("delay", "sum"), ("sum", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={LAYER_KEY: "DelayLinear", K_KEY: m.K},
                        type_check=False)  # checked with the whole graph by to_nir


def import_delay_linear(g: nir.NIRGraph, ctx: ImportContext) -> DelayLinear | None:
    """The ``DelayLinear`` a tagged expansion subgraph stands for, or ``None`` (run it node by node)."""
    meta = g.metadata if isinstance(g.metadata, dict) else {}
    if _tag(meta) != "DelayLinear":
        return None
    nodes, chain = g.nodes, [("input", "fanout"), ("fanout", "delay"), ("delay", "sum"), ("sum", "output")]
    kinds = {"input": nir.Input, "fanout": nir.Linear, "delay": nir.Delay, "sum": (nir.Affine, nir.Linear),
             "output": nir.Output}
    if set(nodes) != set(kinds) or sorted((str(a), str(b)) for a, b in g.edges) != sorted(chain):
        return None
    if not all(isinstance(nodes[n], t) for n, t in kinds.items()):
        return None
    try:
        K = int(np.asarray(meta.get(K_KEY)).item())
        fanout = np.asarray(nodes["fanout"].weight, dtype=np.float64)
        summing = np.asarray(nodes["sum"].weight, dtype=np.float64)
        steps = delay_steps_from_seconds(np.asarray(nodes["delay"].delay), ctx.dt)
    except (TypeError, ValueError):
        return None
    if K < 1 or fanout.ndim != 2 or summing.ndim != 2:
        return None
    n_in, n_out = fanout.shape[1], summing.shape[0]
    if (fanout.shape != (n_out * n_in, n_in) or summing.shape != (n_out, n_out * n_in)
            or not np.array_equal(fanout, np.tile(np.eye(n_in), (n_out, 1))) or steps.shape != (n_out * n_in,)
            or bool((steps > K - 1).any())):
        return None
    blocks = summing.reshape(n_out, n_out, n_in)  # [j, j', i]
    w = blocks[np.arange(n_out), np.arange(n_out)]  # [N_out, N_in]
    if np.count_nonzero(blocks) != np.count_nonzero(w):  # a weight outside j's own block
        return None
    bias = np.asarray(nodes["sum"].bias, dtype=np.float64) if isinstance(nodes["sum"], nir.Affine) else None
    if bias is not None and bias.shape != (n_out,):
        return None
    layer = DelayLinear(n_in, n_out, K=K, bias=bias is not None, sig=0.0).to(ctx.dtype)
    layer.set_mode("round")  # exact whole-step delays whether the imported graph trains or evaluates
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(w, dtype=ctx.dtype))
        if layer.bias is not None:
            layer.bias.copy_(torch.as_tensor(bias, dtype=ctx.dtype))
        hi = layer.position_range[1]
        layer.positions.copy_((hi - steps.reshape(n_out, n_in)).to(ctx.dtype))  # delay d at position hi - d
    return layer


# ------------------------------------------------------------------------------------------------
# DelRec: a recurrent layer whose feedback passes through delays (a NIR subgraph with a cycle)
# ------------------------------------------------------------------------------------------------
def _recurrent_steps(m: DelayedRecurrentSpiking, name: str, ctx: ExportContext) -> Tensor:
    """Whole-step recurrent delays ``d`` (total latency ``d + 1``), shape of ``m.delays``."""
    with torch.no_grad():
        mask = m.mask()  # [*, L]
        one_hot = bool(((mask == 0) | (mask == 1)).all()) and bool((mask.sum(-1) == 1).all())
        if not one_hot:
            if not ctx.round_delays:
                raise ValueError(
                    f"module {name!r} (DelayedRecurrentSpiking): its recurrent delays are spread over several steps "
                    f"(training mode, sigma = {float(m.sigma):g}, or fractional delays), and NIR's Delay holds "
                    f"whole delays only; call .eval() (rounded delays), or pass to_nir(..., round_delays=True)")
            return torch.round(m.delays.detach().clamp(0, m.max_delay)).long()
        return mask.argmax(-1) - 1  # one-hot at slot 1 + d


def export_delrec(m: DelayedRecurrentSpiking, name: str, shape: tuple[int, ...], ctx: ExportContext) -> nir.NIRNode:
    r"""A subgraph ``input → ff (Affine W_in, b) → neuron → output`` with the feedback
    ``neuron → [fanout →] delay → recurrent → neuron``. The edge back into the neuron closes a cycle,
    which NIR delivers one step later, so a spike reaches its targets after ``d + 1`` steps as in
    the layer. Axonal: ``delay`` ``[out]``, ``recurrent`` = ``W_rec``; synaptic: the expansion of
    :class:`DelayLinear` (channel ``p·out + q`` for the synapse ``q → p``)."""
    from ._converters import export_leaf  # _converters imports this module

    d = _recurrent_steps(m, name, ctx)
    n_in, n = m.in_features, m.out_features
    w_in, w = m.input.weight.detach().cpu().numpy(), m.recurrent.weight.detach().cpu().numpy()  # [n, in], [post, pre]
    ff: nir.NIRNode = (nir.Linear(weight=w_in) if m.input.bias is None else
                       nir.Affine(weight=w_in, bias=m.input.bias.detach().cpu().numpy().copy()))
    nodes: dict[str, nir.NIRNode] = {
        "input": nir.Input(input_type=np.array([n_in])), "ff": ff,
        "neuron": export_leaf(m.neuron, f"{name}.neuron", (n,), ctx),
        "delay": nir.Delay(delay=_seconds(d.reshape(-1), ctx)), "output": nir.Output(output_type=np.array([n]))}
    edges = [("input", "ff"), ("ff", "neuron"), ("neuron", "output")]
    if m.synaptic:
        nodes["fanout"] = nir.Linear(weight=np.tile(np.eye(n, dtype=w.dtype), (n, 1)))  # [n*n, n]
        summing = np.zeros((n, n, n), dtype=w.dtype)  # [post, post', pre] -> [n, n*n]
        summing[np.arange(n), np.arange(n)] = w
        nodes["recurrent"] = nir.Linear(weight=summing.reshape(n, n * n))
        edges += [("neuron", "fanout"), ("fanout", "delay")]
    else:
        nodes["recurrent"] = nir.Linear(weight=w.copy())
        edges += [("neuron", "delay")]
    edges += [("delay", "recurrent"), ("recurrent", "neuron")]
    meta = {LAYER_KEY: "DelayedRecurrentSpiking", "max_delay": m.max_delay, "synaptic": int(m.synaptic)}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)


def import_delrec(g: nir.NIRGraph, path: str, ctx: ImportContext) -> DelayedRecurrentSpiking | None:
    """The ``DelayedRecurrentSpiking`` a tagged subgraph stands for, or ``None`` (run it node by node)."""
    from ._converters import import_leaf  # _converters imports this module

    meta = g.metadata if isinstance(g.metadata, dict) else {}
    if _tag(meta) != "DelayedRecurrentSpiking":
        return None
    try:
        synaptic = bool(int(np.asarray(meta.get("synaptic")).item()))
        max_delay = int(np.asarray(meta.get("max_delay")).item())
    except (TypeError, ValueError):
        return None
    feedback = [("neuron", "fanout"), ("fanout", "delay")] if synaptic else [("neuron", "delay")]
    chain = [("input", "ff"), ("ff", "neuron"), ("neuron", "output"), *feedback, ("delay", "recurrent"),
             ("recurrent", "neuron")]
    nodes = g.nodes
    kinds: dict[str, Any] = {"input": nir.Input, "ff": (nir.Affine, nir.Linear), "delay": nir.Delay,
                             "recurrent": nir.Linear, "output": nir.Output, "neuron": nir.NIRNode}
    if synaptic:
        kinds["fanout"] = nir.Linear
    if set(nodes) != set(kinds) or sorted((str(a), str(b)) for a, b in g.edges) != sorted(chain):
        return None
    if not all(isinstance(nodes[k], t) for k, t in kinds.items()) or isinstance(nodes["neuron"], nir.NIRGraph):
        return None
    try:
        w_in = np.asarray(nodes["ff"].weight, dtype=np.float64)
        rec = np.asarray(nodes["recurrent"].weight, dtype=np.float64)
        steps = delay_steps_from_seconds(np.asarray(nodes["delay"].delay), ctx.dt)
        neuron = import_leaf(nodes["neuron"], f"{path}.neuron", ctx)
    except (TypeError, ValueError):
        return None
    if w_in.ndim != 2 or rec.ndim != 2 or max_delay < 0 or bool((steps > max_delay).any()):
        return None
    n, n_in = w_in.shape
    if synaptic:
        fanout = np.asarray(nodes["fanout"].weight, dtype=np.float64)
        if (fanout.shape != (n * n, n) or not np.array_equal(fanout, np.tile(np.eye(n), (n, 1)))
                or rec.shape != (n, n * n) or steps.shape != (n * n,)):
            return None
        blocks = rec.reshape(n, n, n)
        w = blocks[np.arange(n), np.arange(n)]  # [post, pre]
        if np.count_nonzero(blocks) != np.count_nonzero(w):
            return None
        delays = steps.reshape(n, n)
    else:
        if rec.shape != (n, n) or steps.shape != (n,):
            return None
        w, delays = rec, steps
    if not isinstance(neuron, Neuron) or not _neuron_width_ok(neuron, n, ctx.dtype):
        return None
    bias = np.asarray(nodes["ff"].bias, dtype=np.float64) if isinstance(nodes["ff"], nir.Affine) else None
    layer = DelayedRecurrentSpiking(n_in, n, max_delay, neuron=neuron, sigma=0.0, bias=bias is not None,
                                    synaptic=synaptic)
    layer.input.to(ctx.dtype)
    layer.recurrent.to(ctx.dtype)
    with torch.no_grad():
        layer.input.weight.copy_(torch.as_tensor(w_in, dtype=ctx.dtype))
        if bias is not None and layer.input.bias is not None:
            layer.input.bias.copy_(torch.as_tensor(bias, dtype=ctx.dtype))
        layer.recurrent.weight.copy_(torch.as_tensor(w, dtype=ctx.dtype))
        layer.delays.data = delays.to(ctx.dtype)  # whole steps and sigma 0: one-hot mask in train and eval
    return layer


def _tag(meta: dict[str, Any]) -> Any:
    """The ``layer`` tag of a subgraph's metadata (as read back from HDF5: maybe bytes or a 0-d array)."""
    tag = meta.get(LAYER_KEY)
    if isinstance(tag, np.ndarray) and tag.shape == ():
        tag = tag.item()
    if isinstance(tag, bytes):
        tag = tag.decode("utf8", errors="replace")
    return tag


def _neuron_width_ok(neuron: Neuron[Any, Any], n: int, dtype: torch.dtype) -> bool:
    """The imported neuron's per-neuron parameters fit ``[B, n]`` inputs."""
    try:
        with torch.no_grad():
            neuron(torch.zeros(1, 1, n, dtype=dtype))
    except (RuntimeError, ValueError):
        return False
    return True
