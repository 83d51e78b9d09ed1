// Fused multi-step KLIF (neurons/klif.py; kernels/klif_kernel.py): one call runs all T steps of a
// layer, evaluating klif_step's torch operations in their order:
//
//     v1 = relu(k (v + (x - v) a))          a = dt / tau_mem (computed in Python)
//     z  = H(v1 - vth),   v' = reset(v1, z, vth, vr)     (subtract / value / zero / none)
//
// relu keeps NaN and -0.0 as torch.relu does (r < 0 ? 0 : r). Every operation is one IEEE
// operation (-ffp-contract=off), as one torch elementwise op, so spikes and state are
// bit-identical. Because relu clamps a -inf charge to 0, the non-finite check also probes x.
//
// Backward recomputes the trajectory block by block (nothing is saved from the forward pass but
// its inputs): per block of neurons it stores, per step, the membrane before the step, v1 and
// u = v1 - vth (3 T CH values in a cache-sized buffer), turns every u of the block into the surrogate
// derivative in one vectorised pass (eif.cpp's eif_surrogate_inplace; std::exp unless Python passes
// the address of a vector exp, which it does not), then runs the adjoint recurrence backwards in time (relu's
// gradient passes where its result is > 0, as torch's threshold_backward):
//
//     reset:  dv1, ds (through the spike unless detached), dvth, dvr
//     gu  = (gz + keep ds) SG(v1 - vth),   gv1 = dv1 + gu,   gr = v1 > 0 ? gv1 : 0
//     gw  = gr k,   gx = gw a,   gv <- gw - gx
//     per-neuron sums: g_a += gw (x - v),  g_k += gr (v + (x - v) a),  g_vth += dvth - gu,  g_vr += dvr
#include "step_math.h"

namespace sfk {

// u -> dz/du over a buffer, vectorised per surrogate kind, with torch's vector exp (MKL's
// v?Exp_64(n, in, out, mode), or null: std::exp): defined in eif.cpp (same library).
template <typename R>
using EifVexp = void (*)(int64_t, const R*, R*, int64_t);
template <typename R>
void eif_surrogate_inplace(int kind, R a, R* u, int64_t n, EifVexp<R> vexp, int64_t mode);

}  // namespace sfk

using namespace sfk;

namespace {

enum KlifCoef { K_A = 0, K_K, K_VTH, K_VR, K_NCOEF };

inline void klif_report(int64_t t, int64_t m, int64_t code, int64_t* bad) {
#pragma omp critical(sf_klif_nonfinite)
    if (bad[2] == 0 || t < bad[0] || (t == bad[0] && ((code >= 4) < (bad[2] >= 4) ||
                                                       ((code >= 4) == (bad[2] >= 4) && m < bad[1])))) {
        bad[0] = t; bad[1] = m; bad[2] = code;
    }
}

template <typename R>
inline R klif_charge(R v, R x, R a, R k) {
    const R r = k * (v + (x - v) * a);
    return r < (R)0 ? (R)0 : r;  // torch.relu: NaN and -0.0 pass unchanged
}

template <typename R, int RS>
void klif_forward(int64_t T, int64_t M, const R* x, R* z, const R* v0, R* vT, const R* const* c, int nt, int check,
                  int64_t* bad) {
    const int64_t CH = 512;
    const int64_t nchunks = (M + CH - 1) / CH;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 8)
    for (int64_t ch = 0; ch < nchunks; ++ch) {
        const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
        R v[CH];
        int64_t t_end = T;
        for (int64_t j = 0; j < n; ++j) {
            v[j] = v0[m0 + j];
            if (check && !std::isfinite(v[j]) && t_end) { klif_report(0, m0 + j, 1 + S_V, bad); t_end = 0; }
        }
        const R *a = c[K_A] + m0, *k = c[K_K] + m0, *vth = c[K_VTH] + m0, *vr = c[K_VR] + m0;
        for (int64_t t = 0; t < t_end; ++t) {
            const R* xt = x + t * M + m0;
            R* zt = z + t * M + m0;
            R probe = (R)0;  // 0, or NaN once some input or membrane is not finite: any summation order will do
#pragma omp simd reduction(+ : probe)
            for (int64_t j = 0; j < n; ++j) {
                const R v1 = klif_charge(v[j], xt[j], a[j], k[j]);
                const R s = (R)((v1 - vth[j]) > (R)0);
                zt[j] = s;
                v[j] = reset_value<R, RS>(v1, s, vth[j], vr[j]);
                probe += (v[j] - v[j]) + (xt[j] - xt[j]);
            }
            if (check && probe != probe) {  // NaN: some input or membrane of this block is not finite
                for (int64_t j = 0; j < n; ++j)
                    if (!std::isfinite(v[j]) || !std::isfinite(xt[j])) { klif_report(t, m0 + j, 4 + S_V, bad); break; }
                break;
            }
        }
        for (int64_t j = 0; j < n; ++j) vT[m0 + j] = v[j];
    }
}

template <typename R, int RS, bool NEEDP>
void klif_backward(int64_t T, int64_t M, const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx, const R* v0,
                   const R* gvT, R* gv0, const R* const* c, R* const* gc, int detach, int sg_kind, R sg_a,
                   EifVexp<R> vexp, int64_t mode, int nt) {
    int64_t CH = (int64_t)(384 * 1024) / (std::max<int64_t>(T, 1) * 3 * (int64_t)sizeof(R));
    CH = std::max<int64_t>(16, std::min<int64_t>(512, CH / 16 * 16));
    const int64_t nchunks = (M + CH - 1) / CH;
    const R keep = detach ? (R)0 : (R)1;
#pragma omp parallel num_threads(nt)
    {
        std::vector<R> V((size_t)(T * CH)), V1((size_t)(T * CH)), SG((size_t)(T * CH));
        std::vector<R> vbuf(CH), gvbuf(CH), gzbuf(CH), acc((size_t)K_NCOEF * CH);
        R *v = vbuf.data(), *gv = gvbuf.data();
        R *acc_a = acc.data() + K_A * CH, *acc_k = acc.data() + K_K * CH, *acc_vth = acc.data() + K_VTH * CH,
          *acc_vr = acc.data() + K_VR * CH;
#pragma omp for schedule(dynamic, 2)
        for (int64_t ch = 0; ch < nchunks; ++ch) {
            const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
            const R *a = c[K_A] + m0, *k = c[K_K] + m0, *vth = c[K_VTH] + m0, *vr = c[K_VR] + m0;
            // 1. recompute the trajectory (same arithmetic as klif_forward); SG holds u = v1 - vth
            for (int64_t j = 0; j < n; ++j) v[j] = v0[m0 + j];
            for (int64_t t = 0; t < T; ++t) {
                const R* xt = x + t * M + m0;
                R *vb = V.data() + t * CH, *v1b = V1.data() + t * CH, *ub = SG.data() + t * CH;
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    vb[j] = v[j];
                    const R v1 = klif_charge(v[j], xt[j], a[j], k[j]);
                    const R u = v1 - vth[j];
                    v1b[j] = v1;
                    ub[j] = u;
                    v[j] = reset_value<R, RS>(v1, (R)(u > (R)0), vth[j], vr[j]);
                }
            }
            // u -> SG(u) for the whole block at once (rows are CH apart; a short last block row by row)
            if (n == CH) eif_surrogate_inplace<R>(sg_kind, sg_a, SG.data(), T * CH, vexp, mode);
            else for (int64_t t = 0; t < T; ++t) eif_surrogate_inplace<R>(sg_kind, sg_a, SG.data() + t * CH, n, vexp, mode);
            // 2. adjoint recurrence backwards in time
            for (int64_t j = 0; j < n; ++j) gv[j] = gvT ? gvT[m0 + j] : (R)0;
            if (NEEDP) std::fill(acc.begin(), acc.end(), (R)0);
            for (int64_t t = T - 1; t >= 0; --t) {
                const R* gzt = gz + t * gst + m0 * gsm;  // output gradient, any strides: contiguous in gzbuf
                if (gsm != 1) {
                    for (int64_t j = 0; j < n; ++j) gzbuf[j] = gzt[j * gsm];
                    gzt = gzbuf.data();
                }
                const R* xt = x + t * M + m0;
                R* gxt = gx + t * M + m0;
                const R *vb = V.data() + t * CH, *v1b = V1.data() + t * CH, *sgb = SG.data() + t * CH;
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    const R v1 = v1b[j], th = vth[j];
                    const R s = (R)((v1 - th) > (R)0);
                    const R g = gv[j];
                    R dv1, ds, dth = (R)0, dvr = (R)0;
                    if (RS == R_SUB) { dv1 = g; ds = -g * th; dth = -g * s; }
                    else if (RS == R_VAL) { dv1 = g * ((R)1 - s); ds = g * (vr[j] - v1); dvr = g * s; }
                    else if (RS == R_ZERO) { dv1 = g * ((R)1 - s); ds = -g * v1; }
                    else { dv1 = g; ds = (R)0; }
                    const R gu = (gzt[j] + keep * ds) * sgb[j];
                    const R gr = v1 <= (R)0 ? (R)0 : dv1 + gu;
                    const R gw = gr * k[j];
                    const R gxx = gw * a[j];
                    if (NEEDP) {
                        const R s1 = xt[j] - vb[j];
                        acc_a[j] += gw * s1;
                        acc_k[j] += gr * (vb[j] + s1 * a[j]);
                        acc_vth[j] += dth - gu;
                        acc_vr[j] += dvr;
                    }
                    gxt[j] = gxx;
                    gv[j] = gw - gxx;
                }
            }
            if (gv0)
                for (int64_t j = 0; j < n; ++j) gv0[m0 + j] = gv[j];
            if (NEEDP)
                for (int q = 0; q < K_NCOEF; ++q)
                    if (gc[q])
                        for (int64_t j = 0; j < n; ++j) gc[q][m0 + j] = acc[q * CH + j];
        }
    }
}

}  // namespace

#define SF_KLIF_RESETS(CALL)                                              \
    switch (reset) {                                                      \
    case R_SUB: CALL(R_SUB); break;   case R_VAL: CALL(R_VAL); break;     \
    case R_ZERO: CALL(R_ZERO); break; case R_NONE: CALL(R_NONE); break;   \
    default: return 1;                                                    \
    }

#define SF_KLIF_EXPORT(R, SUF)                                                                               \
extern "C" int sf_klif_forward_##SUF(int reset, int64_t T, int64_t M, const R* x, R* z, const R* v0, R* vT, \
                                     const R* const* c, int nt, int check, int64_t* bad) {                  \
    SF_KLIF_RESETS(SF_KLIF_FWD_##SUF)                                                                        \
    return 0;                                                                                                \
}                                                                                                            \
extern "C" int sf_klif_backward_##SUF(int reset, int detach, int sg_kind, double sg_p, int64_t T, int64_t M, \
                                      const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx, const R* v0, \
                                      const R* gvT, R* gv0, const R* const* c, R* const* gc, int needp,      \
                                      void* vexp_addr, int64_t mode, int nt) {                               \
    const EifVexp<R> vexp = reinterpret_cast<EifVexp<R>>(vexp_addr); /* may be null: std::exp */             \
    SF_KLIF_RESETS(SF_KLIF_BWD_##SUF)                                                                        \
    return 0;                                                                                                \
}

#define SF_KLIF_FWD_f32(RS) klif_forward<float, RS>(T, M, x, z, v0, vT, c, nt, check, bad)
#define SF_KLIF_FWD_f64(RS) klif_forward<double, RS>(T, M, x, z, v0, vT, c, nt, check, bad)
#define SF_KLIF_BWD(R, RS)                                                                                   \
    (needp ? klif_backward<R, RS, true>(T, M, x, gz, gst, gsm, gx, v0, gvT, gv0, c, gc, detach, sg_kind,    \
                                        (R)sg_p, vexp, mode, nt)                                             \
           : klif_backward<R, RS, false>(T, M, x, gz, gst, gsm, gx, v0, gvT, gv0, c, gc, detach, sg_kind,   \
                                         (R)sg_p, vexp, mode, nt))
#define SF_KLIF_BWD_f32(RS) SF_KLIF_BWD(float, RS)
#define SF_KLIF_BWD_f64(RS) SF_KLIF_BWD(double, RS)

SF_KLIF_EXPORT(float, f32)
SF_KLIF_EXPORT(double, f64)
