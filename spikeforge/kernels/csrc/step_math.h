// Per-element pieces of the LIF-family step: the codes and the reset are shared by the multi-step
// kernels (lif.cpp), the SLTT step kernel (sltt.cpp) and the state-quantized kernel
// (quant_lif.cpp); the per-element surrogate derivative and membrane quantization by the latter two;
// the adjoint of the spike and reset by lif.cpp and the fused LIF + pooling kernel (lif_pool.cpp).
//
// Codes are those of lif.cpp and kernels/specs.py (kinds, resets, coefficient and state slots,
// surrogate codes of kernels/cpu.py). Each expression is written in the reference step function's
// operation order; the library is built with -ffp-contract=off, so each operation rounds once.
// surrogate_grad switches per element; surrogate_inplace applies the same formulas over a buffer, one
// loop per surrogate so each vectorises (the multi-step kernels' backward passes). A new surrogate goes
// into both.
#pragma once

#include "common.h"

namespace sfk {

enum Kind { K_LIF = 0, K_CUBA = 1, K_ALIF = 2, K_LI = 3 };
enum Reset { R_SUB = 0, R_VAL = 1, R_ZERO = 2, R_NONE = 3 };
enum Coef { C1 = 0, C2, C3, VTH, VR, CI1, CI2, ADAPT, CA, NCOEF };
enum Slot { S_I = 0, S_V = 1, S_A = 2 };

// CALL(Kind, Reset) for the runtime (kind, reset) pair every fused kernel supports: the LIF, CuBa
// and ALIF kinds with each reset, LI without one; any other pair returns 1 from the caller.
#define SF_DISPATCH(KIND, RESET, CALL)                                              \
    switch (KIND * 4 + RESET) {                                                     \
    case 0: CALL(K_LIF, R_SUB); break;   case 1: CALL(K_LIF, R_VAL); break;         \
    case 2: CALL(K_LIF, R_ZERO); break;  case 3: CALL(K_LIF, R_NONE); break;        \
    case 4: CALL(K_CUBA, R_SUB); break;  case 5: CALL(K_CUBA, R_VAL); break;        \
    case 6: CALL(K_CUBA, R_ZERO); break; case 7: CALL(K_CUBA, R_NONE); break;       \
    case 8: CALL(K_ALIF, R_SUB); break;  case 9: CALL(K_ALIF, R_VAL); break;        \
    case 10: CALL(K_ALIF, R_ZERO); break; case 11: CALL(K_ALIF, R_NONE); break;     \
    case 15: CALL(K_LI, R_NONE); break;                                             \
    default: return 1;                                                              \
    }

// reset(v1, s, theta, vr) as neurons/_reset.py (subtract / value / zero / none).
template <typename R, int RS>
inline R reset_value(R v1, R s, R theta, R vr) {
    if (RS == R_SUB) return v1 - s * theta;
    if (RS == R_VAL) return v1 * ((R)1 - s) + s * vr;
    if (RS == R_ZERO) return v1 * ((R)1 - s);
    return v1;
}

// Adjoint of one step's spike and reset, for the backward passes of lif.cpp (LIF, CuBa, ALIF kinds)
// and lif_pool.cpp (LIF kind). Forward: z = H(u), u = v1 - theta, v' = reset(v1, z, theta, vr).
// In: g = dL/dv', gz = dL/dz from the outputs, ga = dL/dz through ALIF's adaptation (kind ALIF only),
// sg = dz/du (the surrogate), keep = 0 when the reset's spike is detached, else 1. Returns
// gv1 = dL/dv1 through both paths; gu = dL/du, and the reset's own partials dth (by theta) and dvr
// (by vr), for the parameter gradients. Operation order as the torch reference's autograd (each
// operation rounds once: -ffp-contract=off), so both kernels give the same bits as before.
// DET (both kernels, for a detached reset or none): the reference's autograd never forms the reset's
// spike product ds, so neither does this (keep * ds with keep = 0 turns an infinite ds into NaN and a
// -0.0 gz into +0.0); only gz (and ALIF's ga) reach dz, and keep is not read.
// A reset without theta (value, zero, none) gives theta no term of its own: dth = -0.0, the identity of
// the sum dth - gu, which is then -gu as the reference's (+0.0 - +0.0 would be +0.0, -gu is -0.0).
template <typename R, int K, int RS, bool DET = false>
inline __attribute__((always_inline)) R spike_reset_adjoint(R g, R gz, R ga, R v1, R theta, R vr, R sg, R keep,
                                                            R& gu, R& dth, R& dvr) {
    const R s = (R)((v1 - theta) > (R)0);
    R dv1, ds;
    dth = (R)-0.0;
    dvr = (R)0;
    if (RS == R_SUB) { dv1 = g; ds = -g * theta; dth = -g * s; }
    else if (RS == R_VAL) { dv1 = g * ((R)1 - s); ds = g * (vr - v1); dvr = g * s; }
    else if (RS == R_ZERO) { dv1 = g * ((R)1 - s); ds = -g * v1; }
    else { dv1 = g; ds = (R)0; }
    R gs = gz;
    if (!DET) gs = gs + keep * ds;
    if (K == K_ALIF) gs = gs + ga;
    gu = gs * sg;
    return dv1 + gu;
}

// The fast sigmoid's dz/du = 1 / (1 + a|u|)^2 (surrogate code 3), in the reference's operation order:
// one copy for surrogate_grad, surrogate_inplace and lif.cpp's fused recompute.
template <typename R>
inline __attribute__((always_inline)) R fast_sigmoid_grad(R a, R u) {
    const R w = (R)1 + a * std::fabs(u);
    return (R)1 / (w * w);
}

// dz/du of the spike function at u = v1 - theta (surrogate codes of kernels/cpu.py, scale a).
template <typename R>
inline R surrogate_grad(int kind, R a, R u) {
    switch (kind) {
    case 0: return (R)1;  // straight-through
    case 1: { R s = (R)1 / ((R)1 + std::exp(-a * u)); return a * s * ((R)1 - s); }  // sigmoid
    case 2: { R w = (R)(M_PI / 2) * a * u; return (a / (R)2) / ((R)1 + w * w); }  // atan
    case 3: return fast_sigmoid_grad(a, u);  // fast sigmoid
    case 4: { R w = (R)1 - std::fabs(u) / a; return (w > (R)0 ? w : (R)0) / a; }  // triangle
    case 5: return (std::fabs(u) < a / (R)2 ? (R)1 : (R)0) / a;  // rectangle
    case 6: { R w = u / a; return std::exp((R)-0.5 * w * w) / (a * (R)std::sqrt(2 * M_PI)); }  // erf
    case 7: { R w = a - a * a * std::fabs(u); return w > (R)0 ? w : (R)0; }  // piecewise quadratic
    case 8: { R w = (u - a / (R)2) / a; return std::exp((R)-0.5 * w * w) / (a * (R)std::sqrt(2 * M_PI)); }  // pdsg
    case 9: return std::pow((R)1 + (R)2 * std::fabs(u) / (a - (R)1), -a);  // q-PseudoSpike(q)
    }
    return (R)0;
}

// Prefetch n values at p (a block's slice of one [M] row) (one line per 64 bytes); rw = 1 for a row about to be written. A block reads
// only n values of each [M] row, so at large M every step starts a new page, where the hardware
// prefetchers stop: rows two steps ahead are fetched by hand.
template <typename R>
inline void prefetch_values(const R* p, int64_t n, bool rw) {
    const int64_t per = 64 / (int64_t)sizeof(R);
    for (int64_t k = 0; k < n; k += per) {
        if (rw) __builtin_prefetch(p + k, 1, 3);
        else __builtin_prefetch(p + k, 0, 3);
    }
}

// u -> dz/du in place over a buffer of n values u = v - theta: surrogate_grad's codes and formulas (the
// torch reference's operation order), one loop per kind so that each vectorises.
template <typename R>
void surrogate_inplace(int kind, R a, R* u, int64_t n) {
    switch (kind) {
    case 0: for (int64_t k = 0; k < n; ++k) u[k] = (R)1; break;
    case 1: for (int64_t k = 0; k < n; ++k) { R s = (R)1 / ((R)1 + std::exp(-a * u[k])); u[k] = a * s * ((R)1 - s); } break;
    case 2: {
        const R h = a / (R)2, q = (R)(M_PI / 2) * a;
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) { R w = q * u[k]; u[k] = h / ((R)1 + w * w); }
        break; }
    case 3:
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) u[k] = fast_sigmoid_grad(a, u[k]);
        break;
    case 4:
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) { R w = (R)1 - std::fabs(u[k]) / a; u[k] = (w > (R)0 ? w : (R)0) / a; }
        break;
    case 5:
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) u[k] = (std::fabs(u[k]) < a / (R)2 ? (R)1 : (R)0) / a;
        break;
    case 6: {
        const R d = a * (R)std::sqrt(2 * M_PI);
        for (int64_t k = 0; k < n; ++k) { R w = u[k] / a; u[k] = std::exp((R)-0.5 * w * w) / d; }
        break; }
    case 7:
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) { R w = a - a * a * std::fabs(u[k]); u[k] = w > (R)0 ? w : (R)0; }
        break;
    case 8: {
        const R d = a * (R)std::sqrt(2 * M_PI), mu = a / (R)2;
        for (int64_t k = 0; k < n; ++k) { R w = (u[k] - mu) / a; u[k] = std::exp((R)-0.5 * w * w) / d; }
        break; }
    case 9: for (int64_t k = 0; k < n; ++k) u[k] = std::pow((R)1 + (R)2 * std::fabs(u[k]) / (a - (R)1), -a); break;
    default: for (int64_t k = 0; k < n; ++k) u[k] = (R)0; break;
    }
}

// A membrane quantizer: nearest of L ascending levels, the lower one on a tie. `mids` are the
// L - 1 decision boundaries (levels[k] + levels[k + 1]) / 2, computed by Python in the compute
// dtype exactly as quant/state_quant.py computes them. nlev == 0: no quantization.
template <typename R>
struct Levels {
    const R* levels;
    const R* mids;
    int64_t nlev;
};

// q(v) = levels[#{k : mids[k] < v}] + (v - v): torch.bucketize(v, mids) (right=False) picks the
// same index, and quant.fake_quant.ste writes the value as q + (v - v) (NaN/inf v give NaN).
template <typename R>
inline R quantize(R v, const Levels<R>& q) {
    int64_t lo = 0, hi = q.nlev - 1;
    while (lo < hi) {
        const int64_t mid = (lo + hi) / 2;
        if (q.mids[mid] < v) lo = mid + 1; else hi = mid;
    }
    return q.levels[lo] + (v - v);
}

}  // namespace sfk
