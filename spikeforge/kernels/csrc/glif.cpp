// Fused multi-step GLIF (kernels/glif_kernel.py): all T steps of a layer in one call, evaluating
// glif_step (neurons/glif.py) operation by operation in its order, each rounding once
// (-ffp-contract=off), so spikes and both states are bit-identical to the reference. The
// parameter-only factors are computed in Python by the step's own torch expressions:
//
//     cin = 1 - beta (1 - conduct),  A = 1 - alpha (1 - decay),  L = (1 - alpha) leak,  Rh = (1 - gamma) v_reth
//
//     v1 = (((A v) (1 - gamma z) - L) + x cin) - Rh z,    z' = H(v1 - v_th),    state (v1, z')
//
// z is the previous step's spike, kept as state and differentiable through the surrogate (the
// state's z is the output z). Backward, per step from T - 1 down, with gV, gZ the gradients of the
// state after the step and gz the output gradient:
//
//     gu = (gz + gZ) SG(v1 - v_th),  g1 = gV + gu,  gvth -= gu,  gx = g1 cin,  gcin += g1 x,  gL -= g1,
//     gA += g1 (1 - gamma z) v,  ggamma -= g1 (A v) z,  gRh -= g1 z,
//     gV <- g1 (1 - gamma z) A,  gZ <- -g1 Rh - g1 (A v) gamma
//
// The trajectory is recomputed per block of neurons into cache-resident buffers (v1 and the
// surrogate derivative: 2 T values per neuron of the block); forward saves nothing but its inputs.
#include "step_math.h"

namespace {

const int64_t GL_CB = 512;  // largest block of neurons
enum GlCoef { G_CIN = 0, G_A, G_GAM, G_L, G_RH, G_VTH, G_NCOEF };

// Per-block coefficients: bit k of cmask set means coefficient k is one value for every neuron.
template <typename R>
struct GlCoefs {
    R c[G_NCOEF][GL_CB];
    void load(const R* const* src, int64_t cmask, int64_t m0, int64_t n) {
        for (int k = 0; k < G_NCOEF; ++k) {
            const bool bcast = cmask >> k & 1;
            for (int64_t j = 0; j < n; ++j) c[k][j] = bcast ? src[k][0] : src[k][m0 + j];
        }
    }
};

inline void gl_report(int64_t t, int64_t m, int64_t code, int64_t* bad) {
#pragma omp critical(sf_glif_nonfinite)
    if (bad[2] == 0 || t < bad[0] || (t == bad[0] && (code < bad[2] || (code == bad[2] && m < bad[1])))) {
        bad[0] = t; bad[1] = m; bad[2] = code;
    }
}

// One GLIF charge from (v, z), in glif_step's operation order.
template <typename R>
inline R gl_charge(R x, R v, R z, R cin, R A, R gam, R L, R Rh) {
    const R i = x * cin;
    R v1 = (A * v) * ((R)1 - gam * z);
    v1 = v1 - L;
    v1 = v1 + i;
    return v1 - Rh * z;
}

// bad = {t, m, code}: code 1 / 2: initial v / z non-finite (t = 0); 3: v non-finite after step t.
template <typename R, bool CHECK>
void gl_forward(int64_t T, int64_t M, const R* x, R* out, const R* v0, const R* z0, R* vT, R* zT,
                const R* const* c, int64_t cmask, int nt, int64_t* bad) {
    const int64_t CH = GL_CB;
    const int64_t nchunks = (M + CH - 1) / CH;
#pragma omp parallel num_threads(nt)
    {
    GlCoefs<R> cb;
#pragma omp for schedule(dynamic, 8)
    for (int64_t ch = 0; ch < nchunks; ++ch) {
        const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
        cb.load(c, cmask, m0, n);
        const R *cin = cb.c[G_CIN], *A = cb.c[G_A], *gam = cb.c[G_GAM], *L = cb.c[G_L], *Rh = cb.c[G_RH];
        const R* vth = cb.c[G_VTH];
        R v[GL_CB], z[GL_CB];
        int64_t t_end = T;
        for (int64_t j = 0; j < n; ++j) {
            v[j] = v0[m0 + j];
            z[j] = z0[m0 + j];
            if (CHECK && t_end && !std::isfinite(v[j])) { gl_report(0, m0 + j, 1, bad); t_end = 0; }
            if (CHECK && t_end && !std::isfinite(z[j])) { gl_report(0, m0 + j, 2, bad); t_end = 0; }
        }
        for (int64_t t = 0; t < t_end; ++t) {
            const R* xt = x + t * M + m0;
            R* ot = out + t * M + m0;
            R probe = (R)0;
#pragma omp simd reduction(+ : probe)
            for (int64_t j = 0; j < n; ++j) {
                const R v1 = gl_charge(xt[j], v[j], z[j], cin[j], A[j], gam[j], L[j], Rh[j]);
                const R s = (R)((v1 - vth[j]) > (R)0);
                ot[j] = s;
                v[j] = v1;
                z[j] = s;
                if (CHECK) probe += v1 - v1;
            }
            if (CHECK && probe != probe) {  // NaN: some membrane of this block is no longer finite
                for (int64_t j = 0; j < n; ++j)
                    if (!std::isfinite(v[j])) { gl_report(t, m0 + j, 3, bad); break; }
                break;  // the call raises; the rest of this block is not needed
            }
        }
        for (int64_t j = 0; j < n; ++j) { vT[m0 + j] = v[j]; zT[m0 + j] = z[j]; }
    }
    }
}

// gc[k]: per-neuron gradient of coefficient k ([M], summed over time), or null.
template <typename R>
void gl_backward(int64_t T, int64_t M, const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx, const R* v0,
                 const R* z0, const R* gvT, const R* gzT, R* gv0, R* gz0, const R* const* c, int64_t cmask,
                 R* const* gc, int sg_kind, double sg_p, int nt) {
    int64_t CH = (int64_t)(384 * 1024) / (std::max<int64_t>(T, 1) * 2 * (int64_t)sizeof(R));
    CH = std::max<int64_t>(16, std::min<int64_t>(GL_CB, CH / 16 * 16));
    const int64_t nchunks = (M + CH - 1) / CH;
    bool needp = false;
    for (int k = 0; k < G_NCOEF; ++k) needp = needp || gc[k];
    const R sa = (R)sg_p;
#pragma omp parallel num_threads(nt)
    {
        std::vector<R> V1((size_t)(T * CH)), SG((size_t)(T * CH));
        GlCoefs<R> cb;
        R v[GL_CB], z[GL_CB], gV[GL_CB], gZ[GL_CB], gzb[GL_CB], acc[G_NCOEF][GL_CB];
#pragma omp for schedule(dynamic, 2)
        for (int64_t ch = 0; ch < nchunks; ++ch) {
            const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
            cb.load(c, cmask, m0, n);
            const R *cin = cb.c[G_CIN], *A = cb.c[G_A], *gam = cb.c[G_GAM], *L = cb.c[G_L], *Rh = cb.c[G_RH];
            const R* vth = cb.c[G_VTH];
            // 1. recompute the trajectory of this block (same arithmetic as gl_forward)
            for (int64_t j = 0; j < n; ++j) { v[j] = v0[m0 + j]; z[j] = z0[m0 + j]; }
            for (int64_t t = 0; t < T; ++t) {
                const R* xt = x + t * M + m0;
                R* v1b = V1.data() + t * CH;
                R* sgb = SG.data() + t * CH;
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    const R v1 = gl_charge(xt[j], v[j], z[j], cin[j], A[j], gam[j], L[j], Rh[j]);
                    const R u = v1 - vth[j];
                    v1b[j] = v1;
                    sgb[j] = u;
                    v[j] = v1;
                    z[j] = (R)(u > (R)0);
                }
                for (int64_t j = 0; j < n; ++j) sgb[j] = sfk::surrogate_grad<R>(sg_kind, sa, sgb[j]);  // u -> dz/du
            }
            // 2. adjoint recurrence, backwards in time
            for (int64_t j = 0; j < n; ++j) {
                gV[j] = gvT ? gvT[m0 + j] : (R)0;
                gZ[j] = gzT ? gzT[m0 + j] : (R)0;
            }
            if (needp)
                for (int k = 0; k < G_NCOEF; ++k) std::fill(acc[k], acc[k] + n, (R)0);
            for (int64_t t = T - 1; t >= 0; --t) {
                const R* gzt = gz + t * gst + m0 * gsm;  // output gradient: unit or zero stride along M
                if (gsm == 0) {
                    for (int64_t j = 0; j < n; ++j) gzb[j] = gzt[0];
                    gzt = gzb;
                }
                const R* xt = x + t * M + m0;
                R* gxt = gx + t * M + m0;
                const R* sgb = SG.data() + t * CH;
                const R* v1p = V1.data() + (t > 0 ? t - 1 : 0) * CH;  // the state before this step (t > 0)
                for (int64_t j = 0; j < n; ++j) {
                    const R vp = t > 0 ? v1p[j] : v0[m0 + j];
                    const R zp = t > 0 ? (R)((v1p[j] - vth[j]) > (R)0) : z0[m0 + j];
                    const R gu = (gzt[j] + gZ[j]) * sgb[j];
                    const R g1 = gV[j] + gu;
                    const R r1 = (R)1 - gam[j] * zp;
                    const R t1 = A[j] * vp;
                    const R gt1 = g1 * r1, gr1 = g1 * t1;
                    if (needp) {
                        acc[G_VTH][j] -= gu;
                        acc[G_CIN][j] += g1 * xt[j];
                        acc[G_L][j] -= g1;
                        acc[G_A][j] += gt1 * vp;
                        acc[G_GAM][j] -= gr1 * zp;
                        acc[G_RH][j] -= g1 * zp;
                    }
                    gxt[j] = g1 * cin[j];
                    gV[j] = gt1 * A[j];
                    gZ[j] = -g1 * Rh[j] - gr1 * gam[j];
                }
            }
            for (int64_t j = 0; j < n; ++j) {
                if (gv0) gv0[m0 + j] = gV[j];
                if (gz0) gz0[m0 + j] = gZ[j];
            }
            if (needp)
                for (int k = 0; k < G_NCOEF; ++k)
                    if (gc[k]) for (int64_t j = 0; j < n; ++j) gc[k][m0 + j] = acc[k][j];
        }
    }
}

}  // namespace

#define SF_GLIF_EXPORT(R, SUF)                                                                          \
extern "C" int sf_glif_forward_##SUF(int64_t T, int64_t M, const R* x, R* z, const R* v0, const R* z0,  \
                                     R* vT, R* zT, const R* const* c, int64_t cmask, int nt, int check, \
                                     int64_t* bad) {                                                    \
    if (check) gl_forward<R, true>(T, M, x, z, v0, z0, vT, zT, c, cmask, nt, bad);                      \
    else gl_forward<R, false>(T, M, x, z, v0, z0, vT, zT, c, cmask, nt, bad);                           \
    return 0;                                                                                           \
}                                                                                                       \
extern "C" int sf_glif_backward_##SUF(int64_t T, int64_t M, const R* x, const R* gz, int64_t gst,       \
                                      int64_t gsm, R* gx, const R* v0, const R* z0, const R* gvT,       \
                                      const R* gzT, R* gv0, R* gz0, const R* const* c, int64_t cmask,   \
                                      R* const* gc, int sg_kind, double sg_p, int nt) {                 \
    if (gsm != 0 && gsm != 1) return 1;                                                                 \
    gl_backward<R>(T, M, x, gz, gst, gsm, gx, v0, z0, gvT, gzT, gv0, gz0, c, cmask, gc, sg_kind, sg_p, nt); \
    return 0;                                                                                           \
}

SF_GLIF_EXPORT(float, f32)
SF_GLIF_EXPORT(double, f64)
