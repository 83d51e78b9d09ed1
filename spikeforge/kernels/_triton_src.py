"""Triton source of the ``"triton"`` backend: the LIF-family kernels of ``csrc/lif.cpp`` for GPUs.

Imported lazily by :mod:`.triton_lif` (never by ``import spikeforge``). The kernels are plain
functions here and :func:`build` applies ``triton.jit``, because ``triton.jit`` decides at
decoration time whether a kernel compiles for the GPU or runs in Triton's interpreter
(``TRITON_INTERPRET=1``, which executes the same source with NumPy on CPU tensors); importing this
module (e.g. for doctests) therefore fixes neither. No helper functions: everything a kernel calls
is inlined, so the same source serves both modes.

The math is the C++ kernel's, expression for expression (see ``csrc/lif.cpp`` for the derivation):

    i' = ci1 i + ci2 x                       (KIND CUBA; otherwise the drive is x)
    v1 = (c1 v + c2 drive) + c3
    theta = vth + adapt a                    (KIND ALIF; otherwise vth)
    z  = H(v1 - theta)                       (KIND LI: the output is v1 and nothing resets)
    v' = reset(v1, z, theta, vr)
    a' = ca a + z                            (KIND ALIF)

One program owns ``BLOCK`` neurons (columns of the ``[T, M]`` input) and loops over time with the
state in registers. Every product and sum is a separate operation and the kernels are launched with
``enable_fp_fusion=False``, so each rounds once like one torch elementwise op and spikes are
bit-identical to the reference. Backward first recomputes the block's trajectory into a global
scratch (``v1``, the membrane before each step, and the ``i``/``a`` histories), then runs the
adjoint recurrence backwards in time, accumulating each coefficient's gradient in registers and
writing it once (no atomics).
"""

from __future__ import annotations

from types import SimpleNamespace

import triton
import triton.language as tl

# Kind and reset codes: the same as specs.py / csrc/lif.cpp.
K_LIF, K_CUBA, K_ALIF, K_LI = 0, 1, 2, 3
R_SUB, R_VAL, R_ZERO, R_NONE = 0, 1, 2, 3


def _lif_forward(x, z, i0, v0, a0, iT, vT, aT,
                c1p, c2p, c3p, vthp, vrp, ci1p, ci2p, adp, cap,
                first_bad, T, M,
                KIND: tl.constexpr, RESET: tl.constexpr, CHECK: tl.constexpr, BLOCK: tl.constexpr):
    """``z[t]`` for all ``t`` and the final state; ``first_bad[m]``: first step whose new state is
    not finite (``T`` if none), written only when ``CHECK``."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    v = tl.load(v0 + offs, mask=mask, other=0.0)
    c1 = tl.load(c1p + offs, mask=mask, other=0.0)
    c2 = tl.load(c2p + offs, mask=mask, other=0.0)
    c3 = tl.load(c3p + offs, mask=mask, other=0.0)
    vth = tl.load(vthp + offs, mask=mask, other=0.0)
    vr = tl.load(vrp + offs, mask=mask, other=0.0)
    ci1 = tl.load(ci1p + offs, mask=mask, other=0.0)
    ci2 = tl.load(ci2p + offs, mask=mask, other=0.0)
    ad = tl.load(adp + offs, mask=mask, other=0.0)
    ca = tl.load(cap + offs, mask=mask, other=0.0)
    iv = tl.load(i0 + offs, mask=mask, other=0.0)  # a dummy of zeros unless KIND == CUBA
    av = tl.load(a0 + offs, mask=mask, other=0.0)  # a dummy of zeros unless KIND == ALIF
    bad = offs * 0 + T  # int32 [BLOCK]; not tl.zeros, a jitted helper the interpreter may not patch
    for t in range(T):
        row = tl.cast(t, tl.int64) * M
        drive = tl.load(x + row + offs, mask=mask, other=0.0)
        if KIND == 1:
            iv = ci1 * iv + ci2 * drive
            drive = iv
        v1 = c1 * v + c2 * drive
        v1 = v1 + c3
        if KIND == 3:
            out = v1
            v = v1
        else:
            theta = vth
            if KIND == 2:
                theta = vth + ad * av
            s = tl.where((v1 - theta) > 0.0, 1.0, 0.0).to(v1.dtype)
            out = s
            if RESET == 0:  # subtract
                v = v1 - s * theta
            elif RESET == 1:  # to value
                v = v1 * (1.0 - s) + s * vr
            elif RESET == 2:  # to zero
                v = v1 * (1.0 - s)
            else:
                v = v1
            if KIND == 2:
                av = ca * av + s
        tl.store(z + row + offs, out, mask=mask)
        if CHECK:  # s - s is 0 for finite s, NaN for NaN or +-inf
            probe = v - v
            if KIND == 1:
                probe = probe + (iv - iv)
            if KIND == 2:
                probe = probe + (av - av)
            bad = tl.where((probe != probe) & (bad == T), t, bad)
    tl.store(vT + offs, v, mask=mask)
    if KIND == 1:
        tl.store(iT + offs, iv, mask=mask)
    if KIND == 2:
        tl.store(aT + offs, av, mask=mask)
    if CHECK:
        tl.store(first_bad + offs, bad, mask=mask)


def _lif_backward(x, gz, gz_st, gz_sm, gx, i0, v0, a0, giT, gvT, gaT, gi0, gv0, ga0,
                 c1p, c2p, c3p, vthp, vrp, ci1p, ci2p, adp, cap, gc, sg_ptr,
                 V1, VP, IB, AB, T, M,
                 KIND: tl.constexpr, RESET: tl.constexpr, DETACH: tl.constexpr, SG_KIND: tl.constexpr,
                 NEEDP: tl.constexpr, BLOCK: tl.constexpr):
    """Gradients of ``x``, the initial state and (``NEEDP``) the coefficients, summed over time into
    ``gc [9, M]`` in the coefficient order of ``specs.COEFS``. ``gz`` is read through its strides
    (``gz_sm = 0``: a broadcast gradient). Scratch: ``V1``, ``VP`` ``[T, M]``; ``IB`` ``[T + 1, M]``
    (CUBA), ``AB`` ``[T, M]`` (ALIF)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    c1 = tl.load(c1p + offs, mask=mask, other=0.0)
    c2 = tl.load(c2p + offs, mask=mask, other=0.0)
    c3 = tl.load(c3p + offs, mask=mask, other=0.0)
    vth = tl.load(vthp + offs, mask=mask, other=0.0)
    vr = tl.load(vrp + offs, mask=mask, other=0.0)
    ci1 = tl.load(ci1p + offs, mask=mask, other=0.0)
    ci2 = tl.load(ci2p + offs, mask=mask, other=0.0)
    ad = tl.load(adp + offs, mask=mask, other=0.0)
    ca = tl.load(cap + offs, mask=mask, other=0.0)
    # 1. recompute the forward trajectory (same arithmetic as lif_forward) into the scratch
    v = tl.load(v0 + offs, mask=mask, other=0.0)
    iv = tl.load(i0 + offs, mask=mask, other=0.0)
    av = tl.load(a0 + offs, mask=mask, other=0.0)
    if KIND == 1:
        tl.store(IB + offs, iv, mask=mask)
    for t in range(T):
        row = tl.cast(t, tl.int64) * M
        tl.store(VP + row + offs, v, mask=mask)
        if KIND == 2:
            tl.store(AB + row + offs, av, mask=mask)
        drive = tl.load(x + row + offs, mask=mask, other=0.0)
        if KIND == 1:
            iv = ci1 * iv + ci2 * drive
            drive = iv
            tl.store(IB + row + M + offs, iv, mask=mask)
        v1 = c1 * v + c2 * drive
        v1 = v1 + c3
        tl.store(V1 + row + offs, v1, mask=mask)
        if KIND == 3:
            v = v1
        else:
            theta = vth
            if KIND == 2:
                theta = vth + ad * av
            s = tl.where((v1 - theta) > 0.0, 1.0, 0.0).to(v1.dtype)
            if RESET == 0:  # subtract
                v = v1 - s * theta
            elif RESET == 1:  # to value
                v = v1 * (1.0 - s) + s * vr
            elif RESET == 2:  # to zero
                v = v1 * (1.0 - s)
            else:
                v = v1
            if KIND == 2:
                av = ca * av + s
    tl.debug_barrier()  # the scratch written above is read back below
    # 2. adjoint recurrence, backwards in time
    gv = tl.load(gvT + offs, mask=mask, other=0.0)
    gi = tl.load(giT + offs, mask=mask, other=0.0)
    ga = tl.load(gaT + offs, mask=mask, other=0.0)
    zero = v * 0.0
    a_c1 = zero
    a_c2 = zero
    a_c3 = zero
    a_vth = zero
    a_vr = zero
    a_ci1 = zero
    a_ci2 = zero
    a_ad = zero
    a_ca = zero
    gz_off = offs.to(tl.int64) * gz_sm
    for tt in range(T):
        t = T - 1 - tt
        row = tl.cast(t, tl.int64) * M
        gzt = tl.load(gz + tl.cast(t, tl.int64) * gz_st + gz_off, mask=mask, other=0.0)
        xt = tl.load(x + row + offs, mask=mask, other=0.0)
        v1 = tl.load(V1 + row + offs, mask=mask, other=0.0)
        vp = tl.load(VP + row + offs, mask=mask, other=0.0)
        if KIND == 3:
            gv1 = gzt + gv
        else:
            theta = vth
            if KIND == 2:
                ab = tl.load(AB + row + offs, mask=mask, other=0.0)
                theta = vth + ad * ab
            u = v1 - theta
            s = tl.where(u > 0.0, 1.0, 0.0).to(v1.dtype)
            g = gv
            dth = zero
            dvr = zero
            if RESET == 0:
                dv1 = g
                ds = -g * theta
                dth = -g * s
            elif RESET == 1:
                dv1 = g * (1.0 - s)
                ds = g * (vr - v1)
                dvr = g * s
            elif RESET == 2:
                dv1 = g * (1.0 - s)
                ds = -g * v1
            else:
                dv1 = g
                ds = zero
            if DETACH:
                gs = gzt
            else:
                gs = gzt + ds
            if KIND == 2:
                gs = gs + ga
            # surrogate derivative dz/du, as csrc/lif.cpp; sg_ptr holds [a, k1, k2] in the compute
            # dtype (triton_lif._surrogate_consts), so no constant is rounded to float32 in float64 runs
            a = tl.load(sg_ptr)
            k1 = tl.load(sg_ptr + 1)
            k2 = tl.load(sg_ptr + 2)
            if SG_KIND == 0:  # straight-through
                d = u * 0.0 + 1.0
            elif SG_KIND == 1:  # sigmoid(alpha)
                sig = 1.0 / (1.0 + tl.exp(-a * u))
                d = a * sig * (1.0 - sig)
            elif SG_KIND == 2:  # atan(alpha): k1 = alpha / 2, k2 = pi / 2 * alpha
                w = k2 * u
                d = k1 / (1.0 + w * w)
            elif SG_KIND == 3:  # fast sigmoid(slope)
                w = 1.0 + a * tl.abs(u)
                d = 1.0 / (w * w)
            elif SG_KIND == 4:  # triangle(width)
                w = 1.0 - tl.abs(u) / a
                d = tl.maximum(w, 0.0) / a
            elif SG_KIND == 5:  # rectangle(width)
                d = tl.where(tl.abs(u) < a / 2.0, 1.0, 0.0) / a
            elif SG_KIND == 6:  # erf(sigma): gaussian density, k1 = 1 / (sigma sqrt(2 pi))
                w = u / a
                d = tl.exp(-0.5 * w * w) * k1
            elif SG_KIND == 7:  # piecewise quadratic(alpha)
                w = a - a * a * tl.abs(u)
                d = tl.maximum(w, 0.0)
            elif SG_KIND == 8:  # pdsg(sigma): gaussian density centred at k2 = sigma / 2
                w = (u - k2) / a
                d = tl.exp(-0.5 * w * w) * k1
            else:  # q-PseudoSpike(q): (1 + 2|u| / (q - 1))^-q written as exp(-q log(.))
                w = 1.0 + 2.0 * tl.abs(u) / (a - 1.0)
                d = tl.exp(-a * tl.log(w))
            gu = gs * d
            gv1 = dv1 + gu
            gth = dth - gu
            a_vth += gth
            a_vr += dvr
            if KIND == 2:
                a_ad += gth * ab
                a_ca += ga * ab
                ga = ga * ca + gth * ad
        a_c1 += gv1 * vp
        a_c3 += gv1
        gdrive = gv1 * c2
        if KIND == 1:
            ib = tl.load(IB + row + offs, mask=mask, other=0.0)  # i before step t
            ia = tl.load(IB + row + M + offs, mask=mask, other=0.0)  # i after step t: the drive
            a_c2 += gv1 * ia
            git = gi + gdrive
            a_ci1 += git * ib
            a_ci2 += git * xt
            gxt = git * ci2
            gi = git * ci1
        else:
            a_c2 += gv1 * xt
            gxt = gdrive
        gv = gv1 * c1
        tl.store(gx + row + offs, gxt, mask=mask)
    tl.store(gv0 + offs, gv, mask=mask)
    if KIND == 1:
        tl.store(gi0 + offs, gi, mask=mask)
    if KIND == 2:
        tl.store(ga0 + offs, ga, mask=mask)
    if NEEDP:
        tl.store(gc + offs, a_c1, mask=mask)
        tl.store(gc + M + offs, a_c2, mask=mask)
        tl.store(gc + 2 * M + offs, a_c3, mask=mask)
        tl.store(gc + 3 * M + offs, a_vth, mask=mask)
        tl.store(gc + 4 * M + offs, a_vr, mask=mask)
        tl.store(gc + 5 * M + offs, a_ci1, mask=mask)
        tl.store(gc + 6 * M + offs, a_ci2, mask=mask)
        tl.store(gc + 7 * M + offs, a_ad, mask=mask)
        tl.store(gc + 8 * M + offs, a_ca, mask=mask)


def build() -> SimpleNamespace:
    """The kernels, ``triton.jit``-decorated now (so in the mode ``TRITON_INTERPRET`` selects now)."""
    return SimpleNamespace(lif_forward=triton.jit(_lif_forward), lif_backward=triton.jit(_lif_backward))
