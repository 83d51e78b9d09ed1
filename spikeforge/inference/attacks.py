r"""Adversarial evaluation of SNN classifiers: gradient attacks through surrogates and the sparse
dynamic attack (SDA) on binary spike inputs.

- :func:`fgsm` / :func:`pgd`: :math:`L_\infty` attacks on real-valued inputs in ``[0, 1]``; the
  gradient flows through the neurons' surrogate derivatives, so the attacker's choice of surrogate
  matters (:func:`attack_surrogate` swaps it for the attack only).
- :func:`sparse_dynamic_attack`: Lun et al., CVPR 2025 (project reference §4.7, [V code]): on a
  binary input, flip few bits that a CW margin says help, then undo as many as possible.
- :func:`pdsg_for` builds the potential-dependent surrogate from the victim's own membrane
  potentials (one σ per neuron layer), the paper's remedy when the victim's surrogate is unknown.

A classifier here is any module mapping inputs to logits ``[B, K]`` or per-step outputs
``[T, B, K]`` (decoded by the mean over time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..neurons import Neuron
from ..surrogate import Surrogate, get_surrogate

__all__ = ["logits_of", "fgsm", "pgd", "cw_margin", "SDAResult", "sparse_dynamic_attack", "attack_surrogate",
           "pdsg_for", "attack_success_rate"]


def logits_of(model: nn.Module, x: Tensor) -> Tensor:
    """``model(x)`` as logits ``[B, K]`` (per-step outputs ``[T, B, K]`` are averaged over T)."""
    out = model(x)
    if out.dim() == 3:
        return out.mean(0)  # [T, B, K] -> [B, K]
    if out.dim() != 2:
        raise ValueError(f"expected logits [B, K] or per-step outputs [T, B, K], got shape {tuple(out.shape)}")
    return out


def _check_eps(eps: float, who: str) -> float:
    eps = float(eps)
    if not 0 <= eps <= 1:
        raise ValueError(f"{who}: eps must lie in [0, 1] for inputs in [0, 1], got {eps}")
    return eps


def _input_grad(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(logits_of(model, x), y)
    (g,) = torch.autograd.grad(loss, x)
    return g


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    r"""Fast gradient sign: :math:`x' = \mathrm{clip}_{[0,1]}(x + \epsilon\,\mathrm{sign}\nabla_x \mathcal{L})`."""
    eps = _check_eps(eps, "fgsm")
    return (x.detach() + eps * _input_grad(model, x, y).sign()).clamp(0, 1)


def pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, *, alpha: float | None = None, steps: int = 10,
        random_start: bool = True, generator: torch.Generator | None = None) -> Tensor:
    r"""Projected gradient descent in the :math:`L_\infty` ball of radius ``eps`` around ``x``
    (step ``alpha``, default ``2.5 eps / steps``), clipped to ``[0, 1]``."""
    eps = _check_eps(eps, "pgd")
    if steps < 1:
        raise ValueError(f"pgd: steps must be >= 1, got {steps}")
    alpha = 2.5 * eps / steps if alpha is None else float(alpha)
    x0 = x.detach()
    adv = x0.clone()
    if random_start and eps > 0:
        noise = torch.rand(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device) * 2 - 1
        adv = (adv + eps * noise).clamp(0, 1)
    for _ in range(steps):
        adv = adv + alpha * _input_grad(model, adv, y).sign()
        adv = torch.min(torch.max(adv, x0 - eps), x0 + eps).clamp(0, 1)
    return adv


def cw_margin(logits: Tensor, y: Tensor) -> Tensor:
    r"""CW loss :math:`\max(Z_y - \max_{j \ne y} Z_j, 0)` per sample ``[B]``: 0 once misclassified."""
    true = logits.gather(1, y.view(-1, 1))[:, 0]
    other = logits.clone()
    other.scatter_(1, y.view(-1, 1), float("-inf"))
    return (true - other.amax(1)).clamp(min=0)


@dataclass(frozen=True)
class SDAResult:
    adversarial: Tensor  # binary, the input's shape
    success: bool
    flips: int  # bits changed after reduction
    flips_before_reduction: int
    iterations: int


def sparse_dynamic_attack(model: nn.Module, x: Tensor, y: int, *, k_init: int = 10, max_iter: int = 500
                          ) -> SDAResult:
    """Sparse dynamic attack on ONE binary sample ``x`` (e.g. ``[T, 1, ...]`` spikes) of class ``y``.

    Generation (iteration n = 1..N): gradient ``g`` of the CW margin w.r.t. the input; keep the
    bits whose flip moves along ``-g`` (``0 <= x - sign(g) <= 1``); of those take the ``n · k_init``
    with the largest ``|g|``; evaluate each single flip by finite difference
    ``FD = loss(flipped) - loss(current)`` and apply every flip with ``FD <= 0``; stop when the
    sample is misclassified. Reduction: sort the applied flips by ``|FD|`` ascending and
    binary-search the longest prefix that can be undone while the sample stays misclassified.
    Without success within ``max_iter`` iterations the input is returned unchanged.
    """
    if not bool(((x == 0) | (x == 1)).all()):
        raise ValueError("sparse_dynamic_attack: x must be binary (spikes in {0, 1})")
    if k_init < 1 or max_iter < 1:
        raise ValueError(f"sparse_dynamic_attack: k_init and max_iter must be >= 1, got {k_init}, {max_iter}")
    target = torch.tensor([int(y)], device=x.device)

    def margin(inp: Tensor) -> float:
        with torch.no_grad():
            return float(cw_margin(logits_of(model, inp), target)[0])

    x0 = x.detach().clone()
    adv = x0.clone()
    applied: list[tuple[float, int]] = []  # (|FD|, flat index)
    cur = margin(adv)
    n = 0
    while cur > 0 and n < max_iter:
        n += 1
        a = adv.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(cw_margin(logits_of(model, a), target).sum(), a)
        step = adv - torch.sign(g)  # moving along -g: 1 -> 0 where g > 0, 0 -> 1 where g < 0
        ok = (step >= 0) & (step <= 1) & (g != 0)
        score = torch.where(ok, g.abs(), torch.zeros_like(g)).flatten()
        k = min(n * k_init, int(ok.sum()))
        if k == 0:
            break
        cands = torch.topk(score, k).indices.tolist()
        flat = adv.flatten()
        kept = []
        for i in cands:
            trial = flat.clone()
            trial[i] = 1 - trial[i]
            fd = margin(trial.view_as(adv)) - cur
            if fd <= 0:
                kept.append((abs(fd), i))
        if not kept:
            continue
        for _, i in kept:
            flat[i] = 1 - flat[i]
        adv = flat.view_as(adv)
        applied += kept
        cur = margin(adv)
    if cur > 0:
        return SDAResult(x0, False, 0, 0, n)
    before = int((adv != x0).sum())
    order = [i for _, i in sorted(applied)]
    lo, hi = 0, len(order)  # largest prefix that can be undone and stay adversarial

    def undone(m: int) -> Tensor:
        flat = adv.flatten().clone()
        idx = torch.tensor(order[:m], dtype=torch.long)
        if m:
            flat[idx] = x0.flatten()[idx]
        return flat.view_as(adv)

    while lo < hi:
        mid = (lo + hi + 1) // 2
        if margin(undone(mid)) == 0:
            lo = mid
        else:
            hi = mid - 1
    final = undone(lo)
    return SDAResult(final, True, int((final != x0).sum()), before, n)


@contextmanager
def attack_surrogate(model: nn.Module, surrogate: str | Surrogate | dict[str, Surrogate]) -> Iterator[nn.Module]:
    """Temporarily give every neuron of ``model`` another surrogate (one for all, or a dict by
    module name), restoring the originals on exit. The forward pass is unchanged; only the
    attacker's gradient differs."""
    neurons = {n: m for n, m in model.named_modules() if isinstance(m, Neuron)}
    if isinstance(surrogate, dict):
        missing = sorted(set(surrogate) - set(neurons))
        if missing:
            raise ValueError(f"attack_surrogate: no neuron layers named {missing}; neurons: {sorted(neurons)}")
        chosen = {n: get_surrogate(s) for n, s in surrogate.items()}
    else:
        sg = get_surrogate(surrogate)
        chosen = dict.fromkeys(neurons, sg)
    saved = {n: neurons[n].surrogate for n in chosen}
    try:
        for n, s in chosen.items():
            neurons[n].surrogate = s
        yield model
    finally:
        for n, s in saved.items():
            neurons[n].surrogate = s


@torch.no_grad()
def pdsg_for(model: nn.Module, x: Tensor) -> dict[str, Surrogate]:
    """PDSG per neuron layer, σ = spread of that layer's membrane potentials on ``x``.

    The membrane recorded is the state after each step's reset (``states.v``, via
    :func:`spikeforge.monitors.record_layer`); the paper's code records the potential the
    neuron charges to, so σ here can be slightly smaller for strongly spiking layers.
    """
    from ..monitors import record_layer
    from ..surrogate.pdsg import PDSG

    names = [n for n, m in model.named_modules() if isinstance(m, Neuron) and getattr(m, "spiking", True)]
    out: dict[str, Surrogate] = {}
    for name in names:
        with record_layer(model, name, states=True) as rec:
            model(x)
        out[name] = PDSG.from_membrane(rec.membranes)
    return out


def attack_success_rate(model: nn.Module, x: Tensor, y: Tensor, attack: Callable[[nn.Module, Tensor, Tensor], Tensor],
                        *, batch_dim: int = 0) -> float:
    """Share of the correctly classified samples that ``attack(model, x, y)`` makes misclassified
    (``batch_dim=1`` for time-major inputs ``[T, B, ...]``)."""
    with torch.no_grad():
        correct = logits_of(model, x).argmax(1) == y
    if not bool(correct.any()):
        raise ValueError("attack_success_rate: no sample is classified correctly; nothing to attack")
    idx = correct.nonzero().flatten()
    xc = x.index_select(batch_dim, idx)
    adv = attack(model, xc, y[idx])
    with torch.no_grad():
        fooled = logits_of(model, adv).argmax(1) != y[idx]
    return float(fooled.double().mean())
