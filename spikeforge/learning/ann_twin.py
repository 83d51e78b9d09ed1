r"""ANN twin of a spiking classifier for pretraining (pipe-S; Lin et al., TNNLS 2022).

The twin *shares* the spiking model's weights (the same ``nn.Linear`` modules), so training the
twin trains the SNN and the "weight transfer" is exact by construction. It runs one step
(``T = 1``) on the time-mean of the encoded input and replaces each spiking neuron by the
reference's *sharpening ramp* on the neuron's first-step membrane :math:`u = g\,(Wx + b)`
(``g`` = the neuron's input gain from rest, e.g. ``dt/τ`` for a forward-Euler LIF), in units of
its threshold :math:`r = u / (2\theta)`:

.. math:: a_e(r) = \mathrm{clip}\Big(\frac{r - m_e}{M_e - m_e}, 0, 1\Big),\quad
          m_e = \min(e'/200, 0.49),\quad M_e = 1 - e'/200,

which tends to the spike :math:`H(u - \theta)` as the edges meet at ``r = 1/2``. The reference
counts ``e'`` in epochs of a ~100-epoch run; here ``e' = 98·progress`` so the last pretraining
epoch has edges ``0.49 / 0.51`` whatever the number of epochs (our adaptation, which also avoids
the reference's degenerate schedule after epoch ~100). The backward pass uses the epoch-0 ramp's
slope :math:`\mathbb 1[0 < u < 2\theta] / (2\theta)` (the reference's rectangular surrogate of
width ``θ`` around the threshold). A non-spiking readout becomes the identity: the twin's logits
are the readout layer's input current.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..layers.dropout import SequenceDropout
from ..neurons import Neuron

__all__ = ["ANNTwin", "RampActivation", "ramp_edges"]


def ramp_edges(progress: float) -> tuple[float, float]:
    """``(m, M)`` of the sharpening ramp at ``progress`` in ``[0, 1]`` of pretraining: ``(0, 1)`` → ``(0.49, 0.51)``."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"ramp progress must be in [0, 1], got {progress!r}")
    e = 98.0 * progress
    return min(e / 200.0, 0.49), 1.0 - e / 200.0


class RampActivation(nn.Module):
    """The ramp standing in for one spiking layer: ``[B, *] -> [B, *]`` in ``[0, 1]``.

    Args:
        gain: first-step membrane per unit input current (``u = gain · x``).
        v_th: the neuron's threshold (scalar or per neuron).
    """

    gain: Tensor
    v_th: Tensor

    def __init__(self, gain: Tensor, v_th: Tensor) -> None:
        super().__init__()
        self.register_buffer("gain", gain.detach().clone())
        self.register_buffer("v_th", v_th.detach().clone())
        self.progress = 0.0
        self.sharp = False  # True: the exact spike H(u - v_th) the SNN emits at its first step

    def forward(self, x: Tensor) -> Tensor:
        r = self.gain * x / (2 * self.v_th)  # membrane in units of twice the threshold
        slope = torch.clamp(r, 0.0, 1.0)  # epoch-0 ramp: carries the gradient
        if self.sharp:
            value = (r >= 0.5).to(x.dtype)
        else:
            m, big_m = ramp_edges(self.progress)
            value = torch.clamp((r - m) / (big_m - m), 0.0, 1.0)
        return slope + (value - slope).detach()

    def extra_repr(self) -> str:
        return f"progress={self.progress:g}, sharp={self.sharp}"


def _first_step_gain(neuron: Neuron[Any, Any], width: int, where: str) -> tuple[Tensor, Tensor]:
    """``(gain, v_th)`` of a spiking neuron from one sub-threshold probe step from rest."""
    p: Any = neuron.params()
    if "v_th" not in p._fields:
        raise TypeError(f"ANNTwin: {where} ({type(neuron).__name__}) has no threshold v_th")
    v_th = torch.as_tensor(p.v_th).detach()
    eps = 1e-3 * float(v_th.abs().min())
    with torch.no_grad():
        _, state = neuron.step(torch.full((1, width), eps, dtype=v_th.dtype, device=v_th.device))
    if "v" not in state._fields:
        raise TypeError(f"ANNTwin: {where} ({type(neuron).__name__}) has no membrane v in its state")
    gain = (state.v[0] / eps).detach()  # [width]
    if not bool((gain > 0).all()):
        raise ValueError(f"ANNTwin: {where} ({type(neuron).__name__}) does not respond to its input within "
                         "one step from rest (e.g. a current-based synapse); it has no T = 1 twin")
    return gain, v_th


class ANNTwin(nn.Module):
    """A one-step ANN over the weights of ``snn`` (a model with ``encoder`` and an ``nn.Sequential`` ``body``).

    Shapes:
        ``forward(x [B, *F]) -> logits [1, B, C]`` (time-major with ``T = 1``, so ``fit`` and the
        losses apply unchanged).

    Example:
        >>> from spikeforge.models import create_model
        >>> snn = create_model("mlp", data="digits", hidden=(32,), steps=4)
        >>> ANNTwin(snn)(torch.rand(5, 64)).shape
        torch.Size([1, 5, 10])
    """

    def __init__(self, snn: nn.Module) -> None:
        super().__init__()
        body = getattr(snn, "body", None)
        if not isinstance(body, nn.Sequential):
            raise TypeError(f"ANNTwin needs a model with an nn.Sequential 'body' (the zoo's classifiers); got "
                            f"{type(snn).__name__}")
        self.snn = snn  # shares every parameter
        self.acts = nn.ModuleDict()
        width = None
        for i, m in enumerate(body):
            if isinstance(m, nn.Linear):
                width = m.out_features
            elif isinstance(m, Neuron) and m.spiking:
                if width is None:
                    raise TypeError(f"ANNTwin: body layer {i} ({type(m).__name__}) has no Linear before it")
                gain, v_th = _first_step_gain(m, width, f"body layer {i}")
                self.acts[str(i)] = RampActivation(gain, v_th)
            elif isinstance(m, Neuron):
                if i != len(body) - 1:
                    raise TypeError(f"ANNTwin: non-spiking neuron at body layer {i} is only supported as the readout")
            elif not isinstance(m, SequenceDropout):
                raise TypeError(f"ANNTwin: body layer {i} ({type(m).__name__}) has no ANN twin; supported: Linear, "
                                "spiking neurons, SequenceDropout, a non-spiking readout")
        if not len(self.acts):
            raise TypeError("ANNTwin: the model has no spiking layer")

    def set_progress(self, progress: float, sharp: bool = False) -> None:
        """Sharpen every ramp (``progress`` in ``[0, 1]``); ``sharp=True`` uses the exact spike."""
        ramp_edges(progress)
        for a in self.acts.values():
            assert isinstance(a, RampActivation)
            a.progress, a.sharp = float(progress), bool(sharp)

    def hidden(self, x: Tensor) -> list[Tensor]:
        """The twin's activation after each spiking layer, ``[B, H]`` each."""
        return self._run(x)[1]

    def _run(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        enc = getattr(self.snn, "encoder", None)
        xs = enc(x) if enc is not None else x  # [T, B, *F]
        h = xs.flatten(2).mean(0)  # [T, B, *F] -> [B, F]: the input rate
        acts = []
        body: nn.Sequential = self.snn.body  # type: ignore[assignment]
        for i, m in enumerate(body):
            if isinstance(m, nn.Linear):
                h = m(h)
            elif str(i) in self.acts:
                h = self.acts[str(i)](h)
                acts.append(h)
            elif not isinstance(m, Neuron):  # time-shared dropout: one step
                h = m(h.unsqueeze(0))[0]  # [B, H] -> [1, B, H] -> [B, H]
        return h, acts

    def forward(self, x: Tensor) -> Tensor:
        return self._run(x)[0].unsqueeze(0)  # [B, C] -> [1, B, C]
