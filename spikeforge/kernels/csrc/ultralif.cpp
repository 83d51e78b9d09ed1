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
// (len mod 2W) elements of each contiguous loop it runs (W = 8 floats, 4 doubles), where a loop is
// the whole [B, *] step, or one thread's chunk of it when torch splits the op across threads.
// Python passes the SLEEF entry points (from the loaded libtorch_cpu) and the chunk length, so
// each element takes the path torch takes. SLEEF's vector functions are lane-wise, so packing any
// W elements into one call gives each the value torch gives it.
//
// Backward recomputes the trajectory of a block of neurons into cache-resident buffers (membrane
// before the step, v1, s: 3 T values per neuron; nothing is saved in forward but the inputs),
// then runs the adjoint recurrence backwards in time, accumulating per-neuron gradients of E, ld
// and th. Gradients are float-tolerance (the exp in backward is the C library's).
#include "common.h"

namespace {

const int64_t UL_CB = 256;  // neurons per block

#if defined(__AVX__)
typedef __m256 (*ul_vf8)(__m256);
typedef __m256d (*ul_vd4)(__m256d);

// out[j] = f(in[j]) for j < n through a SLEEF vector function (the last group padded with zeros)
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
#define UL_HAVE_VEC 1
#else
#define UL_HAVE_VEC 0
#endif

template <typename R>
struct UlMath {
    void* vexp;    // SLEEF exp (8 floats / 4 doubles)
    void* vlog1p;  // SLEEF log1p
    int64_t M;     // neurons per step
    int64_t chunk; // length of torch's per-thread loop over the M elements
};

// Does torch's cpu_kernel_vec take the vector path for element m of the step?
template <typename R>
inline bool ul_vector_path(int64_t m, const UlMath<R>& mt) {
    const int64_t W2 = 2 * (int64_t)(32 / sizeof(R));
    const int64_t c0 = m / mt.chunk * mt.chunk, len = std::min(mt.chunk, mt.M - c0);
    return (m - c0) < len / W2 * W2;
}

// Block scratch of one step.
template <typename R>
struct UlScratch {
    R A[UL_CB], B[UL_CB], d[UL_CB], e[UL_CB], l[UL_CB];
    int64_t sidx[UL_CB];  // block positions on torch's scalar path
    int64_t ns;
};

// One step of n neurons: v (in: membrane, out: new membrane), writes v1 and s.
template <typename R>
inline void ul_step(const UlMath<R>& mt, UlScratch<R>& w, int64_t n, const R* xt, R* v, R* v1o, R* so,
                    const R* E, int64_t se, const R* ld, int64_t sl, const R* th, int64_t st) {
#if UL_HAVE_VEC
    for (int64_t j = 0; j < n; ++j) {
        const R ej = E[j * se];
        const R a0 = v[j] + ld[j * sl];
        const R A = a0 / ej, B = xt[j] / ej;
        w.A[j] = A; w.B[j] = B;
        w.d[j] = -std::fabs(A - B);
    }
    ul_vapply(mt.vexp, w.d, w.e, n);
    ul_vapply(mt.vlog1p, w.e, w.l, n);
    for (int64_t j = 0; j < n; ++j) {  // vector path: maximum (NaN-propagating) + log1p(exp(-|a - b|))
        const R A = w.A[j], B = w.B[j];
        const R m = (A != A || B != B) ? A + B : (A > B ? A : B);  // _mm256_max_ps(A, B) on a tie returns B
        R L = m + w.l[j];
        if (A == B && std::fabs(A) == (R)INFINITY) L = A;
        v1o[j] = L;
    }
    for (int64_t k = 0; k < w.ns; ++k) {  // scalar path: std::max, C library exp and log1p
        const int64_t j = w.sidx[k];
        const R A = w.A[j], B = w.B[j];
        if (std::isinf(A) && A == B) v1o[j] = A;
        else v1o[j] = std::max(A, B) + std::log1p(std::exp(-std::fabs(A - B)));
    }
    for (int64_t j = 0; j < n; ++j) {
        const R ej = E[j * se];
        const R v1 = ej * v1o[j];
        const R u = (v1 - th[j * st]) / ej;
        v1o[j] = v1;
        w.A[j] = u;
        w.d[j] = (R)0 - u;
    }
    ul_vapply(mt.vexp, w.d, w.e, n);
    for (int64_t j = 0; j < n; ++j) so[j] = (R)1 / (w.e[j] + (R)1);
    for (int64_t k = 0; k < w.ns; ++k) {
        const int64_t j = w.sidx[k];
        so[j] = (R)1 / ((R)1 + std::exp(-w.A[j]));
    }
    for (int64_t j = 0; j < n; ++j) v[j] = v1o[j] * ((R)1 - so[j]);
#else
    (void)mt; (void)w; (void)n; (void)xt; (void)v; (void)v1o; (void)so; (void)E; (void)se; (void)ld; (void)sl;
    (void)th; (void)st;
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
            int64_t t_end = T;
            for (int64_t j = 0; j < n; ++j) v[j] = v0[m0 + j];
            if (CHECK) {
                for (int64_t j = 0; j < n; ++j)
                    if (!std::isfinite(v[j])) { ul_report(0, m0 + j, 1, bad); t_end = 0; break; }
            }
            for (int64_t t = 0; t < t_end; ++t) {
                ul_step(mt, w, n, x + t * M + m0, v, v1, z + t * M + m0, E + m0 * se, se, ld + m0 * sl, sl,
                        th + m0 * st, st);
                if (CHECK) {
                    R probe = (R)0;
                    for (int64_t j = 0; j < n; ++j) probe += v[j] - v[j];
                    if (probe != probe) {
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
    int64_t CH = (int64_t)(384 * 1024) / (std::max<int64_t>(T, 1) * 3 * (int64_t)sizeof(R));
    CH = std::max<int64_t>(8, std::min<int64_t>(UL_CB, CH / 8 * 8));
    const int64_t nblk = (M + CH - 1) / CH;
    const R keep = detach ? (R)0 : (R)1;
#pragma omp parallel num_threads(nthreads)
    {
        UlScratch<R> w;
        std::vector<R> VP((size_t)(T * CH)), V1((size_t)(T * CH)), S((size_t)(T * CH));
        R v[UL_CB], gv[UL_CB], aE[UL_CB], ald[UL_CB], ath[UL_CB];
#pragma omp for schedule(dynamic, 2)
        for (int64_t b = 0; b < nblk; ++b) {
            const int64_t m0 = b * CH, n = std::min(CH, M - m0);
            const R *Eb = E + m0 * se, *ldb = ld + m0 * sl, *thb = th + m0 * st;
            ul_scalar_positions(mt, w, m0, n);
            for (int64_t j = 0; j < n; ++j) v[j] = v0[m0 + j];
            for (int64_t t = 0; t < T; ++t) {  // 1. the forward trajectory of this block
                std::memcpy(VP.data() + t * CH, v, (size_t)n * sizeof(R));
                ul_step(mt, w, n, x + t * M + m0, v, V1.data() + t * CH, S.data() + t * CH, Eb, se, ldb, sl, thb, st);
            }
            for (int64_t j = 0; j < n; ++j) {  // 2. adjoint recurrence, backwards in time
                gv[j] = gvT ? gvT[m0 + j] : (R)0;
                aE[j] = ald[j] = ath[j] = (R)0;
            }
            for (int64_t t = T - 1; t >= 0; --t) {
                const R* xt = x + t * M + m0;
                const R* gzt = gz + t * gst + m0 * gsm;
                const R *vp = VP.data() + t * CH, *v1b = V1.data() + t * CH, *sb = S.data() + t * CH;
                R* gxt = gx + t * M + m0;
                for (int64_t j = 0; j < n; ++j) {
                    const R e = Eb[j * se], s = sb[j], v1 = v1b[j], g = gv[j];
                    R gv1 = g * ((R)1 - s);
                    const R gs = gzt[j * gsm] - keep * g * v1;
                    const R gu = gs * ((R)1 - s) * s;
                    const R u = (v1 - thb[j * st]) / e;
                    gv1 += gu / e;
                    ath[j] -= gu / e;
                    aE[j] -= gu * u / e;
                    const R L = v1 / e;
                    const R gL = gv1 * e;
                    aE[j] += gv1 * L;
                    const R A = (vp[j] + ldb[j * sl]) / e, B = xt[j] / e;
                    const R gA = gL / ((R)1 + std::exp(B - A)), gB = gL / ((R)1 + std::exp(A - B));
                    aE[j] -= (gA * A + gB * B) / e;
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
};

// Per-thread scratch of one block of n neurons (a whole number of rows).
template <typename R>
struct UdScratch {
    std::vector<R> q, e, mx, sum, ln, u, d, ex;  // q, e: 3 n (q_0 | q_1 | q_2)
    std::vector<int64_t> sidx;                   // block positions on torch's scalar sigmoid path
    int64_t ns = 0;
    explicit UdScratch(int64_t n)
        : q(3 * n), e(3 * n), mx(n), sum(n), ln(n), u(n), d(n), ex(n), sidx(n) {}
};

template <typename R>
inline void ud_sigmoid_positions(const UdMath<R>& mt, UdScratch<R>& w, int64_t m0, int64_t n) {
    w.ns = 0;
    for (int64_t j = 0; j < n; ++j)
        if (!ul_vector_path(m0 + j, mt.ul)) w.sidx[w.ns++] = j;
}

// One step of a block of n = rows * H neurons: v (in: membrane, out: new membrane); writes the
// soft maximum L, v1 and s.
template <typename R>
inline void ud_step(const UdMath<R>& mt, UdScratch<R>& w, int64_t n, const R* xt, R* v, R* Lo, R* v1o, R* so,
                    const R* E, int64_t se, const R* th, int64_t st) {
#if UL_HAVE_VEC
    const int64_t H = mt.H;
    R *q0 = w.q.data(), *q1 = q0 + n, *q2 = q1 + n;
    for (int64_t r0 = 0; r0 < n; r0 += H) {
        for (int64_t i = 0; i < H; ++i) {
            const int64_t j = r0 + i;
            const R ej = E[j * se];
            const R a = v[r0 + (i == 0 ? H - 1 : i - 1)] / ej, b = v[j] / ej, c = v[r0 + (i == H - 1 ? 0 : i + 1)] / ej;
            R m = a;
            m = (m != m || b <= m) ? m : b;
            m = (m != m || c <= m) ? m : c;
            if (std::fabs(m) == (R)INFINITY) m = (R)0;
            w.mx[j] = m;
            q0[j] = a - m; q1[j] = b - m; q2[j] = c - m;
        }
    }
    ud_vml(mt.vmlexp, 3 * n, q0, w.e.data(), mt.mode);
    const R *e0 = w.e.data(), *e1 = e0 + n, *e2 = e1 + n;
    for (int64_t j = 0; j < n; ++j) w.sum[j] = (e0[j] + e1[j]) + e2[j];
    ud_vml(mt.vmlln, n, w.sum.data(), w.ln.data(), mt.mode);
    for (int64_t j = 0; j < n; ++j) {
        const R ej = E[j * se];
        const R L = w.ln[j] + w.mx[j];
        const R v1 = ej * L + xt[j];
        const R u = (v1 - th[j * st]) / ej;
        Lo[j] = L; v1o[j] = v1;
        w.u[j] = u;
        w.d[j] = (R)0 - u;
    }
    ul_vapply(mt.ul.vexp, w.d.data(), w.ex.data(), n);
    for (int64_t j = 0; j < n; ++j) so[j] = (R)1 / (w.ex[j] + (R)1);
    for (int64_t k = 0; k < w.ns; ++k) {
        const int64_t j = w.sidx[k];
        so[j] = (R)1 / ((R)1 + std::exp(-w.u[j]));
    }
    for (int64_t j = 0; j < n; ++j) v[j] = v1o[j] * ((R)1 - so[j]);
#else
    (void)mt; (void)w; (void)n; (void)xt; (void)v; (void)Lo; (void)v1o; (void)so; (void)E; (void)se; (void)th; (void)st;
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
        UdScratch<R> w(CB);
        std::vector<R> v((size_t)CB), L((size_t)CB), v1((size_t)CB);
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nblk; ++b) {
            const int64_t m0 = b * CB, n = std::min(CB, M - m0);
            ud_sigmoid_positions(mt, w, m0, n);
            int64_t t_end = T;
            for (int64_t j = 0; j < n; ++j) v[j] = v0[m0 + j];
            if (CHECK) {
                for (int64_t j = 0; j < n; ++j)
                    if (!std::isfinite(v[j])) { ul_report(0, m0 + j, 1, bad); t_end = 0; break; }
            }
            for (int64_t t = 0; t < t_end; ++t) {
                ud_step(mt, w, n, x + t * M + m0, v.data(), L.data(), v1.data(), z + t * M + m0, E + m0 * se, se,
                        th + m0 * st, st);
                if (CHECK) {
                    R probe = (R)0;
                    for (int64_t j = 0; j < n; ++j) probe += v[j] - v[j];
                    if (probe != probe) {
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
        UdScratch<R> w(CB);
        std::vector<R> VP((size_t)(T * CB)), LS((size_t)(T * CB)), V1((size_t)(T * CB)), S((size_t)(T * CB));
        std::vector<R> v((size_t)CB), gv((size_t)CB), aE((size_t)CB), ath((size_t)CB), c((size_t)(3 * CB));
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nblk; ++b) {
            const int64_t m0 = b * CB, n = std::min(CB, M - m0);
            const R *Eb = E + m0 * se, *thb = th + m0 * st;
            ud_sigmoid_positions(mt, w, m0, n);
            for (int64_t j = 0; j < n; ++j) v[j] = v0[m0 + j];
            for (int64_t t = 0; t < T; ++t) {  // 1. the forward trajectory of this block
                std::memcpy(VP.data() + t * CB, v.data(), (size_t)n * sizeof(R));
                ud_step(mt, w, n, x + t * M + m0, v.data(), LS.data() + t * CB, V1.data() + t * CB, S.data() + t * CB,
                        Eb, se, thb, st);
            }
            for (int64_t j = 0; j < n; ++j) {  // 2. adjoint recurrence, backwards in time
                gv[j] = gvT ? gvT[m0 + j] : (R)0;
                aE[j] = ath[j] = (R)0;
            }
            R *c0 = c.data(), *c1 = c0 + n, *c2 = c1 + n;  // g q_k / E_i, k = 0 (reads V_{i-1}), 1, 2
            for (int64_t t = T - 1; t >= 0; --t) {
                const R* gzt = gz + t * gst + m0 * gsm;
                const R *vp = VP.data() + t * CB, *Lb = LS.data() + t * CB, *v1b = V1.data() + t * CB, *sb = S.data() + t * CB;
                R* gxt = gx + t * M + m0;
                for (int64_t r0 = 0; r0 < n; r0 += H) {
                    for (int64_t i = 0; i < H; ++i) {
                        const int64_t j = r0 + i;
                        const R e = Eb[j * se], s = sb[j], v1 = v1b[j], g = gv[j], L = Lb[j];
                        R gv1 = g * ((R)1 - s);
                        const R gs = gzt[j * gsm] - keep * g * v1;
                        const R gu = gs * ((R)1 - s) * s;
                        const R u = (v1 - thb[j * st]) / e;
                        gv1 += gu / e;
                        ath[j] -= gu / e;
                        aE[j] -= gu * u / e;
                        gxt[j] = gv1;
                        const R gL = gv1 * e;
                        aE[j] += gv1 * L;
                        const R qa = vp[r0 + (i == 0 ? H - 1 : i - 1)] / e, qb = vp[j] / e;
                        const R qc = vp[r0 + (i == H - 1 ? 0 : i + 1)] / e;
                        const R ga = gL * std::exp(qa - L), gb = gL * std::exp(qb - L), gc = gL * std::exp(qc - L);
                        aE[j] -= (ga * qa + gb * qb + gc * qc) / e;
                        c0[j] = ga / e; c1[j] = gb / e; c2[j] = gc / e;
                    }
                }
                for (int64_t r0 = 0; r0 < n; r0 += H)  // V_i is read by i+1 (as q_0), i (q_1), i-1 (q_2)
                    for (int64_t i = 0; i < H; ++i)
                        gv[r0 + i] = c0[r0 + (i == H - 1 ? 0 : i + 1)] + c1[r0 + i] + c2[r0 + (i == 0 ? H - 1 : i - 1)];
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

#define SF_UL_EXPORT(R, SUF)                                                                          \
extern "C" int sf_ultralif_forward_##SUF(int64_t T, int64_t M, int64_t chunk, void* vexp, void* vlog1p,  \
                                         const R* x, R* z, const R* v0, R* vT, const R* E, int64_t se,   \
                                         const R* ld, int64_t sl, const R* th, int64_t st, int nt,       \
                                         int check, int64_t* bad) {                                      \
    if (!UL_HAVE_VEC) return 2;                                                                          \
    const UlMath<R> mt{vexp, vlog1p, M, chunk};                                                          \
    if (check) ul_forward<R, true>(mt, T, x, z, v0, vT, E, se, ld, sl, th, st, nt, bad);                 \
    else ul_forward<R, false>(mt, T, x, z, v0, vT, E, se, ld, sl, th, st, nt, bad);                      \
    return 0;                                                                                            \
}                                                                                                        \
extern "C" int sf_ultralif_backward_##SUF(int64_t T, int64_t M, int64_t chunk, void* vexp, void* vlog1p, \
                                          const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx,      \
                                          const R* v0, const R* gvT, R* gv0, const R* E, int64_t se,     \
                                          const R* ld, int64_t sl, const R* th, int64_t st, R* gE,       \
                                          R* gld, R* gth, int detach, int nt) {                          \
    if (!UL_HAVE_VEC) return 2;                                                                          \
    const UlMath<R> mt{vexp, vlog1p, M, chunk};                                                          \
    ul_backward<R>(mt, T, x, gz, gst, gsm, gx, v0, gvT, gv0, E, se, ld, sl, th, st, gE, gld, gth, detach, nt); \
    return 0;                                                                                            \
}

SF_UL_EXPORT(float, f32)
SF_UL_EXPORT(double, f64)

#define SF_UD_EXPORT(R, SUF)                                                                          \
extern "C" int sf_ultradlif_forward_##SUF(int64_t T, int64_t M, int64_t H, int64_t chunk, void* vexp,   \
                                          void* vmlexp, void* vmlln, int64_t mode, const R* x, R* z,     \
                                          const R* v0, R* vT, const R* E, int64_t se, const R* th,       \
                                          int64_t st, int nt, int check, int64_t* bad) {                 \
    if (!UL_HAVE_VEC) return 2;                                                                          \
    const UdMath<R> mt{UlMath<R>{vexp, nullptr, M, chunk}, H, vmlexp, vmlln, mode};                      \
    if (check) ud_forward<R, true>(mt, T, x, z, v0, vT, E, se, th, st, nt, bad);                         \
    else ud_forward<R, false>(mt, T, x, z, v0, vT, E, se, th, st, nt, bad);                              \
    return 0;                                                                                            \
}                                                                                                        \
extern "C" int sf_ultradlif_backward_##SUF(int64_t T, int64_t M, int64_t H, int64_t chunk, void* vexp,  \
                                           void* vmlexp, void* vmlln, int64_t mode, const R* x,          \
                                           const R* gz, int64_t gst, int64_t gsm, R* gx, const R* v0,    \
                                           const R* gvT, R* gv0, const R* E, int64_t se, const R* th,    \
                                           int64_t st, R* gE, R* gth, int detach, int nt) {              \
    if (!UL_HAVE_VEC) return 2;                                                                          \
    const UdMath<R> mt{UlMath<R>{vexp, nullptr, M, chunk}, H, vmlexp, vmlln, mode};                      \
    ud_backward<R>(mt, T, x, gz, gst, gsm, gx, v0, gvT, gv0, E, se, th, st, gE, gth, detach, nt);        \
    return 0;                                                                                            \
}

SF_UD_EXPORT(float, f32)
SF_UD_EXPORT(double, f64)
