// Fused multi-step UltraLIF kernel (spikeforge/neurons/ultralif.py::ultralif_step): one call runs
// all T steps of a layer, evaluating the step's torch operations in their order:
//
//     A  = (v + ld) / E            ld = log(clamp(decay)), E = clamp(eps): computed in Python
//     B  = x / E
//     L  = logaddexp(A, B)          torch's CPU kernel, see below
//     v1 = E * L
//     u  = (v1 - th) / E
//     s  = sigmoid(u)               torch's CPU kernel, see below
//     v' = v1 * (1 - s)             output s
//
// logaddexp and sigmoid are not correctly rounded, so "the same operation" means torch's own CPU
// kernels (ATen BinaryOpsKernel / UnaryOpsKernel, cpu_kernel_vec): on the vector path (AVX2)
// logaddexp is max(a, b) + log1p(exp(-|a - b|)) with SLEEF's exp and log1p (u10; a == b = +-inf
// gives a), sigmoid is 1 / (exp(0 - u) + 1) with SLEEF's exp; on the scalar path they are the same
// formulas with the C library's exp and log1p. torch takes the scalar path for the last
// (len mod 2W) elements of each contiguous loop it runs (W lanes of a vector: 8 floats / 4 doubles
// in ATen's AVX2 kernels, SLEEF's f8/d4 functions; 16 floats / 8 doubles in its AVX512 kernels,
// SLEEF's f16/d8 functions), where a loop is the whole [B, *] step, or one thread's chunk of it when
// torch splits the op across threads. Python passes the SLEEF entry points (from the loaded
// libtorch_cpu), the vector width and the chunk length, so each element takes the path torch takes.
// SLEEF's vector functions are lane-wise, so packing any W elements into one call gives each the
// value torch gives it.
//
// Backward recomputes the trajectory of a block of neurons into cache-resident buffers (membrane
// before the step, v1, s and exp(-|A - B|): 4 T values per neuron; nothing is saved in forward but
// the inputs), then runs the adjoint recurrence backwards in time, accumulating per-neuron gradients
// of E, ld and th. Every per-element loop reads contiguous arrays (a block's coefficients are copied
// once, a one-value coefficient broadcast), so the compiler vectorises them; gradients are
// float-tolerance (dL/dA = 1/(1 + d) or d/(1 + d) with the recomputed d = exp(-|A - B|)).
#include "common.h"

namespace {

const int64_t UL_CB = 256;  // neurons per block

#if defined(__AVX__)
typedef __m256 (*ul_vf8)(__m256);
typedef __m256d (*ul_vd4)(__m256d);

// out[j] = f(in[j]) for j < n through a SLEEF vector function (the last group padded with zeros):
// 32-byte vectors (ATen's AVX2 kernels) ...
inline void ul_vapply(void* f, const float* in, float* out, int64_t n) {
    ul_vf8 g = reinterpret_cast<ul_vf8>(f);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(out + j, g(_mm256_loadu_ps(in + j)));
    if (j < n) {
        alignas(32) float b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t k = j; k < n; ++k) b[k - j] = in[k];
        _mm256_store_ps(b, g(_mm256_load_ps(b)));
        for (int64_t k = j; k < n; ++k) out[k] = b[k - j];
    }
}
inline void ul_vapply(void* f, const double* in, double* out, int64_t n) {
    ul_vd4 g = reinterpret_cast<ul_vd4>(f);
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) _mm256_storeu_pd(out + j, g(_mm256_loadu_pd(in + j)));
    if (j < n) {
        alignas(32) double b[4] = {0, 0, 0, 0};
        for (int64_t k = j; k < n; ++k) b[k - j] = in[k];
        _mm256_store_pd(b, g(_mm256_load_pd(b)));
        for (int64_t k = j; k < n; ++k) out[k] = b[k - j];
    }
}
// ... and 64-byte vectors (ATen's AVX512 kernels; compiled for AVX512F whatever -march says, called
// only where torch itself runs its AVX512 kernels)
#define UL_AVX512 __attribute__((target("avx512f")))
typedef __m512 (*ul_vf16)(__m512);
typedef __m512d (*ul_vd8)(__m512d);
UL_AVX512 void ul_vapply512(void* f, const float* in, float* out, int64_t n) {
    ul_vf16 g = reinterpret_cast<ul_vf16>(f);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) _mm512_storeu_ps(out + j, g(_mm512_loadu_ps(in + j)));
    if (j < n) {
        alignas(64) float b[16] = {0};
        for (int64_t k = j; k < n; ++k) b[k - j] = in[k];
        _mm512_store_ps(b, g(_mm512_load_ps(b)));
        for (int64_t k = j; k < n; ++k) out[k] = b[k - j];
    }
}
UL_AVX512 void ul_vapply512(void* f, const double* in, double* out, int64_t n) {
    ul_vd8 g = reinterpret_cast<ul_vd8>(f);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) _mm512_storeu_pd(out + j, g(_mm512_loadu_pd(in + j)));
    if (j < n) {
        alignas(64) double b[8] = {0};
        for (int64_t k = j; k < n; ++k) b[k - j] = in[k];
        _mm512_store_pd(b, g(_mm512_load_pd(b)));
        for (int64_t k = j; k < n; ++k) out[k] = b[k - j];
    }
}
// f applied with torch's vector width (vbytes: 32 or 64; the exports reject anything else)
template <typename R>
inline void ul_vapply(int64_t vbytes, void* f, const R* in, R* out, int64_t n) {
    if (vbytes == 64) ul_vapply512(f, in, out, n);
    else ul_vapply(f, in, out, n);
}
#define UL_HAVE_VEC 1
#else
#define UL_HAVE_VEC 0
#endif

template <typename R>
struct UlMath {
    void* vexp;     // SLEEF exp (vbytes / sizeof(R) lanes)
    void* vlog1p;   // SLEEF log1p
    int64_t M;      // neurons per step
    int64_t chunk;  // length of torch's per-thread loop over the M elements
    int64_t vbytes; // bytes per vector of torch's loop: 32 (AVX2), 64 (AVX512)
};

// Does torch's cpu_kernel_vec take the vector path for element m of the step?
template <typename R>
inline bool ul_vector_path(int64_t m, const UlMath<R>& mt) {
    const int64_t W2 = 2 * (mt.vbytes / (int64_t)sizeof(R));
    const int64_t c0 = m / mt.chunk * mt.chunk, len = std::min(mt.chunk, mt.M - c0);
    return (m - c0) < len / W2 * W2;
}

// Block scratch of one step, and the block's coefficients as contiguous arrays (a one-value
// coefficient broadcast), so every per-element loop below is a straight vector loop.
template <typename R>
struct UlScratch {
    alignas(32) R A[UL_CB];
    alignas(32) R B[UL_CB];
    alignas(32) R d[UL_CB];
    alignas(32) R e[UL_CB];
    alignas(32) R l[UL_CB];
    alignas(32) R E[UL_CB];
    alignas(32) R ld[UL_CB];
    alignas(32) R th[UL_CB];
    int64_t sidx[UL_CB];  // block positions on torch's scalar path
    int64_t ns;
};

template <typename R>
inline void ul_block_coefs(UlScratch<R>& w, int64_t n, const R* E, int64_t se, const R* ld, int64_t sl,
                           const R* th, int64_t st) {
    for (int64_t j = 0; j < n; ++j) { w.E[j] = E[j * se]; w.ld[j] = ld[j * sl]; w.th[j] = th[j * st]; }
}

// One step of n neurons with the block's coefficients in w: v (in: membrane, out: new membrane),
// writes v1 and s; with eo, also exp(-|A - B|) (for the backward).
template <typename R>
inline void ul_step(const UlMath<R>& mt, UlScratch<R>& w, int64_t n, const R* __restrict xt, R* __restrict v,
                    R* __restrict v1o, R* __restrict so, R* __restrict eo = nullptr) {
#if UL_HAVE_VEC
    for (int64_t j = 0; j < n; ++j) {
        const R ej = w.E[j];
        const R A = (v[j] + w.ld[j]) / ej, B = xt[j] / ej;
        w.A[j] = A; w.B[j] = B;
        w.d[j] = -std::fabs(A - B);
    }
    ul_vapply(mt.vbytes, mt.vexp, w.d, w.e, n);
    if (eo) std::memcpy(eo, w.e, (size_t)n * sizeof(R));
    ul_vapply(mt.vbytes, mt.vlog1p, w.e, w.l, n);
    for (int64_t j = 0; j < n; ++j) {  // vector path: maximum (NaN-propagating) + log1p(exp(-|a - b|))
        const R A = w.A[j], B = w.B[j];
        const R m = (A != A || B != B) ? A + B : (A > B ? A : B);  // _mm256_max_ps(A, B) on a tie returns B
        const R L = m + w.l[j];
        v1o[j] = (A == B && std::fabs(A) == (R)INFINITY) ? A : L;
    }
    for (int64_t k = 0; k < w.ns; ++k) {  // scalar path: std::max, C library exp and log1p
        const int64_t j = w.sidx[k];
        const R A = w.A[j], B = w.B[j];
        if (std::isinf(A) && A == B) v1o[j] = A;
        else v1o[j] = std::max(A, B) + std::log1p(std::exp(-std::fabs(A - B)));
    }
    for (int64_t j = 0; j < n; ++j) {
        const R ej = w.E[j];
        const R v1 = ej * v1o[j];
        const R u = (v1 - w.th[j]) / ej;
        v1o[j] = v1;
        w.A[j] = u;
        w.d[j] = (R)0 - u;
    }
    ul_vapply(mt.vbytes, mt.vexp, w.d, w.e, n);
    for (int64_t j = 0; j < n; ++j) so[j] = (R)1 / (w.e[j] + (R)1);
    for (int64_t k = 0; k < w.ns; ++k) {
        const int64_t j = w.sidx[k];
        so[j] = (R)1 / ((R)1 + std::exp(-w.A[j]));
    }
    for (int64_t j = 0; j < n; ++j) v[j] = v1o[j] * ((R)1 - so[j]);
#else
    (void)mt; (void)w; (void)n; (void)xt; (void)v; (void)v1o; (void)so; (void)eo;
#endif
}

template <typename R>
inline void ul_scalar_positions(const UlMath<R>& mt, UlScratch<R>& w, int64_t m0, int64_t n) {
    w.ns = 0;
    for (int64_t j = 0; j < n; ++j)
        if (!ul_vector_path(m0 + j, mt)) w.sidx[w.ns++] = j;
}

inline void ul_report(int64_t t, int64_t m, int64_t code, int64_t* bad) {
#pragma omp critical(sf_ultralif_nonfinite)
    {
        const bool before = bad[2] == 0 || t < bad[0] || (t == bad[0] && (code < bad[2] || (code == bad[2] && m < bad[1])));
        if (before) { bad[0] = t; bad[1] = m; bad[2] = code; }
    }
}

// bad = {t, m, code}: code 1 = non-finite initial membrane, 2 = membrane non-finite after step t.
template <typename R, bool CHECK>
void ul_forward(const UlMath<R>& mt, int64_t T, const R* x, R* z, const R* v0, R* vT, const R* E, int64_t se,
                const R* ld, int64_t sl, const R* th, int64_t st, int nthreads, int64_t* bad) {
    const int64_t M = mt.M, nblk = (M + UL_CB - 1) / UL_CB;
#pragma omp parallel num_threads(nthreads)
    {
        UlScratch<R> w;
        R v[UL_CB], v1[UL_CB];
#pragma omp for schedule(dynamic, 4)
        for (int64_t b = 0; b < nblk; ++b) {
            const int64_t m0 = b * UL_CB, n = std::min(UL_CB, M - m0);
            ul_scalar_positions(mt, w, m0, n);
            ul_block_coefs(w, n, E + m0 * se, se, ld + m0 * sl, sl, th + m0 * st, st);
            int64_t t_end = T;
            for (int64_t j = 0; j < n; ++j) v[j] = v0[m0 + j];
            if (CHECK) {
                for (int64_t j = 0; j < n; ++j)
                    if (!std::isfinite(v[j])) { ul_report(0, m0 + j, 1, bad); t_end = 0; break; }
            }
            for (int64_t t = 0; t < t_end; ++t) {
                ul_step(mt, w, n, x + t * M + m0, v, v1, z + t * M + m0);
                if (CHECK) {
                    int nonfinite = 0;  // v - v is NaN exactly for a non-finite v (an OR: vectorises)
                    for (int64_t j = 0; j < n; ++j) nonfinite |= (v[j] - v[j]) != (v[j] - v[j]);
                    if (nonfinite) {
                        for (int64_t j = 0; j < n; ++j)
                            if (!std::isfinite(v[j])) { ul_report(t, m0 + j, 2, bad); break; }
                        break;
                    }
                }
            }
            for (int64_t j = 0; j < n; ++j) vT[m0 + j] = v[j];
        }
    }
}

template <typename R>
void ul_backward(const UlMath<R>& mt, int64_t T, const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx,
                 const R* v0, const R* gvT, R* gv0, const R* E, int64_t se, const R* ld, int64_t sl, const R* th,
                 int64_t st, R* gE, R* gld, R* gth, int detach, int nthreads) {
    const int64_t M = mt.M;
    int64_t CH = (int64_t)(384 * 1024) / (std::max<int64_t>(T, 1) * 4 * (int64_t)sizeof(R));
    CH = std::max<int64_t>(8, std::min<int64_t>(UL_CB, CH / 8 * 8));
    const int64_t nblk = (M + CH - 1) / CH;
    const R keep = detach ? (R)0 : (R)1;
#pragma omp parallel num_threads(nthreads)
    {
        UlScratch<R> w;
        std::vector<R> VP((size_t)(T * CH)), V1((size_t)(T * CH)), S((size_t)(T * CH)), D((size_t)(T * CH));
        alignas(32) R v[UL_CB];
        alignas(32) R gv[UL_CB];
        alignas(32) R aE[UL_CB];
        alignas(32) R ald[UL_CB];
        alignas(32) R ath[UL_CB];
        alignas(32) R gzc[UL_CB];
#pragma omp for schedule(dynamic, 2)
        for (int64_t b = 0; b < nblk; ++b) {
            const int64_t m0 = b * CH, n = std::min(CH, M - m0);
            ul_scalar_positions(mt, w, m0, n);
            ul_block_coefs(w, n, E + m0 * se, se, ld + m0 * sl, sl, th + m0 * st, st);
            for (int64_t j = 0; j < n; ++j) v[j] = v0[m0 + j];
            for (int64_t t = 0; t < T; ++t) {  // 1. the forward trajectory of this block
                std::memcpy(VP.data() + t * CH, v, (size_t)n * sizeof(R));
                ul_step(mt, w, n, x + t * M + m0, v, V1.data() + t * CH, S.data() + t * CH, D.data() + t * CH);
            }
            for (int64_t j = 0; j < n; ++j) {  // 2. adjoint recurrence, backwards in time
                gv[j] = gvT ? gvT[m0 + j] : (R)0;
                aE[j] = ald[j] = ath[j] = (R)0;
            }
            for (int64_t t = T - 1; t >= 0; --t) {
                const R* __restrict xt = x + t * M + m0;
                const R* gzt = gz + t * gst + m0 * gsm;
                if (gsm != 1) {
                    for (int64_t j = 0; j < n; ++j) gzc[j] = gzt[j * gsm];
                    gzt = gzc;
                }
                const R *__restrict vp = VP.data() + t * CH, *__restrict v1b = V1.data() + t * CH;
                const R *__restrict sb = S.data() + t * CH, *__restrict db = D.data() + t * CH;
                R* __restrict gxt = gx + t * M + m0;
                // d = exp(-|A - B|): dL/dA = sigmoid(A - B) is 1/(1+d) for A >= B, d/(1+d) otherwise
                for (int64_t j = 0; j < n; ++j) {
                    const R e = w.E[j], s = sb[j], v1 = v1b[j], g = gv[j];
                    R gv1 = g * ((R)1 - s);
                    const R gs = gzt[j] - keep * g * v1;
                    const R gu = gs * ((R)1 - s) * s;
                    const R u = (v1 - w.th[j]) / e;
                    gv1 += gu / e;
                    ath[j] -= gu / e;
                    R ae = aE[j] - gu * u / e;
                    const R L = v1 / e;
                    const R gL = gv1 * e;
                    ae += gv1 * L;
                    const R A = (vp[j] + w.ld[j]) / e, B = xt[j] / e;
                    const R r = (R)1 / ((R)1 + db[j]);
                    const R big = gL * r, small = gL * (db[j] * r);
                    const R gA = A >= B ? big : small, gB = A >= B ? small : big;
                    aE[j] = ae - (gA * A + gB * B) / e;
                    gxt[j] = gB / e;
                    const R ga0 = gA / e;
                    ald[j] += ga0;
                    gv[j] = ga0;
                }
            }
            for (int64_t j = 0; j < n; ++j) {
                if (gv0) gv0[m0 + j] = gv[j];
                if (gE) gE[m0 + j] = aE[j];
                if (gld) gld[m0 + j] = ald[j];
                if (gth) gth[m0 + j] = ath[j];
            }
        }
    }
}

// ---- UltraDLIF (neurons/ultradlif.py::ultradlif_step) -------------------------------------------
// Rows of H neurons on a ring (the step's last dim, row-major flat [M] = [R, H]); per step, in the
// step's torch order (E = clamp(eps) computed in Python, i-1 and i+1 taken mod H in the row):
//
//     q_k = V_{n_k(i)} / E_i,  n = (i-1, i, i+1)        stack of the rolls, divided by eps
//     m   = max_k q_k  (NaN-propagating; 0 where |m| = inf)           torch.logsumexp's amax + masked_fill
//     L   = ln((e^{q_0 - m} + e^{q_1 - m}) + e^{q_2 - m}) + m         exp_, sum over dim 0, log_, add_
//     v1  = E L + x,  u = (v1 - th) / E,  s = sigmoid(u),  V' = v1 (1 - s)   (UltraLIF's sigmoid)
//
// torch's exp_ and log_ on CPU are MKL VML's v?Exp/v?Ln (ATen vml.h, mode VML_HA | FTZDAZ_OFF |
// ERRMODE_IGNORE, checked bit for bit by ultradlif_kernel.py); VML is lane-wise, so one call per
// block of q's gives each element torch's value. The 3-term sum adds in dim-0 order.
// Backward recomputes a block's trajectory (4 T values per neuron: V, L, v1, s), then the adjoint:
// dL/dq_k = e^{q_k - L} (softmax weight, C library exp), and the membrane gradient gathers
// g q_k / E_i from the three neurons that read V_j.
typedef void (*ud_vml_f32)(int64_t, const float*, float*, int64_t);
typedef void (*ud_vml_f64)(int64_t, const double*, double*, int64_t);
inline void ud_vml(void* f, int64_t n, const float* in, float* out, int64_t mode) {
    reinterpret_cast<ud_vml_f32>(f)(n, in, out, mode);
}
inline void ud_vml(void* f, int64_t n, const double* in, double* out, int64_t mode) {
    reinterpret_cast<ud_vml_f64>(f)(n, in, out, mode);
}

template <typename R>
struct UdMath {
    UlMath<R> ul;   // SLEEF exp for the sigmoid, M, torch's loop length
    int64_t H;      // ring length (neurons per row)
    void* vmlexp;   // MKL v?Exp_64(n, in, out, mode)
    void* vmlln;    // MKL v?Ln_64
    int64_t mode;   // VML mode ATen passes
    void* threads;  // MKL_Set_Num_Threads_Local: VML must not start threads inside ours
};

// Each thread of the kernel runs VML single-threaded (else MKL's own threads nest in ours and
// oversubscribe: 2 kernel threads took 17 s instead of 0.08 s per call under load).
struct UdVmlThreads {
    typedef int (*set_f)(int);
    set_f set;
    int prev;
    explicit UdVmlThreads(void* f) : set(reinterpret_cast<set_f>(f)), prev(set(1)) {}
    ~UdVmlThreads() { set(prev); }
};

// Per-thread scratch of one block of n neurons (a whole number of rows); E, th: the block's
// coefficients as contiguous arrays (a one-value coefficient broadcast).
template <typename R>
struct UdScratch {
    std::vector<R> q, e, qs, mx, sum, ln, u, d, ex, E, th;  // q, e, qs: 3 n (k = 0 | 1 | 2)
    std::vector<int64_t> sidx;                             // block positions on torch's scalar sigmoid path
    int64_t ns = 0;
    explicit UdScratch(int64_t n)
        : q(3 * n), e(3 * n), qs(3 * n), mx(n), sum(n), ln(n), u(n), d(n), ex(n), E(n), th(n), sidx(n) {}
    void coefs(int64_t n, const R* Ep, int64_t se, const R* thp, int64_t st) {
        for (int64_t j = 0; j < n; ++j) { E[j] = Ep[j * se]; th[j] = thp[j * st]; }
    }
};

// Calls f(j, left, right) for every neuron j of the block's rows, with the ring neighbours' indices;
// the interior of each row is a straight loop (j - 1, j + 1) the compiler vectorises.
template <typename F>
inline void ud_ring(int64_t n, int64_t H, F&& f) {
    for (int64_t r0 = 0; r0 < n; r0 += H) {
        f(r0, r0 + H - 1, r0 + (H > 1 ? 1 : 0));
        for (int64_t j = r0 + 1; j < r0 + H - 1; ++j) f(j, j - 1, j + 1);
        if (H > 1) f(r0 + H - 1, r0 + H - 2, r0);
    }
}

template <typename R>
inline void ud_sigmoid_positions(const UdMath<R>& mt, UdScratch<R>& w, int64_t m0, int64_t n) {
    w.ns = 0;
    for (int64_t j = 0; j < n; ++j)
        if (!ul_vector_path(m0 + j, mt.ul)) w.sidx[w.ns++] = j;
}

// One step of a block of n = rows * H neurons: v (in: membrane, out: new membrane); writes the
// soft maximum L, v1 and s.
template <typename R>
inline void ud_step(const UdMath<R>& mt, UdScratch<R>& w, int64_t n, const R* __restrict xt, R* __restrict v,
                    R* __restrict Lo, R* __restrict v1o, R* __restrict so) {
#if UL_HAVE_VEC
    R *q0 = w.q.data(), *q1 = q0 + n, *q2 = q1 + n;
    const R* E = w.E.data();
    R* mx = w.mx.data();
    ud_ring(n, mt.H, [&](int64_t j, int64_t jl, int64_t jr) {
        const R ej = E[j];
        const R a = v[jl] / ej, b = v[j] / ej, c = v[jr] / ej;
        const R ab = a > b ? a : b;
        R m = ab > c ? ab : c;
        const bool nan = (a != a) | (b != b) | (c != c);  // amax propagates NaN
        m = nan ? a + b + c : m;
        m = std::fabs(m) == (R)INFINITY ? (R)0 : m;
        mx[j] = m;
        q0[j] = a - m; q1[j] = b - m; q2[j] = c - m;
    });
    ud_vml(mt.vmlexp, 3 * n, q0, w.e.data(), mt.mode);
    const R *e0 = w.e.data(), *e1 = e0 + n, *e2 = e1 + n;
    for (int64_t j = 0; j < n; ++j) w.sum[j] = (e0[j] + e1[j]) + e2[j];
    ud_vml(mt.vmlln, n, w.sum.data(), w.ln.data(), mt.mode);
    for (int64_t j = 0; j < n; ++j) {
        const R ej = E[j];
        const R L = w.ln[j] + w.mx[j];
        const R v1 = ej * L + xt[j];
        const R u = (v1 - w.th[j]) / ej;
        Lo[j] = L; v1o[j] = v1;
        w.u[j] = u;
        w.d[j] = (R)0 - u;
    }
    ul_vapply(mt.ul.vbytes, mt.ul.vexp, w.d.data(), w.ex.data(), n);
    for (int64_t j = 0; j < n; ++j) so[j] = (R)1 / (w.ex[j] + (R)1);
    for (int64_t k = 0; k < w.ns; ++k) {
        const int64_t j = w.sidx[k];
        so[j] = (R)1 / ((R)1 + std::exp(-w.u[j]));
    }
    for (int64_t j = 0; j < n; ++j) v[j] = v1o[j] * ((R)1 - so[j]);
#else
    (void)mt; (void)w; (void)n; (void)xt; (void)v; (void)Lo; (void)v1o; (void)so;
#endif
}

// Rows per block: about `target` neurons, at least one row.
inline int64_t ud_rows(int64_t H, int64_t target) { return std::max<int64_t>(1, target / std::max<int64_t>(H, 1)); }

template <typename R, bool CHECK>
void ud_forward(const UdMath<R>& mt, int64_t T, const R* x, R* z, const R* v0, R* vT, const R* E, int64_t se,
                const R* th, int64_t st, int nthreads, int64_t* bad) {
    const int64_t M = mt.ul.M, H = mt.H, rows = M / H, rb = ud_rows(H, 512), nblk = (rows + rb - 1) / rb;
    const int64_t CB = rb * H;
#pragma omp parallel num_threads(nthreads)
    {
        UdVmlThreads single(mt.threads);
        UdScratch<R> w(CB);
        std::vector<R> v((size_t)CB), L((size_t)CB), v1((size_t)CB);
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nblk; ++b) {
            const int64_t m0 = b * CB, n = std::min(CB, M - m0);
            ud_sigmoid_positions(mt, w, m0, n);
            w.coefs(n, E + m0 * se, se, th + m0 * st, st);
            int64_t t_end = T;
            for (int64_t j = 0; j < n; ++j) v[j] = v0[m0 + j];
            if (CHECK) {
                for (int64_t j = 0; j < n; ++j)
                    if (!std::isfinite(v[j])) { ul_report(0, m0 + j, 1, bad); t_end = 0; break; }
            }
            for (int64_t t = 0; t < t_end; ++t) {
                ud_step(mt, w, n, x + t * M + m0, v.data(), L.data(), v1.data(), z + t * M + m0);
                if (CHECK) {
                    int nonfinite = 0;  // v - v is NaN exactly for a non-finite v (an OR: vectorises)
                    for (int64_t j = 0; j < n; ++j) nonfinite |= (v[j] - v[j]) != (v[j] - v[j]);
                    if (nonfinite) {
                        for (int64_t j = 0; j < n; ++j)
                            if (!std::isfinite(v[j])) { ul_report(t, m0 + j, 2, bad); break; }
                        break;
                    }
                }
            }
            for (int64_t j = 0; j < n; ++j) vT[m0 + j] = v[j];
        }
    }
}

template <typename R>
void ud_backward(const UdMath<R>& mt, int64_t T, const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx,
                 const R* v0, const R* gvT, R* gv0, const R* E, int64_t se, const R* th, int64_t st, R* gE, R* gth,
                 int detach, int nthreads) {
    const int64_t M = mt.ul.M, H = mt.H, rows = M / H;
    const int64_t budget = (int64_t)(384 * 1024) / (std::max<int64_t>(T, 1) * 4 * (int64_t)sizeof(R));
    const int64_t rb = ud_rows(H, std::min<int64_t>(512, budget)), nblk = (rows + rb - 1) / rb, CB = rb * H;
    const R keep = detach ? (R)0 : (R)1;
#pragma omp parallel num_threads(nthreads)
    {
        UdVmlThreads single(mt.threads);
        UdScratch<R> w(CB);
        std::vector<R> VP((size_t)(T * CB)), LS((size_t)(T * CB)), V1((size_t)(T * CB)), S((size_t)(T * CB));
        std::vector<R> v((size_t)CB), gv((size_t)CB), aE((size_t)CB), ath((size_t)CB), c((size_t)(3 * CB));
        std::vector<R> gzc((size_t)CB);
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nblk; ++b) {
            const int64_t m0 = b * CB, n = std::min(CB, M - m0);
            ud_sigmoid_positions(mt, w, m0, n);
            w.coefs(n, E + m0 * se, se, th + m0 * st, st);
            const R *__restrict Eb = w.E.data(), *__restrict thb = w.th.data();
            for (int64_t j = 0; j < n; ++j) v[j] = v0[m0 + j];
            for (int64_t t = 0; t < T; ++t) {  // 1. the forward trajectory of this block
                std::memcpy(VP.data() + t * CB, v.data(), (size_t)n * sizeof(R));
                ud_step(mt, w, n, x + t * M + m0, v.data(), LS.data() + t * CB, V1.data() + t * CB, S.data() + t * CB);
            }
            for (int64_t j = 0; j < n; ++j) {  // 2. adjoint recurrence, backwards in time
                gv[j] = gvT ? gvT[m0 + j] : (R)0;
                aE[j] = ath[j] = (R)0;
            }
            R *__restrict c0 = c.data(), *__restrict c1 = c0 + n, *__restrict c2 = c1 + n;  // g q_k / E_i
            R *__restrict qa = w.qs.data(), *__restrict qb = qa + n, *__restrict qc = qb + n;  // q_k
            R *__restrict ea = w.q.data(), *__restrict eb = ea + n, *__restrict ec = eb + n;  // q_k - L, then e^
            for (int64_t t = T - 1; t >= 0; --t) {
                const R* gzt = gz + t * gst + m0 * gsm;
                if (gsm != 1) {
                    for (int64_t j = 0; j < n; ++j) gzc[j] = gzt[j * gsm];
                    gzt = gzc.data();
                }
                const R *__restrict vp = VP.data() + t * CB, *__restrict Lb = LS.data() + t * CB;
                const R *__restrict v1b = V1.data() + t * CB, *__restrict sb = S.data() + t * CB;
                R* __restrict gxt = gx + t * M + m0;
                ud_ring(n, H, [&](int64_t j, int64_t jl, int64_t jr) {
                    const R e = Eb[j], L = Lb[j];
                    const R a = vp[jl] / e, bq = vp[j] / e, cq = vp[jr] / e;
                    qa[j] = a; qb[j] = bq; qc[j] = cq;
                    ea[j] = a - L; eb[j] = bq - L; ec[j] = cq - L;
                });
                ul_vapply(mt.ul.vbytes, mt.ul.vexp, ea, ea, 3 * n);  // softmax weights dL/dq_k = e^{q_k - L}
#pragma GCC ivdep
                for (int64_t j = 0; j < n; ++j) {  // all arrays distinct: no dependence between j
                    const R e = Eb[j], s = sb[j], v1 = v1b[j], g = gv[j], L = Lb[j];
                    R gv1 = g * ((R)1 - s);
                    const R gs = gzt[j] - keep * g * v1;
                    const R gu = gs * ((R)1 - s) * s;
                    const R u = (v1 - thb[j]) / e;
                    gv1 += gu / e;
                    ath[j] -= gu / e;
                    R ae = aE[j] - gu * u / e;
                    gxt[j] = gv1;
                    const R gL = gv1 * e;
                    ae += gv1 * L;
                    const R ga = gL * ea[j], gb = gL * eb[j], gc = gL * ec[j];
                    aE[j] = ae - (ga * qa[j] + gb * qb[j] + gc * qc[j]) / e;
                    c0[j] = ga / e; c1[j] = gb / e; c2[j] = gc / e;
                }
                // V_j is read by its right neighbour (as q_0), itself (q_1) and its left neighbour (q_2)
                ud_ring(n, H, [&](int64_t j, int64_t jl, int64_t jr) { gv[j] = c0[jr] + c1[j] + c2[jl]; });
            }
            for (int64_t j = 0; j < n; ++j) {
                if (gv0) gv0[m0 + j] = gv[j];
                if (gE) gE[m0 + j] = aE[j];
                if (gth) gth[m0 + j] = ath[j];
            }
        }
    }
}

}  // namespace

// the vector widths of torch's loops the kernels reproduce (32: AVX2, 64: AVX512)
#define UL_VBYTES_OK(vbytes) ((vbytes) == 32 || (vbytes) == 64)

#define SF_UL_EXPORT(R, SUF)                                                                          \
extern "C" int sf_ultralif_forward_##SUF(int64_t T, int64_t M, int64_t chunk, int64_t vbytes,          \
                                         void* vexp, void* vlog1p,                                       \
                                         const R* x, R* z, const R* v0, R* vT, const R* E, int64_t se,   \
                                         const R* ld, int64_t sl, const R* th, int64_t st, int nt,       \
                                         int check, int64_t* bad) {                                      \
    if (!UL_HAVE_VEC) return 2;                                                                          \
    if (!UL_VBYTES_OK(vbytes)) return 3;                                                                 \
    const UlMath<R> mt{vexp, vlog1p, M, chunk, vbytes};                                                  \
    if (check) ul_forward<R, true>(mt, T, x, z, v0, vT, E, se, ld, sl, th, st, nt, bad);                 \
    else ul_forward<R, false>(mt, T, x, z, v0, vT, E, se, ld, sl, th, st, nt, bad);                      \
    return 0;                                                                                            \
}                                                                                                        \
extern "C" int sf_ultralif_backward_##SUF(int64_t T, int64_t M, int64_t chunk, int64_t vbytes,         \
                                          void* vexp, void* vlog1p,                                      \
                                          const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx,      \
                                          const R* v0, const R* gvT, R* gv0, const R* E, int64_t se,     \
                                          const R* ld, int64_t sl, const R* th, int64_t st, R* gE,       \
                                          R* gld, R* gth, int detach, int nt) {                          \
    if (!UL_HAVE_VEC) return 2;                                                                          \
    if (!UL_VBYTES_OK(vbytes)) return 3;                                                                 \
    const UlMath<R> mt{vexp, vlog1p, M, chunk, vbytes};                                                  \
    ul_backward<R>(mt, T, x, gz, gst, gsm, gx, v0, gvT, gv0, E, se, ld, sl, th, st, gE, gld, gth, detach, nt); \
    return 0;                                                                                            \
}

SF_UL_EXPORT(float, f32)
SF_UL_EXPORT(double, f64)

#define SF_UD_EXPORT(R, SUF)                                                                          \
extern "C" int sf_ultradlif_forward_##SUF(int64_t T, int64_t M, int64_t H, int64_t chunk, int64_t vbytes, \
                                          void* vexp,                                                    \
                                          void* vmlexp, void* vmlln, void* vmlthr, int64_t mode,         \
                                          const R* x, R* z,                                              \
                                          const R* v0, R* vT, const R* E, int64_t se, const R* th,       \
                                          int64_t st, int nt, int check, int64_t* bad) {                 \
    if (!UL_HAVE_VEC) return 2;                                                                          \
    if (!UL_VBYTES_OK(vbytes)) return 3;                                                                 \
    const UdMath<R> mt{UlMath<R>{vexp, nullptr, M, chunk, vbytes}, H, vmlexp, vmlln, mode, vmlthr};      \
    if (check) ud_forward<R, true>(mt, T, x, z, v0, vT, E, se, th, st, nt, bad);                         \
    else ud_forward<R, false>(mt, T, x, z, v0, vT, E, se, th, st, nt, bad);                              \
    return 0;                                                                                            \
}                                                                                                        \
extern "C" int sf_ultradlif_backward_##SUF(int64_t T, int64_t M, int64_t H, int64_t chunk, int64_t vbytes, \
                                           void* vexp,                                                   \
                                           void* vmlexp, void* vmlln, void* vmlthr, int64_t mode,        \
                                           const R* x,                                                   \
                                           const R* gz, int64_t gst, int64_t gsm, R* gx, const R* v0,    \
                                           const R* gvT, R* gv0, const R* E, int64_t se, const R* th,    \
                                           int64_t st, R* gE, R* gth, int detach, int nt) {              \
    if (!UL_HAVE_VEC) return 2;                                                                          \
    if (!UL_VBYTES_OK(vbytes)) return 3;                                                                 \
    const UdMath<R> mt{UlMath<R>{vexp, nullptr, M, chunk, vbytes}, H, vmlexp, vmlln, mode, vmlthr};      \
    ud_backward<R>(mt, T, x, gz, gst, gsm, gx, v0, gvT, gv0, E, se, th, st, gE, gth, detach, nt);        \
    return 0;                                                                                            \
}

SF_UD_EXPORT(float, f32)
SF_UD_EXPORT(double, f64)
