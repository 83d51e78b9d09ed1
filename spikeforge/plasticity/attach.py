"""Attach a plasticity rule to a synapse (``nn.Linear``, ``nn.Conv1d``/``nn.Conv2d``) and its neuron."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ._base import PLASTICITY, Rule

__all__ = ["PlasticLayer", "PlasticState"]


class PlasticState(NamedTuple):
    neuron: Any  # the neuron's state
    rule: Any  # the rule's traces


class PlasticLayer(nn.Module):
    r"""A synapse, a neuron and a local rule that updates the synapse's weight from their spikes.

    At every step ``t``: ``I = synapse(x_t)``, ``z, s = neuron.step(I, s)``, ``dw = rule(x_t, z)``.
    A convolution's patches (``F.unfold``) are the rule's presynaptic units and its output positions
    are extra batch entries, so a shared kernel sums the updates of all positions.

    Args:
        synapse: ``nn.Linear``, ``nn.Conv1d`` or ``nn.Conv2d`` (``groups=1``).
        neuron: a spikeforge neuron module (anything with ``step(x, state) -> (z, state)``).
        rule: a :class:`~spikeforge.plasticity.Rule` or a registry name (created with ``dt`` of the neuron).
        update: ``"step"`` applies ``lr * dw`` after every step (online, under ``torch.no_grad``);
            ``"sequence"`` applies the summed update at the end of the sequence.
        apply: ``"weight"`` writes into the weight; ``"grad"`` adds ``-lr * dw`` to ``weight.grad`` so a torch
            optimizer applies it (and gradient training can share the loop; implies ``update="sequence"``).
        lr: scale of ``dw``.
        mask: optional ``[N_out, N_in]`` 0/1 connectivity of a sparse connection: only existing synapses learn.
        constraint: optional ``fn(weight)`` run in place after each applied update (bounds, Dale's law,
            normalisation; see :mod:`spikeforge.plasticity.constraints`).

    Shapes:
        ``xs [T, B, N_in]`` (linear) or ``[T, B, C, (H,) W]`` (conv) → spikes ``[T, B, ...]``.

    Example:
        >>> from spikeforge.plasticity import STDP, PlasticLayer
        >>> layer = PlasticLayer(nn.Linear(20, 5, bias=False), sf.LIF(r=20.0), STDP(), lr=1e-2)
        >>> zs = layer((torch.rand(30, 2, 20) < 0.3).float())    # learns while it runs
        >>> zs.shape
        torch.Size([30, 2, 5])
    """

    def __init__(self, synapse: nn.Module, neuron: nn.Module, rule: Rule | str, *, update: str = "step",
                 apply: str = "weight", lr: float = 1.0, mask: Tensor | None = None,
                 constraint: Callable[[Tensor], Any] | None = None) -> None:
        super().__init__()
        if not isinstance(synapse, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            raise TypeError(f"PlasticLayer: synapse must be nn.Linear, nn.Conv1d or nn.Conv2d, got "
                            f"{type(synapse).__name__}")
        if isinstance(synapse, (nn.Conv1d, nn.Conv2d)) and synapse.groups != 1:
            raise ValueError(f"PlasticLayer: convolutions with groups={synapse.groups} are not supported (groups=1)")
        if isinstance(synapse, (nn.Conv1d, nn.Conv2d)) and isinstance(synapse.padding, str):
            raise ValueError("PlasticLayer: give the convolution's padding as numbers, not a string")
        if not hasattr(neuron, "step"):
            raise TypeError(f"PlasticLayer: neuron must have step(x, state), got {type(neuron).__name__}")
        if update not in ("step", "sequence"):
            raise ValueError(f"PlasticLayer: update must be 'step' or 'sequence', got {update!r}")
        if apply not in ("weight", "grad"):
            raise ValueError(f"PlasticLayer: apply must be 'weight' or 'grad', got {apply!r}")
        self.synapse = synapse
        self.neuron = neuron
        self.rule = PLASTICITY.create(rule, dt=getattr(neuron, "dt", 1e-3)) if isinstance(rule, str) else rule
        if not isinstance(self.rule, Rule):
            raise TypeError(f"PlasticLayer: rule must be a plasticity Rule or name, got {type(rule).__name__}")
        self.update = "sequence" if apply == "grad" else update
        self.apply_to = apply
        self.lr = float(lr)
        w2 = self._weight2d()
        if mask is not None:
            if mask.shape != w2.shape:
                raise ValueError(f"PlasticLayer: mask of shape {tuple(mask.shape)} must match the weight "
                                 f"[N_out, N_in] = {tuple(w2.shape)}")
            self.register_buffer("mask", mask.to(w2.dtype))
        else:
            self.mask = None
        self.constraint = constraint
        self.plastic = True  # switch learning off (e.g. at test time) without removing the rule

    # --- shapes --------------------------------------------------------------------------------------
    def _weight2d(self) -> Tensor:
        w = self.synapse.weight
        return w.reshape(w.shape[0], -1)  # conv [C_out, C_in, *k] -> [C_out, C_in * prod(k)]

    def _pre_post(self, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """Rule views of one step: ``pre [B', N_in]``, ``post [B', N_out]``."""
        syn = self.synapse
        if isinstance(syn, nn.Linear):
            return x.reshape(-1, x.shape[-1]), z.reshape(-1, z.shape[-1])  # [B, *, N] -> [B', N]
        if isinstance(syn, nn.Conv1d):
            x, z = x.unsqueeze(2), z.unsqueeze(2)  # [B, C, L] -> [B, C, 1, L]
            k, s, p, d = (1, syn.kernel_size[0]), (1, syn.stride[0]), (0, int(syn.padding[0])), (1, syn.dilation[0])
        else:
            k, s, p, d = syn.kernel_size, syn.stride, syn.padding, syn.dilation  # type: ignore[assignment]
        cols = F.unfold(x, k, dilation=d, padding=p, stride=s)  # [B, C_in*k, L]
        pre = cols.transpose(1, 2).reshape(-1, cols.shape[1])  # [B*L, C_in*k]
        post = z.flatten(2).transpose(1, 2).reshape(-1, z.shape[1])  # [B, C_out, L] -> [B*L, C_out]
        return pre, post

    # --- running -------------------------------------------------------------------------------------
    def run(self, xs: Tensor, state: PlasticState | None = None,
            modulators: Tensor | float | None = None) -> tuple[Tensor, PlasticState]:
        """Run ``xs [T, B, ...]``; returns ``(spikes [T, B, ...], state)``. ``modulators``: per step ``[T]``
        (or ``[T, B]``) rewards for three-factor rules, or one scalar for all steps."""
        check_sequence(xs)
        if xs.shape[0] == 0:
            raise ValueError("PlasticLayer: the input has T = 0 time steps")
        mods = self._modulators(modulators, xs.shape[0])
        ns = state.neuron if state is not None else None
        rs = state.rule if state is not None else None
        learn = self.plastic
        total: Tensor | None = None
        zs = []
        w = self.synapse.weight
        for t, x in enumerate(xs):  # x: [B, ...]
            if learn and self.update == "step":  # the weight changes in place every step: no graph through it
                with torch.no_grad():
                    i = self.synapse(x)
            else:
                i = self.synapse(x)
            z, ns = cast(Any, self.neuron).step(i, ns)
            zs.append(z)
            if not learn:
                continue
            with torch.no_grad():
                pre, post = self._pre_post(x.detach(), z.detach())
                dw, rs = self.rule.step(pre, post, rs, self._weight2d().detach(), mods[t] if mods else None)
                if self.mask is not None:
                    dw = dw * self.mask
                if self.update == "step":
                    self._apply_update(dw.reshape(w.shape))
                else:
                    total = dw if total is None else total + dw
        if learn and total is not None:
            with torch.no_grad():
                self._apply_update(total.reshape(w.shape))
        return torch.stack(zs), PlasticState(neuron=ns, rule=rs)  # [T, B, ...]

    def forward(self, xs: Tensor) -> Tensor:
        """Run from rest (fresh traces) and return the spikes; the weight learns if ``plastic``."""
        return self.run(xs)[0]

    @torch.no_grad()
    def _apply_update(self, dw: Tensor) -> None:
        w = self.synapse.weight
        if self.apply_to == "grad":
            g = -self.lr * dw
            w.grad = g.clone() if w.grad is None else w.grad + g
            return
        w.add_(dw, alpha=self.lr)
        if self.constraint is not None:
            self.constraint(w.data if w.dim() == 2 else w.data.view(w.shape[0], -1))

    def _modulators(self, modulators: Tensor | float | None, steps: int) -> list[Any] | None:
        if not self.rule.uses_modulator:
            if modulators is not None:
                raise ValueError(f"PlasticLayer: {type(self.rule).__name__} takes no modulators")
            return None
        if modulators is None:
            raise ValueError(f"PlasticLayer: {type(self.rule).__name__} is a three-factor rule: pass modulators=")
        m = torch.as_tensor(modulators)
        if m.dim() == 0:
            return [m] * steps
        if m.shape[0] != steps:
            raise ValueError(f"PlasticLayer: modulators have {m.shape[0]} steps, the input has {steps}")
        return list(m)

