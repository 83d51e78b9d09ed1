"""The fixed list of planted bugs for ``make mutation`` (see ``run.py``).

Each :class:`Mutant` replaces one exact piece of text (it must occur exactly once in ``file``)
and names the test files that should catch it; only those run, with ``pytest -x``. Keep the
selections narrow (the whole check should stay under ~20 minutes on two cores) and put the
fastest file first. When the code moves on and a mutant becomes ``stale``, update its text
rather than dropping it. A mutant that cannot be detected (the change does not alter
behaviour) carries the reason in ``equivalent`` and is reported apart from the score.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    what: str
    equivalent: str = ""


# test selections -------------------------------------------------------------------------------
# fastest killers first, then the rest of tests/neurons (pytest collects a file named twice once)
NEURONS = ("tests/neurons/test_neuron_mutation_kills.py", "tests/neurons/test_golden.py",
           "tests/neurons/test_integrators.py", "tests/neurons", "tests/kernels/test_parity.py")
SURROGATES = ("tests/surrogate", "tests/contracts/test_surrogate_contract.py")
NEURON_OPS = ("tests/metrics/test_neuron_ops.py", "tests/metrics/test_neurobench.py")
COUNTS = ("tests/metrics/test_counts.py", "tests/metrics/test_profile.py", "tests/metrics/test_neurobench.py")
NIR = ("tests/interop/test_nir_roundtrip.py", "tests/interop/test_nir_reference.py",
       "tests/interop/test_nir_errors.py", "tests/interop/test_nir_peers.py")
FORMATS = ("tests/data/test_data_format_mutation_kills.py", "tests/data/test_data_formats.py",
           "tests/data/test_data_hardening.py")
CHECKPOINT = ("tests/core/test_checkpoint.py",)
STDP = ("tests/plasticity/test_stdp_closed_form.py", "tests/plasticity/test_plasticity_peers.py")
PLASTICITY_KILLS = "tests/plasticity/test_plasticity_mutation_kills.py"
THREE_FACTOR = (PLASTICITY_KILLS, "tests/plasticity/test_rate_and_three_factor.py",
                "tests/plasticity/test_plasticity_peers.py")
TEMPOTRON = (PLASTICITY_KILLS, "tests/plasticity/test_tempotron.py")
KERNELS = ("tests/kernels/test_parity.py",)
EVENT = ("tests/kernels/test_event_linear.py",)
POOL = ("tests/kernels/test_pool.py",)

DYN = "spikeforge/neurons/_dynamics.py"
NIRC = "spikeforge/interop/nir/_converters.py"
SURR = "spikeforge/surrogate/functions.py"

MUTANTS: list[Mutant] = [
    # ---- neuron steps and discretisation ------------------------------------------------------
    Mutant("dyn-exp-gain-euler", DYN,
           "return math.exp(-q), -math.expm1(-q)", "return math.exp(-q), q", NEURONS,
           "exact integrator keeps the exact decay but uses Euler's input gain dt/tau (float tau)"),
    Mutant("dyn-exp-gain-euler-tensor", DYN,
           "return torch.exp(-q), -torch.expm1(-q)", "return torch.exp(-q), q", NEURONS,
           "same, for tensor time constants"),
    Mutant("dyn-leak-dropped", DYN,
           "return decay, a * p.r, a * p.v_leak", "return decay, a * p.r, 0.0", NEURONS,
           "the v_leak term of the membrane update is dropped"),
    Mutant("dyn-decay-leak-unscaled", DYN,
           "return p.beta, p.gain, (1 - p.beta) * p.v_leak", "return p.beta, p.gain, p.v_leak", NEURONS,
           "decay form adds v_leak unscaled instead of (1 - beta) v_leak"),
    Mutant("dyn-syn-gain-dropped", DYN,
           "return decay, a * p.w_in", "return decay, a", NEURONS,
           "synaptic input gain w_in ignored"),
    Mutant("dyn-decay-to-tau", DYN,
           "out[name] = (dt / (1 - d.double())).to(d.dtype)", "out[name] = (dt / d.double()).to(d.dtype)",
           NEURONS, "decay -> time constant conversion uses dt / beta instead of dt / (1 - beta)"),
    Mutant("dyn-decay-range", DYN,
           "if not bool(torch.all((t >= 0) & (t < 1))):", "if not bool(torch.all((t >= 0) & (t <= 1))):",
           NEURONS, "from_decay's own range check accepts beta = 1 (no leak: not a valid decay)",
           equivalent="The constructor checks the stored decay again (check_discretisation: 'decay beta must "
           "be in [0, 1)'), so beta = 1 still raises ValueError: the two checks are redundant on purpose "
           "(from_decay names the argument, the constructor covers direct construction). "
           "tests/neurons/test_neuron_mutation_kills.py::test_from_decay_refuses_a_decay_outside_0_1 "
           "pins the behaviour."),
    Mutant("lif-threshold-sign", "spikeforge/neurons/lif.py",
           "z = surrogate(v - p.v_th)", "z = surrogate(p.v_th - v)", NEURONS,
           "LIF spikes below the threshold"),
    Mutant("lif-reset-args-swapped", "spikeforge/neurons/lif.py",
           "p.v_th, p.v_reset)\n    return z, LIFState", "p.v_reset, p.v_th)\n    return z, LIFState", NEURONS,
           "LIF passes v_reset and v_th swapped to the reset"),
    Mutant("lif-detach-inverted", "spikeforge/neurons/lif.py",
           "v = reset(v, z.detach() if detach_reset else z,", "v = reset(v, z if detach_reset else z.detach(),",
           NEURONS, "detach_reset inverted (gradient through the reset dropped by default)"),
    Mutant("cuba-old-current", "spikeforge/neurons/cuba_lif.py",
           "v = leaky_integrate(state.v, i, p, dt, integrator)",
           "v = leaky_integrate(state.v, state.i, p, dt, integrator)", NEURONS,
           "CubaLIF membrane driven by the previous step's current"),
    Mutant("alif-adapt-sign", "spikeforge/neurons/alif.py",
           "theta = p.v_th + p.adapt * state.a", "theta = p.v_th - p.adapt * state.a", NEURONS,
           "ALIF adaptation lowers the threshold"),
    Mutant("alif-reset-fixed-threshold", "spikeforge/neurons/alif.py",
           "z.detach() if detach_reset else z, theta, p.v_reset)",
           "z.detach() if detach_reset else z, p.v_th, p.v_reset)", NEURONS,
           "ALIF subtractive reset removes v_th instead of the effective threshold"),
    Mutant("alif-trace-gain", "spikeforge/neurons/alif.py",
           "a = step_fractions(p.tau_adapt, dt, integrator)[0] * state.a + z",
           "a = step_fractions(p.tau_adapt, dt, integrator)[1] * state.a + z", NEURONS,
           "ALIF adaptation trace decays by a = dt/tau instead of 1 - a"),
    Mutant("if-dt-dropped", "spikeforge/neurons/if_.py",
           "v = state.v + (dt * p.r) * x", "v = state.v + p.r * x", NEURONS,
           "IF integrates r x without dt"),
    Mutant("izh-u-new-v", "spikeforge/neurons/izhikevich.py",
           "u_new = u + h * (p.a * (p.b * v - u))", "u_new = u + h * (p.a * (p.b * v_new - u))", NEURONS,
           "Izhikevich recovery variable reads the updated v"),
    Mutant("izh-reset-d-sign", "spikeforge/neurons/izhikevich.py",
           "u_new = u_new + zr * p.d", "u_new = u_new - zr * p.d", NEURONS,
           "Izhikevich after-spike reset u <- u - d"),
    Mutant("reset-value-ungated", "spikeforge/neurons/_reset.py",
           "return v * (1 - z) + z * v_reset", "return v * (1 - z) + v_reset", NEURONS,
           "reset to value adds v_reset also when there is no spike"),
    Mutant("spike-non-strict", "spikeforge/surrogate/_base.py",
           "return (x > 0).to(x.dtype)", "return (x >= 0).to(x.dtype)", NEURONS,
           "spike at v == v_th (non-strict threshold) in the reference step"),
    Mutant("specs-exp-gain", "spikeforge/kernels/specs.py",
           "return torch.exp(-q), -torch.expm1(-q)", "return torch.exp(-q), q", ("tests/kernels/test_parity_exp.py",),
           "kernel coefficients: exact decay with Euler's input gain"),
    # ---- surrogates ---------------------------------------------------------------------------
    Mutant("atan-factor-2", SURR,
           "return self.alpha / 2 / (1 + (math.pi / 2 * self.alpha * x) ** 2)",
           "return self.alpha / (1 + (math.pi / 2 * self.alpha * x) ** 2)", SURROGATES,
           "ATan derivative twice too large"),
    Mutant("atan-default-alpha", SURR,
           "    alpha: float = 2.0\n", "    alpha: float = 4.0\n", SURROGATES,
           "ATan default slope 4 instead of 2"),
    Mutant("sigmoid-no-alpha", SURR,
           "return self.alpha * s * (1 - s)", "return s * (1 - s)", SURROGATES,
           "Sigmoid derivative without the alpha factor"),
    Mutant("fast-sigmoid-unsquared", SURR,
           "return 1.0 / (1.0 + self.slope * x.abs()) ** 2", "return 1.0 / (1.0 + self.slope * x.abs())",
           SURROGATES, "FastSigmoid derivative not squared"),
    Mutant("triangle-unnormalised", SURR,
           "return (1 - x.abs() / self.width).clamp_min(0) / self.width",
           "return (1 - x.abs() / self.width).clamp_min(0)", SURROGATES,
           "Triangle derivative not divided by the width"),
    Mutant("rectangle-closed-edge", SURR,
           "return (x.abs() < self.width / 2).to(x.dtype) / self.width",
           "return (x.abs() <= self.width / 2).to(x.dtype) / self.width", SURROGATES,
           "Rectangle derivative non-zero on the edge |x| = w/2"),
    Mutant("erf-norm", SURR,
           "/ (self.sigma * math.sqrt(2 * math.pi))", "/ (self.sigma * math.sqrt(math.pi))", SURROGATES,
           "Gaussian derivative normalised with sqrt(pi) instead of sqrt(2 pi)"),
    Mutant("pwq-alpha", SURR,
           "return (self.alpha - self.alpha**2 * x.abs()).clamp_min(0)",
           "return (self.alpha - self.alpha * x.abs()).clamp_min(0)", SURROGATES,
           "PiecewiseQuadratic slope alpha instead of alpha^2"),
    # ---- metrics counting rules ---------------------------------------------------------------
    Mutant("ops-lif", "spikeforge/metrics/neuron_ops.py",
           'LIF: {"subtract": 4, "zero": 4, "value": 4, "none": 3}',
           'LIF: {"subtract": 5, "zero": 4, "value": 4, "none": 3}', NEURON_OPS,
           "LIF with subtractive reset priced at 5 operations"),
    Mutant("ops-cuba-zero", "spikeforge/metrics/neuron_ops.py",
           'CubaLIF: {"subtract": 6, "zero": 8, "value": 8, "none": 5}',
           'CubaLIF: {"subtract": 6, "zero": 6, "value": 8, "none": 5}', NEURON_OPS,
           "CubaLIF reset to zero priced at 6 (NeuroBench: 8)"),
    Mutant("ops-reset-ignored", "spikeforge/metrics/neuron_ops.py",
           "return entry.get(reset) if", 'return entry.get("subtract") if', NEURON_OPS,
           "operation count ignores the neuron's reset mode"),
    Mutant("ops-membrane-update-count", "spikeforge/metrics/neuron_ops.py",
           "updates += v.numel() if prev is None else int((v != prev).sum())",
           "updates += v.numel()", NEURON_OPS,
           "every element counts as a membrane update at every step"),
    Mutant("counts-negative-spikes", "spikeforge/metrics/counts.py",
           "x_nz = (x != 0).reshape(-1, n_in).sum(0)", "x_nz = (x > 0).reshape(-1, n_in).sum(0)", COUNTS,
           "synaptic operations ignore negative (-1) inputs"),
    Mutant("counts-dense-linear", "spikeforge/metrics/counts.py",
           "return effective, rows * n_in * weight.shape[0]", "return effective, n_in * weight.shape[0]",
           COUNTS, "dense linear operations count one row only"),
    Mutant("counts-conv-dense-batch", "spikeforge/metrics/counts.py",
           ".sum() * x.shape[0]\n", ".sum()\n", COUNTS,
           "dense conv operations count one sample only"),
    Mutant("counts-spike-minus-one", "spikeforge/metrics/counts.py",
           "return bool(((x == 0) | (x == 1) | (x == -1)).all())", "return bool(((x == 0) | (x == 1)).all())",
           COUNTS, "-1 inputs are not spikes (ternary spikes priced as MACs)"),
    Mutant("counts-reverse-direction", "spikeforge/metrics/counts.py",
           "prev = t - 1 if d == 0 else t + 1", "prev = t - 1", COUNTS,
           "reverse direction of a bidirectional RNN pairs h with the wrong step"),
    Mutant("profile-rnn-any-spike", "spikeforge/metrics/profile.py",
           "spikes = all(is_spike_tensor(c.x) for c in group)", "spikes = any(is_spike_tensor(c.x) for c in group)",
           COUNTS, "recurrent step counted as ACs when only the input spikes (analog hidden state)"),
    Mutant("profile-li-activation", "spikeforge/metrics/profile.py",
           'acc["is_activation"] = acc["spiking"] or not isinstance(module, Neuron)', 'acc["is_activation"] = True',
           COUNTS, "the LI readout's membrane counted in activation sparsity"),
    # ---- NIR conversion -----------------------------------------------------------------------
    Mutant("nir-time-scale-inverted", NIRC,
           "return ctx.dt / module.dt", "return module.dt / ctx.dt", NIR,
           "time constants rescaled by neuron dt / export dt (inverted)"),
    Mutant("nir-if-r-unscaled", NIRC,
           "nir.IF(r=_scaled(p.r, 1 / k, shape)", "nir.IF(r=_scaled(p.r, k, shape)", NIR,
           "IF's r scaled like a time constant instead of by its inverse"),
    Mutant("nir-i-r-unscaled", NIRC,
           "nir.I(r=_scaled(p.r, 1 / k, shape)", "nir.I(r=_np(p.r, shape)", NIR,
           "Integrator's r not rescaled at export dt != neuron dt"),
    Mutant("nir-cuba-tau-syn-unscaled", NIRC,
           "nir.CubaLIF(tau_syn=_scaled(p.tau_syn, k, shape)", "nir.CubaLIF(tau_syn=_np(p.tau_syn, shape)", NIR,
           "CubaLIF tau_syn not rescaled at export dt != neuron dt"),
    Mutant("nir-reset-zero-flag", NIRC,
           "    mode, zero = _reset_mode(m, name, ctx)\n    v_reset = _np(p.v_reset, shape) * (0 if zero else 1)\n"
           "    return nir.LIF(",
           "    mode, zero = _reset_mode(m, name, ctx)\n    v_reset = _np(p.v_reset, shape) * (1 if zero else 0)\n"
           "    return nir.LIF(", NIR,
           "LIF export writes v_reset = 0 unless the reset is to zero (inverted)"),
    Mutant("nir-default-reset", NIRC,
           'file_mode = declared or "value"', 'file_mode = declared or "subtract"', NIR,
           "graphs without reset metadata imported with a subtractive reset (NIR resets to v_reset)"),
    Mutant("nir-import-cuba-w-in", NIRC,
           'w_in=_t(a["w_in"], ctx), dt=ctx.dt, reset=', 'w_in=_t(a["r"], ctx), dt=ctx.dt, reset=', NIR,
           "CubaLIF import reads w_in from r"),
    Mutant("nir-delay-seconds", NIRC,
           ".astype(np.float64) * ctx.dt", ".astype(np.float64)", NIR,
           "Delay exported in steps instead of seconds"),
    Mutant("nir-flatten-offset", NIRC,
           "return TimeDistributed(nn.Flatten(s + 1 if s >= 0 else s, e + 1 if e >= 0 else e))",
           "return TimeDistributed(nn.Flatten(s if s >= 0 else s, e + 1 if e >= 0 else e))", NIR,
           "imported Flatten merges the batch dimension (missing +1 under TimeDistributed)"),
    # ---- file decoders ------------------------------------------------------------------------
    Mutant("atis-polarity-bit", "spikeforge/data/formats/nmnist.py",
           "p = raw[:, 2] >> 7", "p = (raw[:, 2] >> 6) & 1", FORMATS,
           "ATIS polarity read from bit 6"),
    Mutant("atis-time-mask", "spikeforge/data/formats/nmnist.py",
           "t = ((raw[:, 2] & 0x7F) << 16)", "t = ((raw[:, 2] & 0xFF) << 16)", FORMATS,
           "ATIS timestamp includes the polarity bit"),
    Mutant("atis-byte-order", "spikeforge/data/formats/nmnist.py",
           "| (raw[:, 3] << 8) | raw[:, 4]", "| (raw[:, 4] << 8) | raw[:, 3]", FORMATS,
           "ATIS timestamp low bytes in the wrong order"),
    Mutant("aedat-y-shift", "spikeforge/data/formats/aedat.py",
           "(w >> 2) & 0x7FFF", "(w >> 1) & 0x7FFF", FORMATS,
           "AEDAT y address shifted by one bit"),
    Mutant("aedat-valid-mark", "spikeforge/data/formats/aedat.py",
           'ev = ev[(ev["data"] & 1) == 1]', "ev = ev", FORMATS,
           "AEDAT events without the valid mark are kept"),
    Mutant("aedat-overflow-shift", "spikeforge/data/formats/aedat.py",
           '(int(h["ts_overflow"]) << 31)', '(int(h["ts_overflow"]) << 32)', FORMATS,
           "AEDAT timestamp overflow shifted by 32 bits"),
    Mutant("aedat-capacity", "spikeforge/data/formats/aedat.py",
           "n_bytes = cap * size", "n_bytes = num * size", FORMATS,
           "AEDAT packet length from the event count instead of the capacity"),
    Mutant("aedat-big-endian", "spikeforge/data/formats/aedat.py",
           '("capacity", "<i4")', '("capacity", ">i4")', FORMATS,
           "AEDAT packet capacity read big-endian"),
    Mutant("shd-truncate-times", "spikeforge/data/formats/hdf5_spikes.py",
           "make_events(np.round(t * 1e6).astype(np.int64)", "make_events(np.trunc(t * 1e6).astype(np.int64)",
           FORMATS, "SHD float seconds truncated (not rounded) to microseconds"),
    Mutant("shd-label-range", "spikeforge/data/formats/hdf5_spikes.py",
           "if num_classes is not None and not 0 <= label < num_classes:",
           "if num_classes is not None and not 0 <= label <= num_classes:", FORMATS,
           "label == num_classes accepted"),
    Mutant("events-h5-time-unit", "spikeforge/data/formats/hdf5_events.py",
           'unit = float(attrs["time_unit"]) if "time_unit" in attrs else None',
           'unit = float(attrs["time_unit"]) if "time_unit" in attrs else 1e-6', FORMATS,
           "events without a time unit read as microseconds"),
    # ---- checkpointing ------------------------------------------------------------------------
    Mutant("ckpt-numpy-rng", "spikeforge/learning/snapshot.py",
           'np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], '
           'n["cached"]))',
           "pass", CHECKPOINT, "NumPy RNG state not restored"),
    Mutant("ckpt-python-rng", "spikeforge/learning/snapshot.py",
           'random.setstate(_to_tuples(state["python"]))', "pass", CHECKPOINT,
           "Python RNG state not restored"),
    Mutant("ckpt-optimizer-dropped", "spikeforge/learning/snapshot.py",
           '"optimizer": optimizer.state_dict() if optimizer is not None else None,', '"optimizer": None,',
           CHECKPOINT, "optimizer state not saved"),
    Mutant("ckpt-digest-skipped", "spikeforge/learning/snapshot.py",
           'if payload["version"] >= 2:', 'if payload["version"] > 2:', CHECKPOINT,
           "the content digest of a version-2 checkpoint is not verified"),
    Mutant("ckpt-digest-tensor-prefix", "spikeforge/learning/snapshot.py",
           "h.update(t.view(torch.uint8).numpy().tobytes())", "h.update(t.view(torch.uint8).numpy().tobytes()[:8])",
           CHECKPOINT, "the digest covers only the first 8 bytes of each tensor"),
    Mutant("ckpt-resume-ignored", "spikeforge/learning/trainer.py",
           "        if ckpt_path.is_file():\n            payload = load_checkpoint(ckpt_path)",
           "        if False:\n            payload = load_checkpoint(ckpt_path)", CHECKPOINT,
           "fit(resume=True) ignores the checkpoint"),
    # ---- plasticity ---------------------------------------------------------------------------
    Mutant("stdp-ltd-sign", "spikeforge/plasticity/stdp.py",
           "dw = p.eta_plus * a_plus * ltp - p.eta_minus * a_minus * ltd",
           "dw = p.eta_plus * a_plus * ltp + p.eta_minus * a_minus * ltd", STDP,
           "STDP depression added instead of subtracted"),
    Mutant("stdp-trace-order", "spikeforge/plasticity/stdp.py",
           "ltp, ltd = pair_terms(pre, post, x, y, reduce)",
           "ltp, ltd = pair_terms(pre, post, state.x, state.y, reduce)", STDP,
           "STDP reads the traces before this step's spikes are added"),
    Mutant("trace-decay-euler", "spikeforge/plasticity/_base.py",
           "torch.exp(-dt / tau) if isinstance(tau, Tensor) else math.exp(-dt / tau)",
           "torch.exp(-dt / tau) if isinstance(tau, Tensor) else 1 - dt / tau", STDP,
           "exact trace decay replaced by Euler's 1 - dt/tau"),
    Mutant("trace-nearest-accumulates", "spikeforge/plasticity/_base.py",
           "torch.as_tensor(a, dtype=x.dtype, device=x.device) * s, decay * x)",
           "torch.as_tensor(a, dtype=x.dtype, device=x.device) * s + decay * x, decay * x)", STDP,
           "nearest-spike trace accumulates instead of resetting to a"),
    Mutant("wdep-soft-minus", "spikeforge/plasticity/_base.py",
           "return torch.relu(w_max - w), torch.relu(w - w_min)", "return torch.relu(w_max - w), torch.relu(w_max - w)",
           STDP, "soft-bound depression scaled by w_max - w"),
    Mutant("triplet-slow-trace-order", "spikeforge/plasticity/triplet.py",
           "ltp = (post * (p.a2_plus + p.a3_plus * o2m))", "ltp = (post * (p.a2_plus + p.a3_plus * (o2m + post)))",
           STDP, "triplet LTP reads the slow postsynaptic trace after this step's spike"),
    Mutant("oja-sign", "spikeforge/plasticity/hebbian.py",
           "dw = (post.transpose(0, 1) @ pre - (post.transpose(0, 1) @ post) @ w) / b",
           "dw = (post.transpose(0, 1) @ pre + (post.transpose(0, 1) @ post) @ w) / b", THREE_FACTOR,
           "Oja's decay term added"),
    Mutant("bcm-theta-rate", "spikeforge/plasticity/hebbian.py",
           "((post * post).mean(0) - state.theta)", "(post.mean(0) - state.theta)", THREE_FACTOR,
           "BCM threshold tracks <y> instead of <y^2>"),
    Mutant("mstdp-current-eligibility", "spikeforge/plasticity/three_factor.py",
           "dw = p.eta * (r.reshape(-1, 1, 1) * state.zeta).sum(0)",
           "dw = p.eta * (r.reshape(-1, 1, 1) * zeta).sum(0)", THREE_FACTOR,
           "MSTDP multiplies the reward with this step's eligibility instead of the previous one"),
    Mutant("three-factor-baseline-sign", "spikeforge/plasticity/three_factor.py",
           "return p.eta * (d - p.baseline) * e * dt", "return p.eta * (d + p.baseline) * e * dt", THREE_FACTOR,
           "dopamine baseline added instead of subtracted"),
    Mutant("tempotron-threshold", "spikeforge/plasticity/tempotron.py",
           "error = target - (v_max > p.v_th).to(v.dtype)", "error = target - (v_max >= p.v_th).to(v.dtype)",
           TEMPOTRON, "Tempotron fires at V_max == V_th"),
    Mutant("tempotron-telescoping", "spikeforge/plasticity/tempotron.py",
           "return dw_now - state.dw_so_far, TempotronState(", "return dw_now, TempotronState(", TEMPOTRON,
           "Tempotron returns the cumulative update at every step (summed over the trial: counted T times)"),
    # ---- C++ kernels (each rebuilds the library, ~20-60 s) ------------------------------------
    Mutant("cpp-threshold-non-strict", "spikeforge/kernels/csrc/lif.cpp",
           "R s = (R)((v1 - theta) > (R)0);\n                zt[j] = s;",
           "R s = (R)((v1 - theta) >= (R)0);\n                zt[j] = s;", KERNELS,
           "fused forward spikes at v == v_th"),
    Mutant("cpp-atan-grad", "spikeforge/kernels/csrc/lif.cpp",
           "u[k] = h / ((R)1 + w * w);", "u[k] = a / ((R)1 + w * w);", KERNELS,
           "fused ATan surrogate derivative twice too large"),
    Mutant("cpp-sub-reset-grad", "spikeforge/kernels/csrc/lif.cpp",
           "if (RS == R_SUB) { dv1 = g; ds = -g * theta; dth = -g * s; }",
           "if (RS == R_SUB) { dv1 = g; ds = g * theta; dth = -g * s; }", KERNELS,
           "fused backward: wrong sign of the gradient through the subtractive reset"),
    Mutant("cpp-event-graded-wide", "spikeforge/kernels/csrc/event.cpp",
           "a += s * g[v];", "a += g[v];", EVENT,
           "event linear weight gradient ignores graded input values on the wide path (N >= 64)"),
    Mutant("cpp-event-thread-sum", "spikeforge/kernels/csrc/event.cpp",
           "for (int t = 1; t < nth; ++t) {", "for (int t = 2; t < nth; ++t) {", EVENT,
           "event linear weight gradient drops the second thread's partial sum"),
    Mutant("cpp-pool-pair-sum", "spikeforge/kernels/csrc/pool.cpp",
           "(((r0[2 * j] + r0[2 * j + 1]) + r1[2 * j]) + r1[2 * j + 1]) / div",
           "(((r0[2 * j] + r0[2 * j + 1]) + r1[2 * j]) + r1[2 * j]) / div", POOL,
           "2x2 average pooling fast path adds one input twice"),
]

HISTORY: list[str] = [
    "2026-12-01, commit 4e931b9, 81 mutants: 71/81 killed (88%) before any test was written for them. "
    "Survivors: dyn-exp-gain-euler, dyn-decay-leak-unscaled, dyn-decay-range, specs-exp-gain, "
    "rectangle-closed-edge, aedat-capacity, shd-truncate-times, events-h5-time-unit, three-factor-baseline-sign, "
    "tempotron-threshold. specs-exp-gain was caught by tests/kernels/test_parity_exp.py once it joined its "
    "selection; dyn-decay-range is equivalent (explained above); the other eight are killed by the tests added in "
    "tests/neurons/test_neuron_mutation_kills.py, tests/surrogate/test_surrogate_edges.py, "
    "tests/data/test_data_format_mutation_kills.py and tests/plasticity/test_plasticity_mutation_kills.py "
    "(each confirmed to fail with its mutant by this tool).",
]
"""Earlier runs worth remembering (newest last); appended to the report."""
