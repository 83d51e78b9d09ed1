// Fused multi-step EIF (exponential integrate-and-fire, neurons/eif.py; kernels/eif_kernel.py):
// one call runs all T steps of a layer, evaluating eif_step's torch operations in their order:
//
//     e  = (v - th) / D,   ex = exp(e)                    D = delta_t, th = theta_rh
//     v1 = v + ((x - v) + D ex) a                         a = dt / tau_mem (computed in Python)
//     z  = H(v1 - vth),    v' = reset(v1, z, vth, vr)     (reset to value or to zero)
//
// exp is not evaluated here: torch.exp on CPU is a vendor vector routine (MKL VML's vmsExp/vmdExp
// in torch's MKL builds) whose last bit differs from libm's in about 1% of arguments, so Python
// hands over the address of the very routine torch.exp calls (checked against torch.exp before
// use) and the kernel calls it on each block's [n] arguments per step. Every other operation is
// one IEEE operation (-ffp-contract=off), as one torch elementwise op.
//
// Backward recomputes the trajectory block by block (nothing is saved from the forward pass but
// its inputs): per block of neurons it stores, per step, the membrane before the step, ex, v1 and
// u = v1 - vth (4 T CH values in a cache-sized buffer), turns every u of the block into the
// surrogate derivative in one vectorised pass (eif_surrogate_inplace, with std::exp), then runs the adjoint recurrence backwards in time (one `omp simd` loop per step):
//
//     reset:  dv1, ds (through the spike unless detached), dvr
//     gu  = (gz + keep ds) SG(v1 - vth),   gv1 = dv1 + gu
//     gs2 = gv1 a,   gx = gs2,   gd = ((gs2 D) ex) / D
//     gv  <- gv1 - gs2 + gd
//     per-neuron sums: g_a += gv1 s2,  g_D += gs2 ex - gd e,  g_th -= gd,  g_vth -= gu,  g_vr += dvr
#include "step_math.h"

namespace sfk {

// The vector exp torch.exp runs: MKL's v?Exp_64(n, in, out, mode) signature.
template <typename R>
using EifVexp = void (*)(int64_t, const R*, R*, int64_t);

// u -> dz/du over a buffer, one loop per surrogate kind (the codes and formulas of
// sfk::surrogate_grad), so each loop vectorises; the exponentials of the sigmoid and the two
// gaussians go through vexp in calls of 512 (a gradient, so any accurate exp would do), or through
// std::exp where vexp is null, which both callers now pass (see eif_backward). Defined here with
// external linkage (float, double) because klif.cpp's backward calls it too (one library).
template <typename R>
void eif_surrogate_inplace(int kind, R a, R* u, int64_t n, EifVexp<R> vexp, int64_t mode) {
    // VML runs in place. At most 512 arguments per call, as in the forward: on a longer array MKL
    // may start threads of torch's OpenMP runtime (not this library's, so it does not see that it
    // runs inside a parallel region) and oversubscribe the cores.
    auto exp_inplace = [&](R* w) {
        if (vexp) for (int64_t k0 = 0; k0 < n; k0 += 512) vexp(std::min<int64_t>(512, n - k0), w + k0, w + k0, mode);
        else for (int64_t k = 0; k < n; ++k) w[k] = std::exp(w[k]);
    };
    switch (kind) {
    case 0: for (int64_t k = 0; k < n; ++k) u[k] = (R)1; break;
    case 1: {  // sigmoid(alpha): s = 1 / (1 + exp(-a u)), a s (1 - s)
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) u[k] = -a * u[k];
        exp_inplace(u);
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) { const R s = (R)1 / ((R)1 + u[k]); u[k] = a * s * ((R)1 - s); }
        break; }
    case 2: {  // atan(alpha)
        const R h = a / (R)2, q = (R)(M_PI / 2) * a;
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) { const R w = q * u[k]; u[k] = h / ((R)1 + w * w); }
        break; }
    case 3:  // fast sigmoid(slope)
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) { const R w = (R)1 + a * std::fabs(u[k]); u[k] = (R)1 / (w * w); }
        break;
    case 4:  // triangle(width)
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) { const R w = (R)1 - std::fabs(u[k]) / a; u[k] = (w > (R)0 ? w : (R)0) / a; }
        break;
    case 5:  // rectangle(width)
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) u[k] = (std::fabs(u[k]) < a / (R)2 ? (R)1 : (R)0) / a;
        break;
    case 6:    // erf(sigma): gaussian density
    case 8: {  // pdsg(sigma): gaussian density centred at sigma / 2
        const R mu = kind == 8 ? a / (R)2 : (R)0, d = a * (R)std::sqrt(2 * M_PI);
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) { const R w = (u[k] - mu) / a; u[k] = (R)-0.5 * w * w; }
        exp_inplace(u);
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) u[k] = u[k] / d;
        break; }
    case 7:  // piecewise quadratic(alpha)
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) { const R w = a - a * a * std::fabs(u[k]); u[k] = w > (R)0 ? w : (R)0; }
        break;
    default:  // q-PseudoSpike and any later kind: per element
        for (int64_t k = 0; k < n; ++k) u[k] = surrogate_grad<R>(kind, a, u[k]);
        break;
    }
}

template void eif_surrogate_inplace<float>(int, float, float*, int64_t, EifVexp<float>, int64_t);
template void eif_surrogate_inplace<double>(int, double, double*, int64_t, EifVexp<double>, int64_t);

}  // namespace sfk

using namespace sfk;

namespace {

enum EifCoef { E_A = 0, E_D, E_TH, E_VTH, E_VR, E_NCOEF };

inline void eif_report(int64_t t, int64_t m, int64_t code, int64_t* bad) {
#pragma omp critical(sf_eif_nonfinite)
    if (bad[2] == 0 || t < bad[0] || (t == bad[0] && ((code >= 4) < (bad[2] >= 4) ||
                                                       ((code >= 4) == (bad[2] >= 4) && m < bad[1])))) {
        bad[0] = t; bad[1] = m; bad[2] = code;
    }
}

template <typename R, int RS>
void eif_forward(int64_t T, int64_t M, const R* x, R* z, const R* v0, R* vT, const R* const* c, EifVexp<R> vexp,
                 int64_t mode, int nt, int check, int64_t* bad) {
    const int64_t CH = 512;
    const int64_t nchunks = (M + CH - 1) / CH;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 8)
    for (int64_t ch = 0; ch < nchunks; ++ch) {
        const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
        R v[CH], e[CH], ex[CH];
        int64_t t_end = T;
        for (int64_t j = 0; j < n; ++j) {
            v[j] = v0[m0 + j];
            if (check && !std::isfinite(v[j]) && t_end) { eif_report(0, m0 + j, 1 + S_V, bad); t_end = 0; }
        }
        const R *a = c[E_A] + m0, *D = c[E_D] + m0, *th = c[E_TH] + m0, *vth = c[E_VTH] + m0, *vr = c[E_VR] + m0;
        for (int64_t t = 0; t < t_end; ++t) {
            const R* xt = x + t * M + m0;
            R* zt = z + t * M + m0;
            for (int64_t j = 0; j < n; ++j) e[j] = (v[j] - th[j]) / D[j];
            vexp(n, e, ex, mode);
            R probe = (R)0;  // 0, or NaN once some membrane is not finite: any summation order will do
#pragma omp simd reduction(+ : probe)
            for (int64_t j = 0; j < n; ++j) {
                const R s2 = (xt[j] - v[j]) + D[j] * ex[j];
                const R v1 = v[j] + s2 * a[j];
                const R s = (R)((v1 - vth[j]) > (R)0);
                zt[j] = s;
                v[j] = reset_value<R, RS>(v1, s, vth[j], vr[j]);
                probe += v[j] - v[j];
            }
            if (check && probe != probe) {  // NaN: some membrane of this block is no longer finite
                for (int64_t j = 0; j < n; ++j)
                    if (!std::isfinite(v[j])) { eif_report(t, m0 + j, 4 + S_V, bad); break; }
                break;
            }
        }
        for (int64_t j = 0; j < n; ++j) vT[m0 + j] = v[j];
    }
}

template <typename R, int RS, bool NEEDP>
void eif_backward(int64_t T, int64_t M, const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx, const R* v0,
                  const R* gvT, R* gv0, const R* const* c, R* const* gc, int detach, int sg_kind, R sg_a,
                  EifVexp<R> vexp, int64_t mode, int nt) {
    int64_t CH = (int64_t)(384 * 1024) / (std::max<int64_t>(T, 1) * 4 * (int64_t)sizeof(R));
    CH = std::max<int64_t>(16, std::min<int64_t>(512, CH / 16 * 16));
    const int64_t nchunks = (M + CH - 1) / CH;
    const R keep = detach ? (R)0 : (R)1;
#pragma omp parallel num_threads(nt)
    {
        std::vector<R> V((size_t)(T * CH)), EX((size_t)(T * CH)), V1((size_t)(T * CH)), SG((size_t)(T * CH));
        std::vector<R> vbuf(CH), ebuf(CH), gvbuf(CH), gzbuf(CH), acc((size_t)E_NCOEF * CH);
        R *v = vbuf.data(), *e = ebuf.data(), *gv = gvbuf.data();
        R *acc_a = acc.data() + E_A * CH, *acc_d = acc.data() + E_D * CH, *acc_th = acc.data() + E_TH * CH,
          *acc_vth = acc.data() + E_VTH * CH, *acc_vr = acc.data() + E_VR * CH;
#pragma omp for schedule(dynamic, 2)
        for (int64_t ch = 0; ch < nchunks; ++ch) {
            const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
            const R *a = c[E_A] + m0, *D = c[E_D] + m0, *th = c[E_TH] + m0, *vth = c[E_VTH] + m0,
                    *vr = c[E_VR] + m0;
            // 1. recompute the trajectory (same arithmetic as eif_forward); SG holds u = v1 - vth
            for (int64_t j = 0; j < n; ++j) v[j] = v0[m0 + j];
            for (int64_t t = 0; t < T; ++t) {
                const R* xt = x + t * M + m0;
                R *vb = V.data() + t * CH, *exb = EX.data() + t * CH, *v1b = V1.data() + t * CH,
                  *ub = SG.data() + t * CH;
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    vb[j] = v[j];
                    e[j] = (v[j] - th[j]) / D[j];
                }
                vexp(n, e, exb, mode);
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    const R s2 = (xt[j] - v[j]) + D[j] * exb[j];
                    const R v1 = v[j] + s2 * a[j];
                    const R u = v1 - vth[j];
                    v1b[j] = v1;
                    ub[j] = u;
                    v[j] = reset_value<R, RS>(v1, (R)(u > (R)0), vth[j], vr[j]);
                }
            }
            // u -> SG(u) for the whole block at once (rows are CH apart; a short last block row by row)
            // (std::exp, not vexp: every extra MKL call from this library's threads slowed 2-thread
            // runs interleaved with torch ops by 10x and more in our measurements)
            if (n == CH) eif_surrogate_inplace<R>(sg_kind, sg_a, SG.data(), T * CH, nullptr, mode);
            else for (int64_t t = 0; t < T; ++t) eif_surrogate_inplace<R>(sg_kind, sg_a, SG.data() + t * CH, n, nullptr, mode);
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
                const R *vb = V.data() + t * CH, *exb = EX.data() + t * CH, *v1b = V1.data() + t * CH,
                        *sgb = SG.data() + t * CH;
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    const R v1 = v1b[j];
                    const R s = (R)((v1 - vth[j]) > (R)0);
                    const R g = gv[j];
                    R dv1, ds, dvr = (R)0;
                    if (RS == R_VAL) { dv1 = g * ((R)1 - s); ds = g * (vr[j] - v1); dvr = g * s; }
                    else { dv1 = g * ((R)1 - s); ds = -g * v1; }  // R_ZERO
                    const R gu = (gzt[j] + keep * ds) * sgb[j];
                    const R gv1 = dv1 + gu;
                    const R gs2 = gv1 * a[j];
                    const R gd = ((gs2 * D[j]) * exb[j]) / D[j];
                    if (NEEDP) {
                        const R vp = vb[j];
                        const R s2 = (xt[j] - vp) + D[j] * exb[j];
                        const R ee = (vp - th[j]) / D[j];
                        acc_a[j] += gv1 * s2;
                        acc_d[j] += gs2 * exb[j] - gd * ee;
                        acc_th[j] -= gd;
                        acc_vth[j] -= gu;
                        acc_vr[j] += dvr;
                    }
                    gxt[j] = gs2;
                    gv[j] = (gv1 - gs2) + gd;
                }
            }
            if (gv0)
                for (int64_t j = 0; j < n; ++j) gv0[m0 + j] = gv[j];
            if (NEEDP)
                for (int k = 0; k < E_NCOEF; ++k)
                    if (gc[k])
                        for (int64_t j = 0; j < n; ++j) gc[k][m0 + j] = acc[k * CH + j];
        }
    }
}

}  // namespace

// reset: the codes of kernels/specs.py; EIF runs with a hard reset only (value 1, zero 2).
#define SF_EIF_RESETS(CALL)                                       \
    switch (reset) {                                              \
    case R_VAL: CALL(R_VAL); break;                               \
    case R_ZERO: CALL(R_ZERO); break;                             \
    default: return 1;                                            \
    }

#define SF_EIF_EXPORT(R, SUF)                                                                               \
extern "C" int sf_eif_forward_##SUF(int reset, int64_t T, int64_t M, const R* x, R* z, const R* v0, R* vT, \
                                    const R* const* c, void* vexp_addr, int64_t mode, int nt, int check,   \
                                    int64_t* bad) {                                                         \
    const EifVexp<R> vexp = reinterpret_cast<EifVexp<R>>(vexp_addr);                                          \
    if (!vexp) return 2;                                                                                    \
    SF_EIF_RESETS(SF_EIF_FWD_##SUF)                                                                         \
    return 0;                                                                                               \
}                                                                                                           \
extern "C" int sf_eif_backward_##SUF(int reset, int detach, int sg_kind, double sg_p, int64_t T, int64_t M, \
                                     const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx, const R* v0, \
                                     const R* gvT, R* gv0, const R* const* c, R* const* gc, int needp,      \
                                     void* vexp_addr, int64_t mode, int nt) {                               \
    const EifVexp<R> vexp = reinterpret_cast<EifVexp<R>>(vexp_addr);                                          \
    if (!vexp) return 2;                                                                                    \
    SF_EIF_RESETS(SF_EIF_BWD_##SUF)                                                                         \
    return 0;                                                                                               \
}

#define SF_EIF_FWD_f32(RS) eif_forward<float, RS>(T, M, x, z, v0, vT, c, vexp, mode, nt, check, bad)
#define SF_EIF_FWD_f64(RS) eif_forward<double, RS>(T, M, x, z, v0, vT, c, vexp, mode, nt, check, bad)
#define SF_EIF_BWD(R, RS)                                                                                    \
    (needp ? eif_backward<R, RS, true>(T, M, x, gz, gst, gsm, gx, v0, gvT, gv0, c, gc, detach, sg_kind,     \
                                       (R)sg_p, vexp, mode, nt)                                             \
           : eif_backward<R, RS, false>(T, M, x, gz, gst, gsm, gx, v0, gvT, gv0, c, gc, detach, sg_kind,    \
                                        (R)sg_p, vexp, mode, nt))
#define SF_EIF_BWD_f32(RS) SF_EIF_BWD(float, RS)
#define SF_EIF_BWD_f64(RS) SF_EIF_BWD(double, RS)

SF_EIF_EXPORT(float, f32)
SF_EIF_EXPORT(double, f64)
