// Fused multi-step AstroLIF kernel (spikeforge/neurons/astro_lif.py::astro_lif_step): one call runs
// all T steps of a layer, evaluating the step's torch operations in their order, with coefficients
// computed in Python by the step's expressions:
//
//     v1    = (c1 v + c2 x) + c3                  leaky_integrate
//     theta = vth * (k a + 1)                     v_th (1 + k_astro a)
//     z     = H(v1 - theta)                       surrogate derivative SG(v1 - theta) in backward
//     v'    = reset(v1, z, theta, vr)             subtract / value / zero / none (step_math.h)
//     a'    = ad a + af zbar                      step_fractions(tau_astro): decay, frac
//
// zbar is z (dom = 1: every neuron its own astrocyte) or the mean spike of the neuron's domain: dom
// consecutive neurons of the flat [M] order (Python passes the step in row-major order, so these are
// consecutive neurons of the last dim). The sum of 0/1 spikes is exact in any order and torch's mean
// divides it by dom once, as here. Blocks hold whole domains.
//
// Backward recomputes the trajectory of a block of neurons into cache-resident buffers (membrane and
// astrocyte state before each step: 2 T values per neuron of the block; nothing is saved in forward
// but the inputs), then runs the adjoint recurrence backwards in time, accumulating per-neuron
// gradients of the eight coefficients (summed over time).
#include "common.h"
#include "step_math.h"

namespace {

using sfk::R_NONE;
using sfk::R_SUB;
using sfk::R_VAL;
using sfk::R_ZERO;

enum AstroCoef { A_C1 = 0, A_C2, A_C3, A_VTH, A_K, A_VR, A_AD, A_AF, A_NCOEF };
const int64_t AS_CB = 256;  // neurons per block

// Coefficient k of block neuron j: c[k][(m0 + j) * cs[k]] (stride 0: one value for the layer).
template <typename R>
struct AstroCoefs {
    const R* p[A_NCOEF];
    int64_t s[A_NCOEF];
    R operator()(int k, int64_t m) const { return p[k][m * s[k]]; }
};

inline void astro_report(int64_t t, int64_t m, int64_t code, int64_t* bad) {
#pragma omp critical(sf_astro_lif_nonfinite)
    {
        const int64_t ph = code >= 3, bph = bad[2] >= 3;
        const bool before = bad[2] == 0 || (t != bad[0] ? t < bad[0] : (ph != bph ? ph < bph : m < bad[1]));
        if (before) { bad[0] = t; bad[1] = m; bad[2] = code; }
    }
}

// bad = {t, m, code}: code 1/2 = non-finite initial v/a, 3/4 = v/a non-finite after step t.
// Mean spike of each block neuron's domain (dom > 1), in place of the spikes themselves.
template <typename R>
inline void domain_means(R* s, int64_t n, int64_t dom) {
    for (int64_t g = 0; g < n; g += dom) {
        R sum = (R)0;
        for (int64_t i = g; i < g + dom; ++i) sum += s[i];
        const R mean = sum / (R)dom;
        for (int64_t i = g; i < g + dom; ++i) s[i] = mean;
    }
}

template <typename R, int RS, bool CHECK>
void astro_forward(int64_t T, int64_t M, int64_t dom, const R* x, R* z, const R* v0, const R* a0, R* vT, R* aT,
                   const AstroCoefs<R>& c, int nthreads, int64_t* bad) {
    const int64_t CB = AS_CB / dom * dom;  // whole domains per block
    const int64_t nblk = (M + CB - 1) / CB;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 4)
    for (int64_t b = 0; b < nblk; ++b) {
        const int64_t m0 = b * CB, n = std::min(CB, M - m0);
        R v[AS_CB], a[AS_CB], zb[AS_CB];
        for (int64_t j = 0; j < n; ++j) { v[j] = v0[m0 + j]; a[j] = a0[m0 + j]; }
        int64_t t_end = T;
        if (CHECK) {
            for (int64_t j = 0; j < n; ++j) {
                if (!std::isfinite(v[j])) { astro_report(0, m0 + j, 1, bad); t_end = 0; break; }
                if (!std::isfinite(a[j])) { astro_report(0, m0 + j, 2, bad); t_end = 0; break; }
            }
        }
        for (int64_t t = 0; t < t_end; ++t) {
            const R* xt = x + t * M + m0;
            R* zt = z + t * M + m0;
            R probe = (R)0;
            for (int64_t j = 0; j < n; ++j) {
                const int64_t m = m0 + j;
                R v1 = c(A_C1, m) * v[j] + c(A_C2, m) * xt[j];
                v1 = v1 + c(A_C3, m);
                const R theta = c(A_VTH, m) * (c(A_K, m) * a[j] + (R)1);
                const R s = (R)((v1 - theta) > (R)0);
                zt[j] = s;
                zb[j] = s;
                v[j] = sfk::reset_value<R, RS>(v1, s, theta, c(A_VR, m));
            }
            if (dom > 1) domain_means(zb, n, dom);
            for (int64_t j = 0; j < n; ++j) {
                const int64_t m = m0 + j;
                a[j] = c(A_AD, m) * a[j] + c(A_AF, m) * zb[j];
                if (CHECK) probe += (v[j] - v[j]) + (a[j] - a[j]);
            }
            if (CHECK && probe != probe) {
                for (int64_t j = 0; j < n; ++j) {
                    if (!std::isfinite(v[j])) { astro_report(t, m0 + j, 3, bad); break; }
                    if (!std::isfinite(a[j])) { astro_report(t, m0 + j, 4, bad); break; }
                }
                break;
            }
        }
        for (int64_t j = 0; j < n; ++j) { vT[m0 + j] = v[j]; aT[m0 + j] = a[j]; }
    }
}

// Block values of every coefficient, contiguous: cb[k][j] = coefficient k of neuron m0 + j (a
// stride-0 coefficient is broadcast), so the backward's inner loops read arrays and vectorise.
template <typename R>
inline void astro_block_coefs(const AstroCoefs<R>& c, int64_t m0, int64_t n, R (*cb)[AS_CB]) {
    for (int k = 0; k < A_NCOEF; ++k) {
        if (c.s[k] == 0) { const R v = c.p[k][0]; for (int64_t j = 0; j < n; ++j) cb[k][j] = v; }
        else for (int64_t j = 0; j < n; ++j) cb[k][j] = c.p[k][(m0 + j) * c.s[k]];
    }
}

template <typename R, int RS>
void astro_backward(int64_t T, int64_t M, int64_t dom, const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx, const R* v0,
                    const R* a0, const R* gvT, const R* gaT, R* gv0, R* ga0, const AstroCoefs<R>& c, R* const* gc,
                    int detach, int sg_kind, double sg_p, int nthreads) {
    int64_t CH = (int64_t)(384 * 1024) / (std::max<int64_t>(T, 1) * 2 * (int64_t)sizeof(R));
    CH = std::max<int64_t>(8, std::min<int64_t>(AS_CB, CH / 8 * 8));
    CH = std::max<int64_t>(1, CH / dom) * dom;  // whole domains per block (dom <= AS_CB)
    const int64_t nblk = (M + CH - 1) / CH;
    const R keep = detach ? (R)0 : (R)1;
    const R sp = (R)sg_p;
#pragma omp parallel num_threads(nthreads)
    {
        std::vector<R> VB((size_t)(T * CH)), AB((size_t)(T * CH));
        R v[AS_CB], a[AS_CB], gv[AS_CB], ga[AS_CB], acc[A_NCOEF][AS_CB], zb[AS_CB], gq[AS_CB];
        R cb[A_NCOEF][AS_CB], sg[AS_CB], gzb[AS_CB];
#pragma omp for schedule(dynamic, 2)
        for (int64_t b = 0; b < nblk; ++b) {
            const int64_t m0 = b * CH, n = std::min(CH, M - m0);
            astro_block_coefs<R>(c, m0, n, cb);
            const R *c1b = cb[A_C1], *c2b = cb[A_C2], *c3b = cb[A_C3], *vthb = cb[A_VTH], *kb = cb[A_K], *vrb = cb[A_VR];
            const R *adb = cb[A_AD], *afb = cb[A_AF];
            for (int64_t j = 0; j < n; ++j) { v[j] = v0[m0 + j]; a[j] = a0[m0 + j]; }
            for (int64_t t = 0; t < T; ++t) {  // 1. the forward trajectory of this block
                const R* xt = x + t * M + m0;
                R *vb = VB.data() + t * CH, *ab = AB.data() + t * CH;
                for (int64_t j = 0; j < n; ++j) {
                    vb[j] = v[j]; ab[j] = a[j];
                    R v1 = c1b[j] * v[j] + c2b[j] * xt[j];
                    v1 = v1 + c3b[j];
                    const R theta = vthb[j] * (kb[j] * a[j] + (R)1);
                    const R s = (R)((v1 - theta) > (R)0);
                    v[j] = sfk::reset_value<R, RS>(v1, s, theta, vrb[j]);
                    zb[j] = s;
                }
                if (dom > 1) domain_means(zb, n, dom);
                for (int64_t j = 0; j < n; ++j) a[j] = adb[j] * a[j] + afb[j] * zb[j];
            }
            for (int64_t j = 0; j < n; ++j) {  // 2. adjoint recurrence, backwards in time
                gv[j] = gvT ? gvT[m0 + j] : (R)0;
                ga[j] = gaT ? gaT[m0 + j] : (R)0;
                for (int k = 0; k < A_NCOEF; ++k) acc[k][j] = (R)0;
            }
            for (int64_t t = T - 1; t >= 0; --t) {
                const R* xt = x + t * M + m0;
                const R* gzt = gz + t * gst + m0 * gsm;  // output gradient, any strides: contiguous in gzb
                if (gsm != 1) {
                    for (int64_t j = 0; j < n; ++j) gzb[j] = gzt[j * gsm];
                    gzt = gzb;
                }
                const R *vb = VB.data() + t * CH, *ab = AB.data() + t * CH;
                R* gxt = gx + t * M + m0;
                // zbar of this step and the gradient each spike receives through a' (dom > 1: the
                // domain's sum of ga' af, divided by dom as torch's mean backward does)
                for (int64_t j = 0; j < n; ++j) {
                    R v1 = c1b[j] * vb[j] + c2b[j] * xt[j];
                    v1 = v1 + c3b[j];
                    const R u = v1 - vthb[j] * (kb[j] * ab[j] + (R)1);
                    zb[j] = (R)(u > (R)0);
                    sg[j] = u;
                    gq[j] = ga[j] * afb[j];
                }
                sfk::surrogate_inplace<R>(sg_kind, sp, sg, n);  // u -> dz/du
                if (dom > 1) {
                    domain_means(zb, n, dom);
                    for (int64_t g0 = 0; g0 < n; g0 += dom) {
                        R sum = (R)0;
                        for (int64_t i = g0; i < g0 + dom; ++i) sum += gq[i];
                        for (int64_t i = g0; i < g0 + dom; ++i) gq[i] = sum / (R)dom;
                    }
                }
                for (int64_t j = 0; j < n; ++j) {
                    const R vp = vb[j], ap = ab[j], xv = xt[j];
                    const R c1 = c1b[j], c2 = c2b[j], vth = vthb[j], k = kb[j], vr = vrb[j];
                    const R ad = adb[j];
                    R v1 = c1 * vp + c2 * xv;
                    v1 = v1 + c3b[j];
                    const R w = k * ap + (R)1, theta = vth * w, u = v1 - theta;
                    const R s = (R)(u > (R)0);
                    const R g = gv[j], gan = ga[j];
                    R dv1, ds, dth = (R)0, dvr = (R)0;  // reset's partial derivatives
                    if (RS == R_SUB) { dv1 = g; ds = -g * theta; dth = -g * s; }
                    else if (RS == R_VAL) { dv1 = g * ((R)1 - s); ds = g * (vr - v1); dvr = g * s; }
                    else if (RS == R_ZERO) { dv1 = g * ((R)1 - s); ds = -g * v1; }
                    else { dv1 = g; ds = (R)0; }
                    const R gs = gzt[j] + keep * ds + gq[j];
                    const R gu = gs * sg[j];
                    const R gv1 = dv1 + gu;
                    const R gth = dth - gu;
                    const R gw = gth * vth;
                    acc[A_C1][j] += gv1 * vp;
                    acc[A_C2][j] += gv1 * xv;
                    acc[A_C3][j] += gv1;
                    acc[A_VTH][j] += gth * w;
                    acc[A_K][j] += gw * ap;
                    acc[A_VR][j] += dvr;
                    acc[A_AD][j] += gan * ap;
                    acc[A_AF][j] += gan * zb[j];
                    gxt[j] = gv1 * c2;
                    gv[j] = gv1 * c1;
                    ga[j] = gan * ad + gw * k;
                }
            }
            for (int64_t j = 0; j < n; ++j) {
                if (gv0) gv0[m0 + j] = gv[j];
                if (ga0) ga0[m0 + j] = ga[j];
                for (int k = 0; k < A_NCOEF; ++k)
                    if (gc[k]) gc[k][m0 + j] = acc[k][j];
            }
        }
    }
}

template <typename R>
AstroCoefs<R> astro_coefs(const R* const* c, const int64_t* cs) {
    AstroCoefs<R> out;
    for (int k = 0; k < A_NCOEF; ++k) { out.p[k] = c[k]; out.s[k] = cs[k]; }
    return out;
}

}  // namespace

#define SF_ASTRO_RESET(RESET, CALL)                                    \
    switch (RESET) {                                                   \
    case 0: CALL(R_SUB); break;  case 1: CALL(R_VAL); break;           \
    case 2: CALL(R_ZERO); break; case 3: CALL(R_NONE); break;          \
    default: return 1;                                                 \
    }

#define SF_ASTRO_EXPORT(R, SUF)                                                                              \
extern "C" int sf_astro_lif_forward_##SUF(int reset, int64_t T, int64_t M, int64_t dom, const R* x, R* z, const R* v0,    \
                                          const R* a0, R* vT, R* aT, const R* const* c, const int64_t* cs,   \
                                          int nt, int check, int64_t* bad) {                                 \
    if (dom < 1 || dom > AS_CB || M % dom) return 2;                                                         \
    const AstroCoefs<R> co = astro_coefs<R>(c, cs);                                                          \
    _SF_ASTRO_FWD(R)                                                                                         \
    return 0;                                                                                                \
}                                                                                                            \
extern "C" int sf_astro_lif_backward_##SUF(int reset, int detach, int sg_kind, double sg_p, int64_t T,       \
                                           int64_t M, int64_t dom, const R* x, const R* gz, int64_t gst, int64_t gsm,     \
                                           R* gx, const R* v0, const R* a0, const R* gvT, const R* gaT,      \
                                           R* gv0, R* ga0, const R* const* c, const int64_t* cs,             \
                                           R* const* gc, int nt) {                                           \
    if (dom < 1 || dom > AS_CB || M % dom) return 2;                                                         \
    const AstroCoefs<R> co = astro_coefs<R>(c, cs);                                                          \
    _SF_ASTRO_BWD(R)                                                                                         \
    return 0;                                                                                                \
}

#define _SF_ASTRO_FWD_CALL(RS) (check ? astro_forward<RT, RS, true>(T, M, dom, x, z, v0, a0, vT, aT, co, nt, bad) \
                                      : astro_forward<RT, RS, false>(T, M, dom, x, z, v0, a0, vT, aT, co, nt, bad))
#define _SF_ASTRO_BWD_CALL(RS) astro_backward<RT, RS>(T, M, dom, x, gz, gst, gsm, gx, v0, a0, gvT, gaT, gv0, ga0, co, gc, \
                                                      detach, sg_kind, sg_p, nt)
#define _SF_ASTRO_FWD(R) { using RT = R; SF_ASTRO_RESET(reset, _SF_ASTRO_FWD_CALL) }
#define _SF_ASTRO_BWD(R) { using RT = R; SF_ASTRO_RESET(reset, _SF_ASTRO_BWD_CALL) }

SF_ASTRO_EXPORT(float, f32)
SF_ASTRO_EXPORT(double, f64)
