// Event-driven linear kernels (sf_event_linear_*); the Python side is spikeforge/layers/sparse_linear.py.
#include "common.h"

// ---------------------------------------------------------------- event-driven linear
// y[r, :] = bias + sum_{k : x[r, k] != 0} x[r, k] * wt[k, :]   (wt = weight transposed, [K, N])
//
// Summation order: each output element starts at the bias (or 0) and adds the active inputs'
// weights in increasing input index k, one rounding per addition (no FMA, no reassociation),
// so the result is exactly the sequential sum of the active columns in index order.

// Indices (and values) of the nonzero entries of one input row, in increasing order; returns
// their count. With AVX: compare 8 floats (4 doubles) with zero at once and walk the set bits
// of the mask, so the cost is ~1 instruction per 8 inputs plus a few per active input.
template <typename X, typename R>
inline int64_t compact_row_scalar(const X* xr, int64_t k, int64_t K, int64_t* idx, R* val, int64_t nnz) {
    for (; k < K; ++k) {
        idx[nnz] = k; val[nnz] = (R)xr[k];
        nnz += (xr[k] != (X)0);
    }
    return nnz;
}

inline int64_t compact_row(const float* xr, int64_t K, int64_t* idx, float* val) {
    int64_t nnz = 0, k = 0;
#if defined(__AVX__)
    const __m256 zero = _mm256_setzero_ps();
    for (; k + 8 <= K; k += 8) {
        unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(xr + k), zero, _CMP_NEQ_UQ));
        while (m) {
            const int q = __builtin_ctz(m);
            m &= m - 1;
            idx[nnz] = k + q; val[nnz] = xr[k + q]; ++nnz;
        }
    }
#endif
    return compact_row_scalar(xr, k, K, idx, val, nnz);
}

inline int64_t compact_row(const double* xr, int64_t K, int64_t* idx, double* val) {
    int64_t nnz = 0, k = 0;
#if defined(__AVX__)
    const __m256d zero = _mm256_setzero_pd();
    for (; k + 4 <= K; k += 4) {
        unsigned m = (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(xr + k), zero, _CMP_NEQ_UQ));
        while (m) {
            const int q = __builtin_ctz(m);
            m &= m - 1;
            idx[nnz] = k + q; val[nnz] = xr[k + q]; ++nnz;
        }
    }
#endif
    return compact_row_scalar(xr, k, K, idx, val, nnz);
}

// Byte spikes (uint8 / bool storage): 32 inputs per compare.
template <typename R>
inline int64_t compact_row(const uint8_t* xr, int64_t K, int64_t* idx, R* val) {
    int64_t nnz = 0, k = 0;
#if defined(__AVX2__)
    const __m256i zero = _mm256_setzero_si256();
    for (; k + 32 <= K; k += 32) {
        const __m256i v = _mm256_loadu_si256((const __m256i*)(xr + k));
        unsigned m = ~(unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, zero));
        while (m) {
            const int q = __builtin_ctz(m);
            m &= m - 1;
            idx[nnz] = k + q; val[nnz] = (R)xr[k + q]; ++nnz;
        }
    }
#endif
    return compact_row_scalar(xr, k, K, idx, val, nnz);
}

// One register-resident tile of NV SIMD vectors of outputs: acc = bias + sum_q val[q] * wt[idx[q], tile].
template <typename R, int NV>
inline void event_tile(int64_t nnz, const int64_t* idx, const R* val, const R* wt, int64_t N, int64_t n0,
                       const R* bias, R* yr) {
    typedef R V __attribute__((vector_size(32)));
    constexpr int L = 32 / sizeof(R);
    V acc[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
        if (bias) std::memcpy(&acc[v], bias + n0 + v * L, sizeof(V));
        else acc[v] = V{} ;
    }
    for (int64_t q = 0; q < nnz; ++q) {
        const R* w = wt + idx[q] * N + n0;
        const R s = val[q];
        if (s == (R)1) {
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v) { V t; std::memcpy(&t, w + v * L, sizeof(V)); acc[v] += t; }
        } else {
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v) { V t; std::memcpy(&t, w + v * L, sizeof(V)); acc[v] += s * t; }
        }
    }
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) std::memcpy(yr + n0 + v * L, &acc[v], sizeof(V));
}

template <typename R, typename X = R>
void event_linear_impl(int64_t rows, int64_t K, int64_t N, const X* x, const R* wt, const R* bias, R* y, int nt) {
    constexpr int L = 32 / sizeof(R);
    constexpr int64_t WIDE = 8 * L;  // 8 vectors: 64 floats / 32 doubles held in registers
    // Rows are handled in batches: compact a batch, then sweep it once per output tile, so the
    // tile's slice of W^T ([K, WIDE], e.g. 179 KB for K = 700) stays in L2 across the batch.
    const int64_t RB = 32;
    const int64_t nb = (rows + RB - 1) / RB;
#pragma omp parallel num_threads(nt)
    {
        std::vector<int64_t> idx(RB * K + 1);
        std::vector<R> val(RB * K + 1);
        int64_t cnt[RB];
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nb; ++b) {
            const int64_t r0 = b * RB, r1 = std::min(rows, r0 + RB);
            for (int64_t r = r0; r < r1; ++r)
                cnt[r - r0] = compact_row(x + r * K, K, idx.data() + (r - r0) * K, val.data() + (r - r0) * K);
            int64_t n0 = 0;
            for (; n0 + WIDE <= N; n0 += WIDE)
                for (int64_t r = r0; r < r1; ++r)
                    event_tile<R, 8>(cnt[r - r0], idx.data() + (r - r0) * K, val.data() + (r - r0) * K, wt, N, n0,
                                     bias, y + r * N);
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t nnz = cnt[r - r0];
                const int64_t* ix = idx.data() + (r - r0) * K;
                const R* vl = val.data() + (r - r0) * K;
                R* yr = y + r * N;
                int64_t m0 = n0;
                for (; m0 + 4 * L <= N; m0 += 4 * L) event_tile<R, 4>(nnz, ix, vl, wt, N, m0, bias, yr);
                for (; m0 + L <= N; m0 += L) event_tile<R, 1>(nnz, ix, vl, wt, N, m0, bias, yr);
                if (m0 < N) {  // tail narrower than one vector
                    R acc[L];
                    const int64_t nn = N - m0;
                    for (int64_t j = 0; j < nn; ++j) acc[j] = bias ? bias[m0 + j] : (R)0;
                    for (int64_t q = 0; q < nnz; ++q) {
                        const R* w = wt + ix[q] * N + m0;
                        const R s = vl[q];
                        if (s == (R)1) for (int64_t j = 0; j < nn; ++j) acc[j] += w[j];
                        else for (int64_t j = 0; j < nn; ++j) acc[j] += s * w[j];
                    }
                    for (int64_t j = 0; j < nn; ++j) yr[m0 + j] = acc[j];
                }
            }
        }
    }
}

extern "C" int sf_event_linear_f32(int64_t rows, int64_t K, int64_t N, const float* x, const float* wt,
                                   const float* bias, float* y, int nt) {
    event_linear_impl<float>(rows, K, N, x, wt, bias, y, nt);
    return 0;
}
extern "C" int sf_event_linear_f64(int64_t rows, int64_t K, int64_t N, const double* x, const double* wt,
                                   const double* bias, double* y, int nt) {
    event_linear_impl<double>(rows, K, N, x, wt, bias, y, nt);
    return 0;
}

// gwt[k, :] = sum_{r : x[r, k] != 0} x[r, k] * gy[r, :]   (weight gradient, transposed, [K, N])
// Each thread accumulates its rows into a private [K, N] buffer (every gy row is read once);
// the buffers are then summed in a fixed order, so the result does not depend on scheduling.
template <typename R, typename X = R>
void event_linear_grad_w_impl(int64_t rows, int64_t K, int64_t N, const X* x, const R* gy, R* gwt, int nt) {
    nt = std::max(1, std::min<int>(nt, (int)std::max<int64_t>(1, rows / 64)));
    std::vector<R> priv((size_t)(nt - 1) * K * N);
#pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        R* acc = tid == 0 ? gwt : priv.data() + (size_t)(tid - 1) * K * N;
        for (int64_t q = 0; q < K * N; ++q) acc[q] = (R)0;
        const int64_t r0 = rows * tid / nth, r1 = rows * (tid + 1) / nth;  // static: deterministic sums
        // Rows in batches: compact a batch, then sweep it once per column tile of the
        // accumulator, so the tile's slice ([K, 8 vectors], e.g. 179 KB for K = 700) stays in
        // L2 and the gradient row's tile stays in registers. Per element, rows are still added
        // in increasing order.
        typedef R V __attribute__((vector_size(32)));
        constexpr int L = 32 / sizeof(R);
        constexpr int64_t WIDE = 8 * L;
        const int64_t RB = 32;
        std::vector<int64_t> idx(RB * K + 1);
        std::vector<R> val(RB * K + 1);
        int64_t cnt[RB];
        for (int64_t b0 = r0; b0 < r1; b0 += RB) {
            const int64_t b1 = std::min(r1, b0 + RB);
            for (int64_t r = b0; r < b1; ++r)
                cnt[r - b0] = compact_row(x + r * K, K, idx.data() + (r - b0) * K, val.data() + (r - b0) * K);
            int64_t n0 = 0;
            for (; n0 + WIDE <= N; n0 += WIDE)
                for (int64_t r = b0; r < b1; ++r) {
                    V g[8];
#pragma GCC unroll 8
                    for (int v = 0; v < 8; ++v) std::memcpy(&g[v], gy + r * N + n0 + v * L, sizeof(V));
                    const int64_t* ix = idx.data() + (r - b0) * K;
                    const R* vl = val.data() + (r - b0) * K;
                    for (int64_t q = 0; q < cnt[r - b0]; ++q) {
                        R* w = acc + ix[q] * N + n0;
                        const R s = vl[q];
                        if (s == (R)1) {
#pragma GCC unroll 8
                            for (int v = 0; v < 8; ++v) {
                                V a; std::memcpy(&a, w + v * L, sizeof(V)); a += g[v]; std::memcpy(w + v * L, &a, sizeof(V));
                            }
                        } else {
#pragma GCC unroll 8
                            for (int v = 0; v < 8; ++v) {
                                V a; std::memcpy(&a, w + v * L, sizeof(V)); a += s * g[v]; std::memcpy(w + v * L, &a, sizeof(V));
                            }
                        }
                    }
                }
            if (n0 < N)
                for (int64_t r = b0; r < b1; ++r) {
                    const R* g = gy + r * N;
                    const int64_t* ix = idx.data() + (r - b0) * K;
                    const R* vl = val.data() + (r - b0) * K;
                    for (int64_t q = 0; q < cnt[r - b0]; ++q) {
                        R* w = acc + ix[q] * N;
                        const R s = vl[q];
                        for (int64_t j = n0; j < N; ++j) w[j] += s * g[j];
                    }
                }
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t k = 0; k < K; ++k)
            for (int t = 1; t < nth; ++t) {
                const R* p = priv.data() + (size_t)(t - 1) * K * N + k * N;
#pragma omp simd
                for (int64_t j = 0; j < N; ++j) gwt[k * N + j] += p[j];
            }
    }
}

extern "C" int sf_event_linear_grad_w_f32(int64_t rows, int64_t K, int64_t N, const float* x, const float* gy,
                                          float* gwt, int nt) {
    event_linear_grad_w_impl<float>(rows, K, N, x, gy, gwt, nt);
    return 0;
}
extern "C" int sf_event_linear_grad_w_f64(int64_t rows, int64_t K, int64_t N, const double* x, const double* gy,
                                          double* gwt, int nt) {
    event_linear_grad_w_impl<double>(rows, K, N, x, gy, gwt, nt);
    return 0;
}

extern "C" int sf_event_linear_u8_f32(int64_t rows, int64_t K, int64_t N, const uint8_t* x, const float* wt,
                                      const float* bias, float* y, int nt) {
    event_linear_impl<float, uint8_t>(rows, K, N, x, wt, bias, y, nt);
    return 0;
}
extern "C" int sf_event_linear_u8_f64(int64_t rows, int64_t K, int64_t N, const uint8_t* x, const double* wt,
                                      const double* bias, double* y, int nt) {
    event_linear_impl<double, uint8_t>(rows, K, N, x, wt, bias, y, nt);
    return 0;
}
extern "C" int sf_event_linear_grad_w_u8_f32(int64_t rows, int64_t K, int64_t N, const uint8_t* x, const float* gy,
                                             float* gwt, int nt) {
    event_linear_grad_w_impl<float, uint8_t>(rows, K, N, x, gy, gwt, nt);
    return 0;
}
extern "C" int sf_event_linear_grad_w_u8_f64(int64_t rows, int64_t K, int64_t N, const uint8_t* x, const double* gy,
                                             double* gwt, int nt) {
    event_linear_grad_w_impl<double, uint8_t>(rows, K, N, x, gy, gwt, nt);
    return 0;
}
