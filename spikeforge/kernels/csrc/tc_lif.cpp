// Fused multi-step TC-LIF kernel (two-compartment LIF, neurons/tc_lif.py::tc_lif_step): one call
// runs all T steps of a layer. Per neuron, with the coefficients s1 = sigmoid(beta1),
// s2 = sigmoid(beta2), gamma, vth computed in Python by the step's own torch expressions:
//
//     d1 = (d - s1 * v) + x          dendrite  (tc_lif_step: state.v_d - sigmoid(b1) * state.v + x)
//     v1 = v + s2 * d1               soma
//     s  = H(v1 - vth)               spike (the output)
//     d' = d1 - gamma * s,  v' = v1 - vth * s
//
// each operation in the step's order (the library is built with -ffp-contract=off), so outputs and
// final state are bit-identical to the torch loop. Backward stores nothing from the forward pass but
// its inputs: per block of neurons it recomputes the state before every step into a cache-sized
// buffer (2 T values per neuron), then runs the adjoint recurrence backwards in time, accumulating
// per-neuron gradients of the four coefficients (summed over time). Codes: state slots 0 = v_d,
// 1 = v; coefficient slots 0 = s1, 1 = s2, 2 = gamma, 3 = vth; surrogates as step_math.h.
#include "common.h"
#include "step_math.h"

namespace {

const int64_t TC_CB = 512;  // largest block of neurons
enum { TC_S1 = 0, TC_S2, TC_GAMMA, TC_VTH, TC_NCOEF };

// The block's coefficients: slot k is one value for every neuron when bit k of cmask is set.
template <typename R>
inline void tc_load_coefs(R (*cf)[TC_CB], const R* const* c, int64_t cmask, int64_t m0, int64_t n) {
    for (int k = 0; k < TC_NCOEF; ++k)
        for (int64_t j = 0; j < n; ++j) cf[k][j] = (cmask >> k & 1) ? c[k][0] : c[k][m0 + j];
}

// bad = {t, m, code}: code 1 + slot for a non-finite initial state (t = 0), 3 + slot for a state that
// became non-finite at step t; the smallest (t, phase, m) over blocks is kept.
inline void tc_report(int64_t t, int64_t m, int64_t code, int64_t* bad) {
#pragma omp critical(sf_tc_lif_nonfinite)
    {
        const int64_t ph = code >= 3, bph = bad[2] >= 3;
        const bool before = bad[2] == 0 || (t != bad[0] ? t < bad[0] : (ph != bph ? ph < bph : m < bad[1]));
        if (before) { bad[0] = t; bad[1] = m; bad[2] = code; }
    }
}

template <typename R>
inline int64_t tc_first_nonfinite(const R* d, const R* v, int64_t n, int64_t* slot) {
    for (int64_t j = 0; j < n; ++j) {
        if (!std::isfinite(d[j])) { *slot = 0; return j; }
        if (!std::isfinite(v[j])) { *slot = 1; return j; }
    }
    return -1;
}

template <typename R, bool CHECK>
void tc_forward(int64_t T, int64_t M, const R* x, R* z, const R* const* st0, R* const* stT, const R* const* c,
                int64_t cmask, int nthreads, int64_t* bad) {
    const int64_t nchunks = (M + TC_CB - 1) / TC_CB;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 4)
    for (int64_t ch = 0; ch < nchunks; ++ch) {
        const int64_t m0 = ch * TC_CB, n = std::min(TC_CB, M - m0);
        R cf[TC_NCOEF][TC_CB], d[TC_CB], v[TC_CB];
        tc_load_coefs(cf, c, cmask, m0, n);
        const R *s1 = cf[TC_S1], *s2 = cf[TC_S2], *gm = cf[TC_GAMMA], *vth = cf[TC_VTH];
        for (int64_t j = 0; j < n; ++j) { d[j] = st0[0][m0 + j]; v[j] = st0[1][m0 + j]; }
        int64_t t_end = T;
        if (CHECK) {
            int64_t slot = 0;
            const int64_t j = tc_first_nonfinite(d, v, n, &slot);
            if (j >= 0) { tc_report(0, m0 + j, 1 + slot, bad); t_end = 0; }
        }
        for (int64_t t = 0; t < t_end; ++t) {
            const R* xt = x + t * M + m0;
            R* zt = z + t * M + m0;
            R probe = (R)0;
#pragma omp simd reduction(+ : probe)
            for (int64_t j = 0; j < n; ++j) {
                const R sv = s1[j] * v[j];
                R d1 = d[j] - sv;
                d1 = d1 + xt[j];
                const R w = s2[j] * d1;
                const R v1 = v[j] + w;
                const R s = (R)((v1 - vth[j]) > (R)0);
                zt[j] = s;
                d[j] = d1 - gm[j] * s;
                v[j] = v1 - vth[j] * s;
                if (CHECK) probe += (d[j] - d[j]) + (v[j] - v[j]);
            }
            if (CHECK && probe != probe) {
                int64_t slot = 0;
                const int64_t j = tc_first_nonfinite(d, v, n, &slot);
                tc_report(t, m0 + j, 3 + slot, bad);
                break;
            }
        }
        for (int64_t j = 0; j < n; ++j) { stT[0][m0 + j] = d[j]; stT[1][m0 + j] = v[j]; }
    }
}

template <typename R, bool NEEDP>
void tc_backward(int64_t T, int64_t M, const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx,
                 const R* const* st0, const R* const* gstT, R* const* gst0, const R* const* c, int64_t cmask,
                 R* const* gc, int detach, int sg_kind, R sg_p, int nthreads) {
    // block of neurons whose state history (d and v before every step) fits in ~384 KiB
    int64_t CH = (int64_t)(384 * 1024) / (std::max<int64_t>(T, 1) * 2 * (int64_t)sizeof(R));
    CH = std::max<int64_t>(16, std::min<int64_t>(TC_CB, CH / 16 * 16));
    const int64_t nchunks = (M + CH - 1) / CH;
    const R keep = detach ? (R)0 : (R)1;
#pragma omp parallel num_threads(nthreads)
    {
        std::vector<R> D((size_t)(T * CH)), V((size_t)(T * CH));
#pragma omp for schedule(dynamic, 2)
        for (int64_t ch = 0; ch < nchunks; ++ch) {
            const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
            R cf[TC_NCOEF][TC_CB], acc[TC_NCOEF][TC_CB], d[TC_CB], v[TC_CB];
            tc_load_coefs(cf, c, cmask, m0, n);
            const R *s1 = cf[TC_S1], *s2 = cf[TC_S2], *gm = cf[TC_GAMMA], *vth = cf[TC_VTH];
            // 1. recompute the state before every step (same arithmetic as tc_forward)
            for (int64_t j = 0; j < n; ++j) { d[j] = st0[0][m0 + j]; v[j] = st0[1][m0 + j]; }
            for (int64_t t = 0; t < T; ++t) {
                const R* xt = x + t * M + m0;
                R* Dt = D.data() + t * CH;
                R* Vt = V.data() + t * CH;
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    Dt[j] = d[j]; Vt[j] = v[j];
                    const R sv = s1[j] * v[j];
                    R d1 = d[j] - sv;
                    d1 = d1 + xt[j];
                    const R w = s2[j] * d1;
                    const R v1 = v[j] + w;
                    const R s = (R)((v1 - vth[j]) > (R)0);
                    d[j] = d1 - gm[j] * s;
                    v[j] = v1 - vth[j] * s;
                }
            }
            // 2. adjoint recurrence backwards in time; gd, gv: gradients of the state after step t
            R gd[TC_CB], gv[TC_CB];
            for (int64_t j = 0; j < n; ++j) {
                gd[j] = gstT[0] ? gstT[0][m0 + j] : (R)0;
                gv[j] = gstT[1] ? gstT[1][m0 + j] : (R)0;
            }
            if (NEEDP) for (int k = 0; k < TC_NCOEF; ++k) for (int64_t j = 0; j < n; ++j) acc[k][j] = (R)0;
            for (int64_t t = T - 1; t >= 0; --t) {
                const R* xt = x + t * M + m0;
                const R* Dt = D.data() + t * CH;
                const R* Vt = V.data() + t * CH;
                const R* gzt = gz + t * gst + m0 * gsm;
                R* gxt = gx + t * M + m0;
                for (int64_t j = 0; j < n; ++j) {
                    const R dp = Dt[j], vp = Vt[j];
                    const R d1 = (dp - s1[j] * vp) + xt[j];
                    const R v1 = vp + s2[j] * d1;
                    const R u = v1 - vth[j];
                    const R s = (R)(u > (R)0);
                    // d' = d1 - gamma s, v' = v1 - vth s, s = SG(u), u = v1 - vth
                    const R gs = gzt[j * gsm] + keep * (-gm[j] * gd[j] - vth[j] * gv[j]);
                    const R gu = gs * sfk::surrogate_grad<R>(sg_kind, sg_p, u);
                    const R gv1 = gv[j] + gu;
                    const R gd1 = gd[j] + s2[j] * gv1;  // v1 = v + s2 d1
                    if (NEEDP) {
                        acc[TC_S1][j] += -gd1 * vp;
                        acc[TC_S2][j] += gv1 * d1;
                        acc[TC_GAMMA][j] += -gd[j] * s;
                        acc[TC_VTH][j] += -gv[j] * s - gu;
                    }
                    gxt[j] = gd1;
                    gd[j] = gd1;                      // d1 = d - s1 v + x
                    gv[j] = gv1 - s1[j] * gd1;
                }
            }
            for (int64_t j = 0; j < n; ++j) {
                if (gst0[0]) gst0[0][m0 + j] = gd[j];
                if (gst0[1]) gst0[1][m0 + j] = gv[j];
            }
            if (NEEDP)
                for (int k = 0; k < TC_NCOEF; ++k)
                    if (gc[k]) for (int64_t j = 0; j < n; ++j) gc[k][m0 + j] = acc[k][j];
        }
    }
}

}  // namespace

#define SF_TC_LIF_EXPORT(R, SUF)                                                                      \
extern "C" int sf_tc_lif_forward_##SUF(int64_t T, int64_t M, const R* x, R* z, const R* const* st0,   \
                                       R* const* stT, const R* const* c, int64_t cmask, int nt,       \
                                       int check, int64_t* bad) {                                     \
    if (check) tc_forward<R, true>(T, M, x, z, st0, stT, c, cmask, nt, bad);                          \
    else tc_forward<R, false>(T, M, x, z, st0, stT, c, cmask, nt, bad);                               \
    return 0;                                                                                         \
}                                                                                                     \
extern "C" int sf_tc_lif_backward_##SUF(int64_t T, int64_t M, const R* x, const R* gz, int64_t gst,   \
                                        int64_t gsm, R* gx, const R* const* st0, const R* const* gstT, \
                                        R* const* gst0, const R* const* c, int64_t cmask,             \
                                        R* const* gc, int needp, int detach, int sg_kind,             \
                                        double sg_p, int nt) {                                        \
    if (needp) tc_backward<R, true>(T, M, x, gz, gst, gsm, gx, st0, gstT, gst0, c, cmask, gc, detach,  \
                                    sg_kind, (R)sg_p, nt);                                            \
    else tc_backward<R, false>(T, M, x, gz, gst, gsm, gx, st0, gstT, gst0, c, cmask, gc, detach,       \
                               sg_kind, (R)sg_p, nt);                                                 \
    return 0;                                                                                         \
}

SF_TC_LIF_EXPORT(float, f32)
SF_TC_LIF_EXPORT(double, f64)
