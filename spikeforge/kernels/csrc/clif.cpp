// Fused multi-step CLIF kernel (complementary LIF, neurons/clif.py::clif_step): one call runs all T
// steps of a layer. Per neuron, with cd = 1 - 1 / tau, tau = tau_mem / dt and vth computed in Python
// by the step's own torch expressions:
//
//     v1 = v * cd + x,   m1 = m * sigmoid(v1 / tau),   z = H(v1 - vth)
//     m' = m1 + z,       v2 = v1 - z * vth,            v' = v2 - z * sigmoid(m')
//
// each operation in the step's order (-ffp-contract=off). The two sigmoids are torch.sigmoid's, whose
// rounding depends on where an element sits in its tensor: ATen's CPU loop evaluates
// 1 / (1 + exp(-a)) with Sleef's vector exp in runs of two vectors and with the C library's scalar
// exp on the < 2 vectors left at the end of each thread's chunk (chunks: torch.get_num_threads()
// parts of a tensor of more than 32768 elements). A vector is 32 bytes in ATen's AVX2 kernels
// (Sleef_expf8_u10 / Sleef_expd4_u10), 64 bytes in its AVX512 kernels (Sleef_expf16_u10 /
// Sleef_expd8_u10). The kernel reproduces exactly that: the vector exp is torch's own (its address
// and the vector width are passed in from Python, TorchLoop), the scalar one is std::exp, and each
// neuron's position m in the row-major [B, *] step tensor decides which one it gets
// (clif_torch_vector_lane). Python only runs the kernel where that position rule holds (AVX2 or
// AVX512 ATen kernels, contiguous state; kernels/clif_kernel.py).
//
// Backward stores nothing from the forward pass but its inputs: per block of neurons it recomputes
// v and m before every step and both sigmoids (4 T values per neuron of a cache-sized block), then
// runs the adjoint recurrence backwards in time, accumulating per-neuron gradients of cd, tau and
// vth. State slots 0 = v, 1 = m; coefficient slots 0 = cd, 1 = tau, 2 = vth.
//
// Speed (issue 16): the sigmoids load and store whole vectors (only a block's partial last vector goes
// through a buffer), the non-finite probe is one vectorised reduction per step, the backward's
// surrogate is one vectorised pass per step and block (sfk::surrogate_inplace) so the adjoint loop
// vectorises, and each thread keeps its history buffer between calls (no page faults per call; at
// most 4 T CH values per thread stay allocated).
#include "common.h"
#include "step_math.h"

namespace {

const int64_t CL_CB = 512;  // largest block of neurons
enum { CL_CD = 0, CL_TAU, CL_VTH, CL_NCOEF };
const int64_t TORCH_GRAIN = 32768;  // at::internal::GRAIN_SIZE

// torch's elementwise loop on this host: its thread count (torch.get_num_threads()), its vector exp
// and the width of its vectors in bytes (32: AVX2, 64: AVX512; Python passes nothing else)
struct TorchLoop {
    int64_t tnt;
    const void* vexp;
    int64_t vbytes;
};

// Whether torch's CPU elementwise loop computes element m of a contiguous n-element tensor with its
// vector code: TensorIterator::for_each splits tensors of more than GRAIN elements into
// min(threads, ceil(n / GRAIN)) chunks of ceil(n / parts) (at::parallel_for, OpenMP), and each
// chunk's vectorized_loop runs whole pairs of vectors of W lanes, the rest with the scalar op.
inline bool clif_torch_vector_lane(int64_t m, int64_t n, int64_t tnt, int64_t W) {
    int64_t b = 0, len = n;
    if (n > TORCH_GRAIN && tnt > 1) {
        const int64_t parts = std::min(tnt, (n + TORCH_GRAIN - 1) / TORCH_GRAIN);
        const int64_t cs = (n + parts - 1) / parts;
        b = m / cs * cs;
        len = std::min(n, b + cs) - b;
    }
    return m - b < len / (2 * W) * (2 * W);
}

#if defined(__AVX__)
typedef __m256 (*ExpF8)(__m256);
typedef __m256d (*ExpD4)(__m256d);

// out[j] = 1 / (exp(0 - a[j]) + 1) with torch's vector exp for every lane (ATen: (0 - a).exp() + 1,
// then reciprocal); whole groups straight from memory, a partial last group padded with zeros.
inline __m256 vec_sigmoid8(__m256 x, ExpF8 f) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(f(_mm256_sub_ps(_mm256_setzero_ps(), x)), one));
}
inline __m256d vec_sigmoid4(__m256d x, ExpD4 f) {
    const __m256d one = _mm256_set1_pd(1.0);
    return _mm256_div_pd(one, _mm256_add_pd(f(_mm256_sub_pd(_mm256_setzero_pd(), x)), one));
}
inline void vec_sigmoid(const float* a, float* out, int64_t n, const void* vexp) {
    const ExpF8 f = reinterpret_cast<ExpF8>(const_cast<void*>(vexp));
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(out + j, vec_sigmoid8(_mm256_loadu_ps(a + j), f));
    if (j < n) {
        alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        std::memcpy(buf, a + j, (size_t)(n - j) * sizeof(float));
        _mm256_store_ps(buf, vec_sigmoid8(_mm256_load_ps(buf), f));
        std::memcpy(out + j, buf, (size_t)(n - j) * sizeof(float));
    }
}
inline void vec_sigmoid(const double* a, double* out, int64_t n, const void* vexp) {
    const ExpD4 f = reinterpret_cast<ExpD4>(const_cast<void*>(vexp));
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) _mm256_storeu_pd(out + j, vec_sigmoid4(_mm256_loadu_pd(a + j), f));
    if (j < n) {
        alignas(32) double buf[4] = {0, 0, 0, 0};
        std::memcpy(buf, a + j, (size_t)(n - j) * sizeof(double));
        _mm256_store_pd(buf, vec_sigmoid4(_mm256_load_pd(buf), f));
        std::memcpy(out + j, buf, (size_t)(n - j) * sizeof(double));
    }
}

// The same with ATen's AVX512 vectors (Sleef_expf16_u10 / Sleef_expd8_u10). Compiled for AVX512F
// whatever -march says; called only where torch itself runs its AVX512 kernels.
#define SF_CLIF_AVX512 __attribute__((target("avx512f")))
typedef __m512 (*ExpF16)(__m512);
typedef __m512d (*ExpD8)(__m512d);
SF_CLIF_AVX512 inline __m512 vec_sigmoid16(__m512 x, ExpF16 f) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(f(_mm512_sub_ps(_mm512_setzero_ps(), x)), one));
}
SF_CLIF_AVX512 inline __m512d vec_sigmoid8d(__m512d x, ExpD8 f) {
    const __m512d one = _mm512_set1_pd(1.0);
    return _mm512_div_pd(one, _mm512_add_pd(f(_mm512_sub_pd(_mm512_setzero_pd(), x)), one));
}
SF_CLIF_AVX512 void vec_sigmoid512(const float* a, float* out, int64_t n, const void* vexp) {
    const ExpF16 f = reinterpret_cast<ExpF16>(const_cast<void*>(vexp));
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) _mm512_storeu_ps(out + j, vec_sigmoid16(_mm512_loadu_ps(a + j), f));
    if (j < n) {
        alignas(64) float buf[16] = {0};
        std::memcpy(buf, a + j, (size_t)(n - j) * sizeof(float));
        _mm512_store_ps(buf, vec_sigmoid16(_mm512_load_ps(buf), f));
        std::memcpy(out + j, buf, (size_t)(n - j) * sizeof(float));
    }
}
SF_CLIF_AVX512 void vec_sigmoid512(const double* a, double* out, int64_t n, const void* vexp) {
    const ExpD8 f = reinterpret_cast<ExpD8>(const_cast<void*>(vexp));
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) _mm512_storeu_pd(out + j, vec_sigmoid8d(_mm512_loadu_pd(a + j), f));
    if (j < n) {
        alignas(64) double buf[8] = {0};
        std::memcpy(buf, a + j, (size_t)(n - j) * sizeof(double));
        _mm512_store_pd(buf, vec_sigmoid8d(_mm512_load_pd(buf), f));
        std::memcpy(out + j, buf, (size_t)(n - j) * sizeof(double));
    }
}
#endif

// torch.sigmoid of a block: the vector code everywhere, then the scalar op on the block's scalar
// lanes (ATen's scalar lambda: 1 / (1 + std::exp(-a))).
template <typename R>
inline void torch_sigmoid(const R* a, R* out, int64_t n, const int64_t* scal, int64_t nscal, const TorchLoop& tl) {
#if defined(__AVX__)
    if (tl.vbytes == 64) vec_sigmoid512(a, out, n, tl.vexp);
    else vec_sigmoid(a, out, n, tl.vexp);
#else
    (void)tl;
#endif
    for (int64_t k = 0; k < nscal; ++k) {
        const int64_t j = scal[k];
        out[j] = (R)1 / ((R)1 + std::exp(-a[j]));
    }
}

// Lanes j of block [m0, m0 + n) that torch computes with its scalar op; returns their count.
template <typename R>
inline int64_t scalar_lanes(int64_t m0, int64_t n, int64_t M, const TorchLoop& tl, int64_t* scal) {
    const int64_t W = tl.vbytes / (int64_t)sizeof(R);  // vector lanes
    int64_t k = 0;
    for (int64_t j = 0; j < n; ++j)
        if (!clif_torch_vector_lane(m0 + j, M, tl.tnt, W)) scal[k++] = j;
    return k;
}

template <typename R>
inline void cl_load_coefs(R (*cf)[CL_CB], const R* const* c, int64_t cmask, int64_t m0, int64_t n) {
    for (int k = 0; k < CL_NCOEF; ++k)
        for (int64_t j = 0; j < n; ++j) cf[k][j] = (cmask >> k & 1) ? c[k][0] : c[k][m0 + j];
}

// bad = {t, m, code}: code 1 + slot for a non-finite initial state (t = 0), 3 + slot for a state that
// became non-finite at step t; the smallest (t, phase, m) over blocks is kept.
inline void cl_report(int64_t t, int64_t m, int64_t code, int64_t* bad) {
#pragma omp critical(sf_clif_nonfinite)
    {
        const int64_t ph = code >= 3, bph = bad[2] >= 3;
        const bool before = bad[2] == 0 || (t != bad[0] ? t < bad[0] : (ph != bph ? ph < bph : m < bad[1]));
        if (before) { bad[0] = t; bad[1] = m; bad[2] = code; }
    }
}

template <typename R>
inline int64_t cl_first_nonfinite(const R* v, const R* m, int64_t n, int64_t* slot) {
    for (int64_t j = 0; j < n; ++j) {
        if (!std::isfinite(v[j])) { *slot = 0; return j; }
        if (!std::isfinite(m[j])) { *slot = 1; return j; }
    }
    return -1;
}

// One step of a block (the forward arithmetic, shared by forward and the backward's recomputation):
// v, m in place; z (may be null), and the sigmoids g1, g2 and the state before (vb, mb) if given.
template <typename R>
inline void cl_step(int64_t n, const R* xt, R* v, R* m, R* zt, R (*cf)[CL_CB], const int64_t* scal, int64_t nscal,
                    const TorchLoop& tl, R* v1, R* a, R* g1, R* g2) {
    const R *cd = cf[CL_CD], *tau = cf[CL_TAU], *vth = cf[CL_VTH];
    for (int64_t j = 0; j < n; ++j) {
        const R p = v[j] * cd[j];
        v1[j] = p + xt[j];
        a[j] = v1[j] / tau[j];
    }
    torch_sigmoid<R>(a, g1, n, scal, nscal, tl);
    for (int64_t j = 0; j < n; ++j) {
        const R m1 = m[j] * g1[j];
        const R s = (R)((v1[j] - vth[j]) > (R)0);
        if (zt) zt[j] = s;
        m[j] = m1 + s;
        v[j] = v1[j] - s * vth[j];  // v2; the complementary reset follows
        a[j] = s;  // the spike, kept for the second reset
    }
    torch_sigmoid<R>(m, g2, n, scal, nscal, tl);
    for (int64_t j = 0; j < n; ++j) v[j] = v[j] - a[j] * g2[j];
}

template <typename R, bool CHECK>
void cl_forward(int64_t T, int64_t M, const R* x, R* z, const R* const* st0, R* const* stT, const R* const* c,
                int64_t cmask, int nthreads, int64_t* bad, const TorchLoop& tl) {
    const int64_t nchunks = (M + CL_CB - 1) / CL_CB;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 4)
    for (int64_t ch = 0; ch < nchunks; ++ch) {
        const int64_t m0 = ch * CL_CB, n = std::min(CL_CB, M - m0);
        R cf[CL_NCOEF][CL_CB], v[CL_CB], m[CL_CB], v1[CL_CB], a[CL_CB], g1[CL_CB], g2[CL_CB];
        int64_t scal[CL_CB];
        const int64_t nscal = scalar_lanes<R>(m0, n, M, tl, scal);
        cl_load_coefs(cf, c, cmask, m0, n);
        for (int64_t j = 0; j < n; ++j) { v[j] = st0[0][m0 + j]; m[j] = st0[1][m0 + j]; }
        int64_t t_end = T;
        if (CHECK) {
            int64_t slot = 0;
            const int64_t j = cl_first_nonfinite(v, m, n, &slot);
            if (j >= 0) { cl_report(0, m0 + j, 1 + slot, bad); t_end = 0; }
        }
        for (int64_t t = 0; t < t_end; ++t) {
            if (t + 2 < t_end) { sfk::prefetch_values(x + (t + 2) * M + m0, n, false); sfk::prefetch_values(z + (t + 2) * M + m0, n, true); }
            cl_step<R>(n, x + t * M + m0, v, m, z + t * M + m0, cf, scal, nscal, tl, v1, a, g1, g2);
            if (CHECK) {
                R probe = (R)0;  // 0, or NaN iff a state is NaN/inf (in any summation order)
#pragma omp simd reduction(+ : probe)
                for (int64_t j = 0; j < n; ++j) probe += (v[j] - v[j]) + (m[j] - m[j]);
                if (probe != probe) {
                    int64_t slot = 0;
                    const int64_t j = cl_first_nonfinite(v, m, n, &slot);
                    cl_report(t, m0 + j, 3 + slot, bad);
                    break;
                }
            }
        }
        for (int64_t j = 0; j < n; ++j) { stT[0][m0 + j] = v[j]; stT[1][m0 + j] = m[j]; }
    }
}

template <typename R, bool NEEDP>
void cl_backward(int64_t T, int64_t M, const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx,
                 const R* const* st0, const R* const* gstT, R* const* gst0, const R* const* c, int64_t cmask,
                 R* const* gc, int detach, int sg_kind, R sg_p, int nthreads, const TorchLoop& tl) {
    // block of neurons whose history (v, m before every step; both sigmoids) fits in ~384 KiB
    int64_t CH = (int64_t)(384 * 1024) / (std::max<int64_t>(T, 1) * 4 * (int64_t)sizeof(R));
    CH = std::max<int64_t>(16, std::min<int64_t>(CL_CB, CH / 16 * 16));
    const int64_t nchunks = (M + CH - 1) / CH;
    const R keep = detach ? (R)0 : (R)1;
#pragma omp parallel num_threads(nthreads)
    {
        // per-thread history, kept between calls (OpenMP threads persist): no page faults per call
        static thread_local std::vector<R> hist;
        if (hist.size() < (size_t)(4 * T * CH)) hist.resize((size_t)(4 * T * CH));
        R *VB = hist.data(), *MB = VB + T * CH, *G1 = MB + T * CH, *G2 = G1 + T * CH;
#pragma omp for schedule(dynamic, 2)
        for (int64_t ch = 0; ch < nchunks; ++ch) {
            const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
            R cf[CL_NCOEF][CL_CB], acc[CL_NCOEF][CL_CB], v[CL_CB], m[CL_CB], v1[CL_CB], a[CL_CB];
            int64_t scal[CL_CB];
            const int64_t nscal = scalar_lanes<R>(m0, n, M, tl, scal);
            cl_load_coefs(cf, c, cmask, m0, n);
            const R *cd = cf[CL_CD], *tau = cf[CL_TAU], *vth = cf[CL_VTH];
            // 1. recompute the state before every step and both sigmoids (forward arithmetic)
            for (int64_t j = 0; j < n; ++j) { v[j] = st0[0][m0 + j]; m[j] = st0[1][m0 + j]; }
            for (int64_t t = 0; t < T; ++t) {
                if (t + 2 < T) sfk::prefetch_values(x + (t + 2) * M + m0, n, false);
                std::memcpy(VB + t * CH, v, (size_t)n * sizeof(R));
                std::memcpy(MB + t * CH, m, (size_t)n * sizeof(R));
                cl_step<R>(n, x + t * M + m0, v, m, nullptr, cf, scal, nscal, tl, v1, a, G1 + t * CH, G2 + t * CH);
            }
            // 2. adjoint recurrence backwards in time; gv, gm: gradients of the state after step t
            R gv[CL_CB], gm[CL_CB], sg[CL_CB];
            for (int64_t j = 0; j < n; ++j) {
                gv[j] = gstT[0] ? gstT[0][m0 + j] : (R)0;
                gm[j] = gstT[1] ? gstT[1][m0 + j] : (R)0;
            }
            if (NEEDP) for (int k = 0; k < CL_NCOEF; ++k) for (int64_t j = 0; j < n; ++j) acc[k][j] = (R)0;
            for (int64_t t = T - 1; t >= 0; --t) {
                if (t >= 2) {
                    sfk::prefetch_values(x + (t - 2) * M + m0, n, false);
                    sfk::prefetch_values(gx + (t - 2) * M + m0, n, true);
                    if (gsm) sfk::prefetch_values(gz + (t - 2) * gst + m0, n, false);
                }
                const R* xt = x + t * M + m0;
                const R *vb = VB + t * CH, *mb = MB + t * CH, *s1 = G1 + t * CH, *s2 = G2 + t * CH;
                const R* gzt = gz + t * gst + m0 * gsm;
                R* gxt = gx + t * M + m0;
                // the surrogate derivative at u = v1 - vth over the block, one vectorised pass
                for (int64_t j = 0; j < n; ++j) sg[j] = (vb[j] * cd[j] + xt[j]) - vth[j];
                sfk::surrogate_inplace<R>(sg_kind, sg_p, sg, n);
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    const R vp = vb[j], mp = mb[j], q1 = s1[j], q2 = s2[j];
                    const R w1 = vp * cd[j] + xt[j];
                    const R u = w1 - vth[j];
                    const R s = u > (R)0 ? (R)1 : (R)0;
                    const R g = gv[j];  // v' = v2 - z sigmoid(m'),  v2 = v1 - z vth
                    const R gzr = -g * q2 - g * vth[j];
                    const R gm2 = gm[j] - g * s * q2 * ((R)1 - q2);  // m' = m1 + z, read by sigmoid(m')
                    const R gs = gzt[j * gsm] + gm2 + keep * gzr;
                    const R gu = gs * sg[j];
                    const R gg1 = gm2 * mp;  // m1 = m sigmoid(a)
                    const R ga = gg1 * q1 * ((R)1 - q1);
                    const R gv1 = g + gu + ga / tau[j];  // a = v1 / tau
                    if (NEEDP) {
                        acc[CL_VTH][j] += -g * s - gu;
                        acc[CL_TAU][j] += -ga * (w1 / tau[j]) / tau[j];
                        acc[CL_CD][j] += gv1 * vp;
                    }
                    gxt[j] = gv1;
                    gv[j] = gv1 * cd[j];
                    gm[j] = gm2 * q1;
                }
            }
            for (int64_t j = 0; j < n; ++j) {
                if (gst0[0]) gst0[0][m0 + j] = gv[j];
                if (gst0[1]) gst0[1][m0 + j] = gm[j];
            }
            if (NEEDP)
                for (int k = 0; k < CL_NCOEF; ++k)
                    if (gc[k]) for (int64_t j = 0; j < n; ++j) gc[k][m0 + j] = acc[k][j];
        }
    }
}

}  // namespace

#if defined(__AVX__)
#define SF_CLIF_AVX 1
#else
#define SF_CLIF_AVX 0
#endif

// the call describes a loop the kernel reproduces: torch's vector exp, 32- or 64-byte vectors
#define SF_CLIF_LOOP_OK(vexp, vbytes) (SF_CLIF_AVX && (vexp) && ((vbytes) == 32 || (vbytes) == 64))

#define SF_CLIF_EXPORT(R, SUF)                                                                        \
extern "C" int sf_clif_forward_##SUF(int64_t T, int64_t M, const R* x, R* z, const R* const* st0,     \
                                     R* const* stT, const R* const* c, int64_t cmask, int nt,         \
                                     int check, int64_t* bad, int tnt, const void* vexp, int vbytes) { \
    if (!SF_CLIF_LOOP_OK(vexp, vbytes)) return 1;                                                     \
    const TorchLoop tl{tnt, vexp, vbytes};                                                            \
    if (check) cl_forward<R, true>(T, M, x, z, st0, stT, c, cmask, nt, bad, tl);                      \
    else cl_forward<R, false>(T, M, x, z, st0, stT, c, cmask, nt, bad, tl);                           \
    return 0;                                                                                         \
}                                                                                                     \
extern "C" int sf_clif_backward_##SUF(int64_t T, int64_t M, const R* x, const R* gz, int64_t gst,     \
                                      int64_t gsm, R* gx, const R* const* st0, const R* const* gstT,  \
                                      R* const* gst0, const R* const* c, int64_t cmask,               \
                                      R* const* gc, int needp, int detach, int sg_kind,               \
                                      double sg_p, int nt, int tnt, const void* vexp, int vbytes) {   \
    if (!SF_CLIF_LOOP_OK(vexp, vbytes)) return 1;                                                     \
    const TorchLoop tl{tnt, vexp, vbytes};                                                            \
    if (needp) cl_backward<R, true>(T, M, x, gz, gst, gsm, gx, st0, gstT, gst0, c, cmask, gc, detach,  \
                                    sg_kind, (R)sg_p, nt, tl);                                        \
    else cl_backward<R, false>(T, M, x, gz, gst, gsm, gx, st0, gstT, gst0, c, cmask, gc, detach,       \
                               sg_kind, (R)sg_p, nt, tl);                                             \
    return 0;                                                                                         \
}                                                                                                     \
/* torch.sigmoid of a contiguous n-element tensor as the kernel computes it (tested against torch) */ \
extern "C" int sf_clif_sigmoid_##SUF(int64_t n, const R* a, R* out, int tnt, const void* vexp,        \
                                     int vbytes) {                                                    \
    if (!SF_CLIF_LOOP_OK(vexp, vbytes)) return 1;                                                     \
    const TorchLoop tl{tnt, vexp, vbytes};                                                            \
    _Pragma("omp parallel for schedule(static)")                                                      \
    for (int64_t m0 = 0; m0 < n; m0 += CL_CB) {                                                       \
        const int64_t nb = std::min(CL_CB, n - m0);                                                   \
        int64_t scal[CL_CB];                                                                          \
        const int64_t k = scalar_lanes<R>(m0, nb, n, tl, scal);                                       \
        torch_sigmoid<R>(a + m0, out + m0, nb, scal, k, tl);                                          \
    }                                                                                                 \
    return 0;                                                                                         \
}

SF_CLIF_EXPORT(float, f32)
SF_CLIF_EXPORT(double, f64)
