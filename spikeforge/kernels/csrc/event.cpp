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
//
// Rows are cut into blocks of RB; each block's active entries are regrouped per input index k
// (a column-major list: for every k, the block's active rows in increasing order). Then, per
// column tile of WIDE outputs (the block's slice of gy, [RB, WIDE] = 128 KB, stays in L2), each
// gwt[k, tile] is loaded into registers once, the block's active rows of k are added, and the
// tile is stored once: one read-modify-write of the [K, N] accumulator per (block, k, tile), not
// per active entry. Summation order: per element, rows are added in increasing order (blocks in
// order, rows in order within a block), starting at 0, one rounding per addition, so the result
// is exactly the sequential sum, for any thread count (threads own disjoint sets of k).
template <typename R, typename V, int NV>
inline void grad_w_tile(const int32_t* rr, const R* vv, int64_t n, const R* gy, int64_t N, int64_t n0, R* out) {
    constexpr int L = 32 / sizeof(R);
    V acc[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) std::memcpy(&acc[v], out + v * L, sizeof(V));
    for (int64_t q = 0; q < n; ++q) {
        const R* g = gy + (int64_t)rr[q] * N + n0;
        const R s = vv[q];
        if (s == (R)1) {
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) { V t; std::memcpy(&t, g + v * L, sizeof(V)); acc[v] += t; }
        } else {
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) { V t; std::memcpy(&t, g + v * L, sizeof(V)); acc[v] += s * t; }
        }
    }
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) std::memcpy(out + v * L, &acc[v], sizeof(V));
}

template <typename R, typename X = R>
void event_linear_grad_w_impl(int64_t rows, int64_t K, int64_t N, const X* x, const R* gy, R* gwt, int nt) {
    typedef R V __attribute__((vector_size(32)));
    constexpr int L = 32 / sizeof(R);
    constexpr int64_t WIDE = 8 * L;       // 8 vectors: 64 floats / 32 doubles held in registers
    const int64_t RB = 512;               // rows per block: gy[block, tile] is 128 KB
    const int64_t nb = (rows + RB - 1) / RB;
    nt = std::max(1, std::min<int>(nt, (int)std::max<int64_t>(1, K / 16)));
    // Per block: ptr[b][k] .. ptr[b][k + 1] index the block's active rows of input k.
    std::vector<std::vector<int64_t>> ptr(nb, std::vector<int64_t>(K + 1));
    std::vector<std::vector<int32_t>> rix(nb);   // row offsets inside the block (< RB)
    std::vector<std::vector<R>> val(nb);
#pragma omp parallel num_threads(nt)
    {
        std::vector<int64_t> idx(K + 1);
        std::vector<R> v(K + 1);
        std::vector<int32_t> crow;
        std::vector<int64_t> ck;
        std::vector<R> cv;
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nb; ++b) {
            const int64_t r0 = b * RB, r1 = std::min(rows, r0 + RB);
            crow.clear(); ck.clear(); cv.clear();
            int64_t* p = ptr[b].data();
            std::fill(p, p + K + 1, 0);
            for (int64_t r = r0; r < r1; ++r) {   // row-major pass: count per k
                const int64_t c = compact_row(x + r * K, K, idx.data(), v.data());
                for (int64_t q = 0; q < c; ++q) {
                    crow.push_back((int32_t)(r - r0)); ck.push_back(idx[q]); cv.push_back(v[q]);
                    ++p[idx[q] + 1];
                }
            }
            for (int64_t k = 0; k < K; ++k) p[k + 1] += p[k];
            const int64_t nnz = p[K];
            rix[b].resize(nnz); val[b].resize(nnz);
            std::vector<int64_t> fill(p, p + K);
            for (int64_t q = 0; q < nnz; ++q) {   // stable scatter: rows stay increasing per k
                const int64_t d = fill[ck[q]]++;
                rix[b][d] = crow[q]; val[b][d] = cv[q];
            }
        }
        // Each thread owns a fixed set of k (static schedule, same bounds every loop).
#pragma omp for schedule(static)
        for (int64_t k = 0; k < K; ++k) std::fill(gwt + k * N, gwt + (k + 1) * N, (R)0);
        std::vector<R> pk((size_t)RB * WIDE);   // the block's gy tile, packed [RB, WIDE]
        for (int64_t b = 0; b < nb; ++b) {
            const R* gb = gy + b * RB * N;
            const int64_t nr = std::min(RB, rows - b * RB);
            const int64_t* p = ptr[b].data();
            const int32_t* rr = rix[b].data();
            const R* vv = val[b].data();
            int64_t n0 = 0;
            for (; n0 + WIDE <= N; n0 += WIDE) {
                for (int64_t r = 0; r < nr; ++r) std::memcpy(pk.data() + r * WIDE, gb + r * N + n0, WIDE * sizeof(R));
#pragma omp for schedule(static) nowait
                for (int64_t k = 0; k < K; ++k)
                    grad_w_tile<R, V, 8>(rr + p[k], vv + p[k], p[k + 1] - p[k], pk.data(), WIDE, 0, gwt + k * N + n0);
            }
#pragma omp for schedule(static) nowait
            for (int64_t k = 0; k < K; ++k) {
                const int64_t a = p[k], e = p[k + 1];
                R* out = gwt + k * N;
                int64_t m0 = n0;
                for (; m0 + 4 * L <= N; m0 += 4 * L) grad_w_tile<R, V, 4>(rr + a, vv + a, e - a, gb, N, m0, out + m0);
                for (; m0 + L <= N; m0 += L) grad_w_tile<R, V, 1>(rr + a, vv + a, e - a, gb, N, m0, out + m0);
                for (int64_t j = m0; j < N; ++j) {   // tail narrower than one vector
                    R acc = out[j];
                    for (int64_t q = a; q < e; ++q) acc += vv[q] * gb[(int64_t)rr[q] * N + j];
                    out[j] = acc;
                }
            }
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
