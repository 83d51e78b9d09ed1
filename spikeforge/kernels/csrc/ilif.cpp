// Fused multi-step I-LIF and NI-LIF (kernels/ilif_kernel.py): all T steps of a layer in one call,
// evaluating ilif_step / nilif_step (neurons/ilif.py, neurons/nilif.py) operation by operation in
// their order, each rounding once (-ffp-contract=off), so outputs and state are bit-identical:
//
//     v1 = v + (x - v) * k                     k = dt / tau_mem, computed in Python by the same torch expression
//     w  = v1 / th,   a = max(w, 0),   m = minimum(a, D)          (NaN stays NaN, as torch's clamp / minimum)
//     q  = m (I-LIF)  or  m / D (NI-LIF)
//     u  = nan_to_num(q, nan = 0),   sh = round(u) (half to even),   out = u + (sh - u)
//     v' = v1 - sh * th
//
// Backward is torch's autograd of those ops: out = u + (sh - u.detach()) gives dout/du = 1; then
// nan_to_num (grad * isfinite(q)), the division by D (NI-LIF), minimum (a tie a == D sends half to
// each side), clamp(min=0) (grad where w >= 0), v1 / th, and the reset through the detached sh:
//
//     gq = gz isfinite(q),  gm = gq [/ D],  ga, gD from minimum,  gw = ga [w >= 0]
//     gv1 = gv' + gw / th,  gth += -gw (w / th) - gv' sh,  gk += gv1 (x - v),  gx = gv1 k,  gv <- gv1 - gv1 k
//
// The trajectory is recomputed per block of neurons into cache-resident buffers (v1 and the state
// before each step: 2 T values per neuron of the block); nothing but the inputs is saved by forward.
#include "common.h"

namespace {

const int64_t IL_CB = 512;  // largest block of neurons

// Bit b of cmask set: coefficient b is one value for every neuron (a 1-element array).
template <typename R>
inline void il_coef(R* dst, const R* src, bool bcast, int64_t m0, int64_t n) {
    for (int64_t j = 0; j < n; ++j) dst[j] = bcast ? src[0] : src[m0 + j];
}

inline void il_report(int64_t t, int64_t m, int64_t code, int64_t* bad) {
#pragma omp critical(sf_ilif_nonfinite)
    if (bad[2] == 0 || t < bad[0] || (t == bad[0] && (code < bad[2] || (code == bad[2] && m < bad[1])))) {
        bad[0] = t; bad[1] = m; bad[2] = code;
    }
}

// The output part of the step from the charged membrane v1: q (before nan_to_num) and sh = round(u).
template <typename R, bool NORM>
inline void il_out(R v1, R th, R d, R& w, R& a, R& m, R& q, R& u, R& sh) {
    w = v1 / th;
    a = w < (R)0 ? (R)0 : w;       // clamp(min=0): std::max(w, 0), NaN propagates
    m = d < a ? d : a;             // minimum(a, D): D is finite, a NaN propagates
    q = NORM ? m / d : m;
    u = q != q ? (R)0 : q;         // nan_to_num(nan=0); q cannot be +-inf (0 <= m <= D)
    sh = std::nearbyint(u);        // torch.round: half to even in the default rounding mode
}

// bad = {t, m, code}: code 1 = non-finite initial state v (t = 0), 2 = state v non-finite after step t.
template <typename R, bool NORM, bool CHECK>
void il_forward(int64_t T, int64_t M, const R* x, R* z, const R* v0, R* vT, const R* kc, const R* thc,
                const R* dc, int64_t cmask, int nt, int64_t* bad) {
    const int64_t CH = IL_CB;
    const int64_t nchunks = (M + CH - 1) / CH;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 8)
    for (int64_t ch = 0; ch < nchunks; ++ch) {
        const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
        R v[IL_CB], k[IL_CB], th[IL_CB], d[IL_CB];
        il_coef(k, kc, cmask & 1, m0, n);
        il_coef(th, thc, cmask >> 1 & 1, m0, n);
        il_coef(d, dc, cmask >> 2 & 1, m0, n);
        int64_t t_end = T;
        for (int64_t j = 0; j < n; ++j) {
            v[j] = v0[m0 + j];
            if (CHECK && !std::isfinite(v[j]) && t_end) { il_report(0, m0 + j, 1, bad); t_end = 0; }
        }
        for (int64_t t = 0; t < t_end; ++t) {
            const R* xt = x + t * M + m0;
            R* zt = z + t * M + m0;
            R probe = (R)0;
#pragma omp simd reduction(+ : probe)
            for (int64_t j = 0; j < n; ++j) {
                const R v1 = v[j] + (xt[j] - v[j]) * k[j];
                R w, a, m, q, u, sh;
                il_out<R, NORM>(v1, th[j], d[j], w, a, m, q, u, sh);
                zt[j] = u + (sh - u);
                v[j] = v1 - sh * th[j];
                if (CHECK) probe += v[j] - v[j];
            }
            if (CHECK && probe != probe) {  // NaN: some membrane of this block is no longer finite
                for (int64_t j = 0; j < n; ++j)
                    if (!std::isfinite(v[j])) { il_report(t, m0 + j, 2, bad); break; }
                break;  // the call raises; the rest of this block is not needed
            }
        }
        for (int64_t j = 0; j < n; ++j) vT[m0 + j] = v[j];
    }
}

// gk, gth, gd: per-neuron gradients of the coefficients ([M], summed over time), or null.
template <typename R, bool NORM>
void il_backward(int64_t T, int64_t M, const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx, const R* v0,
                 const R* gvT, R* gv0, const R* kc, const R* thc, const R* dc, int64_t cmask, R* gk, R* gth,
                 R* gd, int nt) {
    int64_t CH = (int64_t)(384 * 1024) / (std::max<int64_t>(T, 1) * 2 * (int64_t)sizeof(R));
    CH = std::max<int64_t>(16, std::min<int64_t>(IL_CB, CH / 16 * 16));
    const int64_t nchunks = (M + CH - 1) / CH;
    const bool needp = gk || gth || gd;
#pragma omp parallel num_threads(nt)
    {
        std::vector<R> V1((size_t)(T * CH)), SV((size_t)(T * CH));
        R v[IL_CB], gv[IL_CB], gzb[IL_CB], k[IL_CB], th[IL_CB], d[IL_CB], ak[IL_CB], ath[IL_CB], ad[IL_CB];
#pragma omp for schedule(dynamic, 2)
        for (int64_t ch = 0; ch < nchunks; ++ch) {
            const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
            il_coef(k, kc, cmask & 1, m0, n);
            il_coef(th, thc, cmask >> 1 & 1, m0, n);
            il_coef(d, dc, cmask >> 2 & 1, m0, n);
            // 1. recompute the trajectory of this block (same arithmetic as il_forward)
            for (int64_t j = 0; j < n; ++j) v[j] = v0[m0 + j];
            for (int64_t t = 0; t < T; ++t) {
                const R* xt = x + t * M + m0;
                R* v1b = V1.data() + t * CH;
                R* svb = SV.data() + t * CH;
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    svb[j] = v[j];
                    const R v1 = v[j] + (xt[j] - v[j]) * k[j];
                    R w, a, m, q, u, sh;
                    il_out<R, NORM>(v1, th[j], d[j], w, a, m, q, u, sh);
                    v1b[j] = v1;
                    v[j] = v1 - sh * th[j];
                }
            }
            // 2. adjoint recurrence, backwards in time
            for (int64_t j = 0; j < n; ++j) {
                gv[j] = gvT ? gvT[m0 + j] : (R)0;
                ak[j] = ath[j] = ad[j] = (R)0;
            }
            for (int64_t t = T - 1; t >= 0; --t) {
                const R* gzt = gz + t * gst + m0 * gsm;  // output gradient: unit or zero stride along M
                if (gsm == 0) {
                    for (int64_t j = 0; j < n; ++j) gzb[j] = gzt[0];
                    gzt = gzb;
                }
                const R* xt = x + t * M + m0;
                R* gxt = gx + t * M + m0;
                const R* v1b = V1.data() + t * CH;
                const R* svb = SV.data() + t * CH;
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    const R v1 = v1b[j];
                    R w, a, m, q, u, sh;
                    il_out<R, NORM>(v1, th[j], d[j], w, a, m, q, u, sh);
                    const R gq = q == q ? gzt[j] : (R)0;  // nan_to_num: grad * isfinite(q)
                    R gm = gq;
                    R gdd = (R)0;
                    if (NORM) { gm = gq / d[j]; gdd = -gq * (q / d[j]); }
                    const bool tie = a == d[j];
                    const R half = gm / (R)2;
                    const R ga = tie ? half : (a > d[j] ? (R)0 : gm);
                    gdd += tie ? half : (a < d[j] ? (R)0 : gm);
                    const R gw = w >= (R)0 ? ga : (R)0;
                    const R gvn = gv[j];
                    const R gv1 = gvn + gw / th[j];
                    if (needp) {
                        ath[j] += -gw * (w / th[j]) - gvn * sh;
                        ad[j] += gdd;
                        ak[j] += gv1 * (xt[j] - svb[j]);
                    }
                    gxt[j] = gv1 * k[j];
                    gv[j] = gv1 - gv1 * k[j];
                }
            }
            for (int64_t j = 0; j < n; ++j) {
                if (gv0) gv0[m0 + j] = gv[j];
                if (gk) gk[m0 + j] = ak[j];
                if (gth) gth[m0 + j] = ath[j];
                if (gd) gd[m0 + j] = ad[j];
            }
        }
    }
}

}  // namespace

#define SF_ILIF_EXPORT(R, SUF)                                                                          \
extern "C" int sf_ilif_forward_##SUF(int norm, int64_t T, int64_t M, const R* x, R* z, const R* v0,     \
                                     R* vT, const R* k, const R* th, const R* d, int64_t cmask, int nt, \
                                     int check, int64_t* bad) {                                         \
    if (norm) {                                                                                         \
        if (check) il_forward<R, true, true>(T, M, x, z, v0, vT, k, th, d, cmask, nt, bad);             \
        else il_forward<R, true, false>(T, M, x, z, v0, vT, k, th, d, cmask, nt, bad);                  \
    } else {                                                                                            \
        if (check) il_forward<R, false, true>(T, M, x, z, v0, vT, k, th, d, cmask, nt, bad);            \
        else il_forward<R, false, false>(T, M, x, z, v0, vT, k, th, d, cmask, nt, bad);                 \
    }                                                                                                   \
    return 0;                                                                                           \
}                                                                                                       \
extern "C" int sf_ilif_backward_##SUF(int norm, int64_t T, int64_t M, const R* x, const R* gz,          \
                                      int64_t gst, int64_t gsm, R* gx, const R* v0, const R* gvT,       \
                                      R* gv0, const R* k, const R* th, const R* d, int64_t cmask,       \
                                      R* gk, R* gth, R* gd, int nt) {                                   \
    if (gsm != 0 && gsm != 1) return 1;                                                                 \
    if (norm) il_backward<R, true>(T, M, x, gz, gst, gsm, gx, v0, gvT, gv0, k, th, d, cmask, gk, gth, gd, nt); \
    else il_backward<R, false>(T, M, x, gz, gst, gsm, gx, v0, gvT, gv0, k, th, d, cmask, gk, gth, gd, nt); \
    return 0;                                                                                           \
}

SF_ILIF_EXPORT(float, f32)
SF_ILIF_EXPORT(double, f64)
