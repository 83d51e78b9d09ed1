"""Update equation and source of every registered neuron, one line each, for the generated docs table.

``docs/neurons.md`` renders :data:`NEURON_EQUATIONS` (``tests/docs/registry_tables.py``); a test fails
when a registered neuron has no entry, or an entry names no source. The step functions' docstrings hold
the full math; a line here is the forward-Euler update (``integrator="euler"``, ``a = dt / tau``) in short.
Keep the two in step when a model changes.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["NeuronEquation", "NEURON_EQUATIONS", "SEQUENCE_NEURON_EQUATIONS"]


class NeuronEquation(NamedTuple):
    update: str  # the update per step, Markdown (code spans)
    source: str  # paper or code the update follows, and where ours is a reading of it


NEURON_EQUATIONS: dict[str, NeuronEquation] = {
    "alif": NeuronEquation(
        "LIF with threshold `θ = v_th + adapt·a`, `a' = (1 - dt/tau_adapt)·a + z`; subtract removes `θ`",
        "Bellec et al., NeurIPS 2018 (LSNN)"),
    "astro_lif": NeuronEquation(
        "LIF (`v' = (1-a)·v + a·r·x + a·v_leak`) with threshold `θ = v_th·(1 + k_a·A)`; astrocyte "
        "`A' = α·A + (1-α)·mean(z)` over its domain (each neuron alone by default), `α = 1 - dt/tau_astro` "
        "(exact decay with the exp integrator)",
        "placeholder for AM-SU (Shen et al., arXiv 2312.07625), **not faithful**: the paper's equations were "
        "not read; the form is the reference's labelled placeholder (§4.10)"),
    "burst_if": NeuronEquation(
        "`v' = v + dt·r·x`; `n = min(floor(v'/v_th), Γ)` spikes (0 below threshold), `v ← v' - v_th·n`; "
        "`Γ = max_burst` (5)",
        "Li & Zeng, IJCAI 2022 (burst spikes, for conversion)"),
    "clif": NeuronEquation(
        "`v' = (1-a)·v + x`; `m' = m·σ(a·v') + z`; `v ← v' - z·v_th - z·σ(m')`; rectangle surrogate",
        "Huang et al., ICML 2024 (arXiv 2402.04663); STEP's `ComplementaryLIFNeuron`"),
    "cuba_li": NeuronEquation(
        "as `cuba_lif`, no threshold; the output is the membrane (readout)",
        "current-based leaky integrator; NIR's `CubaLI`"),
    "cuba_lif": NeuronEquation(
        "`i' = (1-a_s)·i + a_s·w_in·x`; `v' = (1-a_m)·v + a_m·r·i' + a_m·v_leak`",
        "current-based LIF; NIR's `CubaLIF`, snnTorch's `Synaptic`"),
    "eif": NeuronEquation(
        "`v' = v + a·(x - v + Δ_T·e^{(v - θ_rh)/Δ_T})`; reset to `v_reset`",
        "Fourcaud-Trocmé et al., J. Neurosci. 2003; STEP's `EIFNode`"),
    "glif": NeuronEquation(
        "`v' = (1-α(1-τ))·v·(1-γz) - (1-α)·ℓ + x·(1-β(1-c)) - (1-γ)·V_reth·z`, `z` the previous spike; "
        "gates α, β, γ ∈ [0, 1]",
        "Yao et al., NeurIPS 2022; STEP's `GLIFTorch` (one value per parameter, not per time step)"),
    "hh": NeuronEquation(
        "Hodgkin–Huxley, rest = 0 mV, exponential Euler (each variable relaxed exactly over the step, others "
        "held), time in ms; `z` on an upward crossing of `v_th`; no reset",
        "Hodgkin & Huxley, J. Physiol. 1952"),
    "i": NeuronEquation(
        "`v' = v + dt·r·x`, no threshold; the output is the membrane (a running sum)",
        "perfect integrator; NIR's `I`"),
    "if": NeuronEquation(
        "`v' = v + dt·r·x` (`r` defaults to `1/dt`: `v' = v + x`)",
        "integrate-and-fire (Lapicque 1907); NIR's `IF`"),
    "ilif": NeuronEquation(
        "`v' = v + a·(x - v)`; `s = round(clip(v'/v_th, 0, D))` ∈ {0..D}, `v ← v' - s·v_th`; straight-through "
        "clip gradient",
        "Luo et al., ECCV 2024 (SpikeYOLO); STEP's `ILIFNode`"),
    "izhikevich": NeuronEquation(
        "`v' = v + h·(0.04v² + 5v + 140 - u + x)`, `u' = u + h·a(b·v - u)` with `h = 1000·dt` (ms); if "
        "`v' > v_th`: `v ← c`, `u ← u' + d`; presets (`Izhikevich.preset(...)`)",
        "Izhikevich, IEEE Trans. Neural Netw. 2003"),
    "klif": NeuronEquation(
        "`v' = ReLU(k·(v + a·(x - v)))`, `k` learned; default reset to zero",
        "Jiang & Zhang, ICASSP 2023 (arXiv 2302.09238); STEP's `KLIFNode`"),
    "li": NeuronEquation(
        "as LIF, no threshold; the output is the membrane (readout)",
        "leaky integrator; NIR's `LI`"),
    "lif": NeuronEquation(
        "`v' = (1-a)·v + a·r·x + a·v_leak`",
        "leaky integrate-and-fire (Lapicque 1907); NIR's `LIF`, snnTorch's `Leaky`"),
    "meta": NeuronEquation(
        "`lif` with the exact exponential integrator, reset to `v_reset` and every parameter (`tau_mem`, `r`, "
        "`v_leak`, `v_th`, `v_reset`) learned by default",
        "our deterministic reading of the meta neuron of Rudnicka et al., arXiv 2508.11674, whose equations we "
        "could not read"),
    "nilif": NeuronEquation(
        "as `ilif` with `s = round(clip(v'/v_th, 0, D)/D)` ∈ {0, 1}",
        "STEP's `NILIFNode` (no paper given)"),
    "plif": NeuronEquation(
        "LIF with `dt/tau_mem = sigmoid(w)` learned",
        "Fang et al., ICCV 2021"),
    "signed_if": NeuronEquation(
        "`v' = v + dt·r·x`; `z = H(v' - v_th) - H(v_th_neg - v')·[m > 0]` ∈ {-1, 0, 1}; `v ← v' - v_th·z`, "
        "`m ← m + z`",
        "SNM, Wang et al., IJCAI 2022 (for conversion)"),
    "tc_lif": NeuronEquation(
        "`u_d' = u_d - σ(β1)·v + x`, `v' = v + σ(β2)·u_d'`, `z = H(v' - v_th)`; `u_d ← u_d' - γ·z`, "
        "`v ← v' - v_th·z`",
        "Zhang et al., AAAI 2024 (arXiv 2308.13250); the authors' `TCLIF.py`"),
    "ultradlif": NeuronEquation(
        "`V'_i = ε·log(e^{V_{i-1}/ε} + e^{V_i/ε} + e^{V_{i+1}/ε}) + x_i` over the last dim as a ring "
        "(`i ± 1` mod `H`), `s = σ((V' - v_th)/ε)`, `V ← V'·(1 - s)`; `ε` clamped to [0.1, 20]; no surrogate, "
        "outputs in (0, 1); neurons coupled by index, so a permutation of the units changes the dynamics",
        "Miñoza, ICML 2026 (arXiv 2602.11206; JomaMinoza/UltraLIF)"),
    "ultralif": NeuronEquation(
        "`V' = ε·log(e^{(V + log τ)/ε} + e^{x/ε})`, `s = σ((V' - v_th)/ε)`, `V ← V'·(1 - s)`; `τ = decay` "
        "clamped to [0.1, 0.99], `ε` to [0.1, 20]; no surrogate, outputs in (0, 1)",
        "Miñoza, ICML 2026 (arXiv 2602.11206; JomaMinoza/UltraLIF)"),
}
"""Registered neuron name → its update per step and source (rendered in ``docs/neurons.md``)."""

SEQUENCE_NEURON_EQUATIONS: dict[str, NeuronEquation] = {
    "hdlif": NeuronEquation(
        "gate `g = softmax(W_g·[x_1; …; x_T] + b_g)` over 4 experts (IF, LIF, PLIF, EIF, each with a hard reset) "
        "per position from its `T·C` inputs; `s_t = H(Σ_e g_e·ũ_{e,t} - v_th_out)` with `ũ` the expert membranes "
        "(0 read as `v_th`); top-2 experts in eval mode",
        "STEP's `HDLIFNode` (Fancyssc/STEP; \"MoE-IFNode of Spiking Point Transformer\", AAAI 2025); the project "
        "reference only names HD-LIF"),
    "psn": NeuronEquation(
        "`H = W·X + B` over the time axis (`W` a learned `T×T` matrix shared by all neurons, `B` per step, "
        "init `-v_th`), `S = H(H)`: step `t` reads every input step",
        "Fang et al., NeurIPS 2023 (arXiv 2304.12760); STEP's `PSNTorch` layout"),
}
"""Registered sequence neuron name (``SEQUENCE_NEURONS``) → its map and source (``docs/neurons.md``)."""
