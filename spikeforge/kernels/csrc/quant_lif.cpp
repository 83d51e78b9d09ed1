// Fused multi-step LIF with a quantized membrane (SQUAT, kernels/quant_lif.py): lif.cpp's LIF
// kernel with the membrane rounded to a level table after each update, before the spike test,
// as lif_step(..., state_quant=StateQuant) does:
//
//     v1 = q((c1 v + c2 x) + c3),   z = H(v1 - vth),   v' = reset(v1, z, vth, vr)
//
// q is the nearest level (lower on a tie) written as level + (v1 - v1) (step_math.h), so the
// forward pass is bit-identical to the torch reference. Its gradient is the identity (STE), so the
// backward pass is lif.cpp's adjoint recurrence run on the quantized trajectory: per block of
// neurons the forward is recomputed into a buffer (quantized v1 and SG per step), then
//
//     gs = gz + keep * d reset / d s,   gu = gs SG,   gv1 = d reset / d v1 + gu,
//     gx = gv1 c2,   gv <- gv1 c1,   coefficient gradients summed over time.
#include "step_math.h"

using namespace sfk;

namespace {

inline void report(int64_t t, int64_t m, int64_t code, int64_t* bad) {
#pragma omp critical(sf_quant_nonfinite)
    if (bad[2] == 0 || t < bad[0] || (t == bad[0] && ((code >= 4) < (bad[2] >= 4) ||
                                                       ((code >= 4) == (bad[2] >= 4) && m < bad[1])))) {
        bad[0] = t; bad[1] = m; bad[2] = code;
    }
}

template <typename R, int RS>
void quant_forward(int64_t T, int64_t M, const R* x, R* z, const R* v0, R* vT, const R* const* c, Levels<R> q,
                   int nt, int check, int64_t* bad) {
    const int64_t CH = 512;
    const int64_t nchunks = (M + CH - 1) / CH;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 8)
    for (int64_t ch = 0; ch < nchunks; ++ch) {
        const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
        R v[CH];
        int64_t t_end = T;
        for (int64_t j = 0; j < n; ++j) {
            v[j] = v0[m0 + j];
            if (check && !std::isfinite(v[j]) && t_end) { report(0, m0 + j, 1 + S_V, bad); t_end = 0; }
        }
        const R *c1 = c[C1] + m0, *c2 = c[C2] + m0, *c3 = c[C3] + m0, *vth = c[VTH] + m0, *vr = c[VR] + m0;
        for (int64_t t = 0; t < t_end; ++t) {
            const R* xt = x + t * M + m0;
            R* zt = z + t * M + m0;
            R probe = (R)0;
            for (int64_t j = 0; j < n; ++j) {
                R v1 = c1[j] * v[j] + c2[j] * xt[j];
                v1 = quantize(v1 + c3[j], q);
                const R s = (R)((v1 - vth[j]) > (R)0);
                zt[j] = s;
                v[j] = reset_value<R, RS>(v1, s, vth[j], vr[j]);
                probe += v[j] - v[j];
            }
            if (check && probe != probe) {
                for (int64_t j = 0; j < n; ++j)
                    if (!std::isfinite(v[j])) { report(t, m0 + j, 4 + S_V, bad); break; }
                break;
            }
        }
        for (int64_t j = 0; j < n; ++j) vT[m0 + j] = v[j];
    }
}

template <typename R, int RS, bool NEEDP>
void quant_backward(int64_t T, int64_t M, const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx, const R* v0,
                    const R* gvT, R* gv0, const R* const* c, R* const* gc, int detach, int sg_kind, R sg_a,
                    Levels<R> q, int nt) {
    int64_t CH = (int64_t)(384 * 1024) / (std::max<int64_t>(T, 1) * 2 * (int64_t)sizeof(R));
    CH = std::max<int64_t>(16, std::min<int64_t>(512, CH / 16 * 16));
    const int64_t nchunks = (M + CH - 1) / CH;
    const R keep = detach ? (R)0 : (R)1;
#pragma omp parallel num_threads(nt)
    {
        std::vector<R> V1((size_t)(T * CH)), SG((size_t)(T * CH)), v(CH), gv(CH), acc((size_t)NCOEF * CH);
#pragma omp for schedule(dynamic, 2)
        for (int64_t ch = 0; ch < nchunks; ++ch) {
            const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
            const R *c1 = c[C1] + m0, *c2 = c[C2] + m0, *c3 = c[C3] + m0, *vth = c[VTH] + m0, *vr = c[VR] + m0;
            // 1. recompute the quantized trajectory (same arithmetic as quant_forward)
            for (int64_t j = 0; j < n; ++j) v[j] = v0[m0 + j];
            for (int64_t t = 0; t < T; ++t) {
                const R* xt = x + t * M + m0;
                R* v1b = V1.data() + t * CH;
                R* sgb = SG.data() + t * CH;
                for (int64_t j = 0; j < n; ++j) {
                    R v1 = c1[j] * v[j] + c2[j] * xt[j];
                    v1 = quantize(v1 + c3[j], q);
                    v1b[j] = v1;
                    const R u = v1 - vth[j];
                    sgb[j] = surrogate_grad<R>(sg_kind, sg_a, u);
                    v[j] = reset_value<R, RS>(v1, (R)(u > (R)0), vth[j], vr[j]);
                }
            }
            // 2. adjoint recurrence backwards in time (the quantizer passes gradients unchanged)
            for (int64_t j = 0; j < n; ++j) gv[j] = gvT ? gvT[m0 + j] : (R)0;
            if (NEEDP) std::fill(acc.begin(), acc.end(), (R)0);
            for (int64_t t = T - 1; t >= 0; --t) {
                const R* gzt = gz + t * gst + m0 * gsm;
                const R* xt = x + t * M + m0;
                R* gxt = gx + t * M + m0;
                const R* v1b = V1.data() + t * CH;
                const R* sgb = SG.data() + t * CH;
                for (int64_t j = 0; j < n; ++j) {
                    const R v1 = v1b[j], th = vth[j];
                    const R s = (R)((v1 - th) > (R)0);
                    const R g = gv[j];
                    R dv1, ds, dth = (R)0, dvr = (R)0;
                    if (RS == R_SUB) { dv1 = g; ds = -g * th; dth = -g * s; }
                    else if (RS == R_VAL) { dv1 = g * ((R)1 - s); ds = g * (vr[j] - v1); dvr = g * s; }
                    else if (RS == R_ZERO) { dv1 = g * ((R)1 - s); ds = -g * v1; }
                    else { dv1 = g; ds = (R)0; }
                    const R gu = (gzt[j * gsm] + keep * ds) * sgb[j];
                    const R gv1 = dv1 + gu;
                    if (NEEDP) {
                        R vprev = v0[m0 + j];  // membrane before this step: reset of the previous v1
                        if (t > 0) {
                            const R w = V1[(t - 1) * CH + j];
                            vprev = reset_value<R, RS>(w, (R)((w - th) > (R)0), th, vr[j]);
                        }
                        acc[C1 * CH + j] += gv1 * vprev;
                        acc[C2 * CH + j] += gv1 * xt[j];
                        acc[C3 * CH + j] += gv1;
                        acc[VTH * CH + j] += dth - gu;
                        acc[VR * CH + j] += dvr;
                    }
                    gxt[j] = gv1 * c2[j];
                    gv[j] = gv1 * c1[j];
                }
            }
            for (int64_t j = 0; j < n; ++j) if (gv0) gv0[m0 + j] = gv[j];
            if (NEEDP)
                for (int k = 0; k < NCOEF; ++k)
                    if (gc[k]) for (int64_t j = 0; j < n; ++j) gc[k][m0 + j] = acc[k * CH + j];
        }
    }
}

}  // namespace

#define SF_QUANT_RESETS(CALL)                                             \
    switch (reset) {                                                      \
    case R_SUB: CALL(R_SUB); break;   case R_VAL: CALL(R_VAL); break;     \
    case R_ZERO: CALL(R_ZERO); break; case R_NONE: CALL(R_NONE); break;   \
    default: return 1;                                                    \
    }

#define SF_QUANT_EXPORT(R, SUF)                                                                            \
extern "C" int sf_quant_lif_forward_##SUF(int reset, int64_t T, int64_t M, const R* x, R* z, const R* v0,  \
                                          R* vT, const R* const* c, const R* levels, const R* mids,        \
                                          int64_t nlev, int nt, int check, int64_t* bad) {                 \
    const Levels<R> q{levels, mids, nlev};                                                                 \
    if (nlev < 1) return 2;                                                                                \
    SF_QUANT_RESETS(SF_QUANT_FWD_##SUF)                                                                    \
    return 0;                                                                                              \
}                                                                                                          \
extern "C" int sf_quant_lif_backward_##SUF(int reset, int detach, int sg_kind, double sg_p, int64_t T,     \
                                           int64_t M, const R* x, const R* gz, int64_t gst, int64_t gsm,   \
                                           R* gx, const R* v0, const R* gvT, R* gv0, const R* const* c,    \
                                           R* const* gc, int needp, const R* levels, const R* mids,        \
                                           int64_t nlev, int nt) {                                         \
    const Levels<R> q{levels, mids, nlev};                                                                 \
    if (nlev < 1) return 2;                                                                                \
    SF_QUANT_RESETS(SF_QUANT_BWD_##SUF)                                                                    \
    return 0;                                                                                              \
}

#define SF_QUANT_FWD_f32(RS) quant_forward<float, RS>(T, M, x, z, v0, vT, c, q, nt, check, bad)
#define SF_QUANT_FWD_f64(RS) quant_forward<double, RS>(T, M, x, z, v0, vT, c, q, nt, check, bad)
#define SF_QUANT_BWD_f32(RS) (needp ? quant_backward<float, RS, true>(T, M, x, gz, gst, gsm, gx, v0, gvT, gv0, c, gc, \
                                                                     detach, sg_kind, (float)sg_p, q, nt)          \
                                    : quant_backward<float, RS, false>(T, M, x, gz, gst, gsm, gx, v0, gvT, gv0, c, gc, \
                                                                      detach, sg_kind, (float)sg_p, q, nt))
#define SF_QUANT_BWD_f64(RS) (needp ? quant_backward<double, RS, true>(T, M, x, gz, gst, gsm, gx, v0, gvT, gv0, c, \
                                                                      gc, detach, sg_kind, sg_p, q, nt)          \
                                    : quant_backward<double, RS, false>(T, M, x, gz, gst, gsm, gx, v0, gvT, gv0, c, \
                                                                       gc, detach, sg_kind, sg_p, q, nt))

SF_QUANT_EXPORT(float, f32)
SF_QUANT_EXPORT(double, f64)
