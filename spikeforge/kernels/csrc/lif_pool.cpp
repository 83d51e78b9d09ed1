// A LIF layer followed by k x k average pooling (stride k, no padding, floor mode), in one pass
// (sf_lifpool_*); the Python side is spikeforge/kernels/lif_pool.py.
//
// The neuron is lif.cpp's LIF kind with one value of each coefficient for the whole layer:
//     v1 = (c1 * v + c2 * x) + c3,   z = H(v1 - vth),   v' = reset(v1, z, vth, vr)
// and the output is avg_pool2d(z, k) over each step's [H, W] maps. Forward never stores the
// full-resolution spikes: each row's spikes go straight into the column sums of its row group, and a
// full group gives one row of pooled outputs (spikes are 0/1, so every sum is an exact small integer
// and any order gives ATen's bits). Backward stores nothing from the forward pass but its input: per
// block of neurons it recomputes the trajectory (keeping v1), then runs lif.cpp's adjoint for the LIF
// kind (step_math.h's spike_reset_adjoint, shared with lif.cpp) backwards in time, the surrogate
// derivative recomputed from v1 per step and the spike gradient the pooled one, +0 + g / k^2 (ATen's
// avg_pool2d backward), divided once per pooled output and spread over its window.
// Same arithmetic per element as lif.cpp and pool.cpp (tests/kernels/test_lif_pool.py holds the
// fused path bit-identical to the LIF kernel followed by the pooling kernel, gradients included),
// except for signed zeros, where it follows the torch reference instead (a -0.0 pooled gradient spreads
// as +0.0 here and in ATen, as -0.0 in pool.cpp; tests/kernels/test_lif_pool_edges.py).
//
// Layout: every step is [NO, H, W, CI] contiguous (channels-last [B, H, W, C]: NO = B, CI = C;
// NCHW [B, C, H, W]: NO = B * C, CI = 1), steps follow each other; the output is
// [T, NO, H / k, W / k, CI] and the state [NO, H, W, CI] likewise (v0_one: the initial state is one
// value for every neuron, v0[0], e.g. a resting state); the pooled gradient may have any strides gys.
// A row group is k rows of one map: k * W * CI contiguous neurons, the exact input of one row of pooled
// outputs; the H % k rows floor mode drops form a last, unpooled group (their state still advances).
// Backward works on one group at a time; forward on chunks of several consecutive groups of one map.
#include "common.h"
#include "step_math.h"

using namespace sfk;  // reset codes, reset_value, surrogate_inplace, spike_reset_adjoint

namespace {

// Forward chunk state at most this size (v of every neuron of the chunk): the chunk's step of input is
// one contiguous read of this length. Measured on the bench conv net (tools/lif_pool_kernel_ab.py):
// 64-160 KiB chunks ran the forward ~0.85x the time of one group (~4 KiB) per block; well inside L2.
constexpr int64_t FWD_CHUNK_BYTES = 128 << 10;

struct PoolGeom {
    int64_t T, NO, H, W, CI, k;
    int64_t Ho() const { return H / k; }
    int64_t Wo() const { return W / k; }
    int64_t G() const { return (H + k - 1) / k; }  // row groups per map, the last one maybe partial
    int64_t step() const { return NO * H * W * CI; }  // elements of one input step
    int64_t ostep() const { return NO * Ho() * Wo() * CI; }
};

// Forward works on chunks of `per` consecutive row groups of one map (a map has `cg` chunks, the last
// may hold fewer groups): each step's read of a chunk is one contiguous run, long enough for the
// hardware prefetcher (a group is only ~70 cache lines at the bench sizes). A chunk's state is at
// most `bytes`, and there are at least 4 chunks per thread.
struct Chunks {
    int64_t per, cg;  // groups per chunk, chunks per map
    Chunks(const PoolGeom& g, int64_t bytes_per_group, int64_t bytes, int nt) {
        const int64_t G = g.G();
        const int64_t most = std::max<int64_t>(1, bytes / std::max<int64_t>(1, bytes_per_group));
        cg = (G + most - 1) / most;
        while (g.NO * cg < 4 * (int64_t)nt && cg < G) ++cg;  // enough chunks to share between threads
        per = (G + cg - 1) / cg;
        cg = (G + per - 1) / per;  // chunks actually needed with `per` groups each
    }
};

// One row of pooled outputs yo (Wo * CI) from the column sums rs (W * CI) of a row group's k rows:
// yo[jo, c] = (sum over b < k of rs[jo * k + b, c]) / k^2. Spikes are 0/1, so every partial sum is an
// exact small integer and this order gives the bits of ATen's a-major window sum.
template <typename R>
inline void pool_colsums(const PoolGeom& g, const R* rs, R* yo) {
    const int64_t Wo = g.Wo(), CI = g.CI, k = g.k;
    const R div = (R)(k * k);
    if (CI == 1) {  // NCHW: one value per column, no inner loops of one element
        for (int64_t jo = 0; jo < Wo; ++jo) {
            R acc = rs[jo * k];
            for (int64_t b = 1; b < k; ++b) acc += rs[jo * k + b];
            yo[jo] = acc / div;
        }
        return;
    }
    for (int64_t jo = 0; jo < Wo; ++jo) {
        const R* rp = rs + jo * k * CI;
        R* yp = yo + jo * CI;
#pragma omp simd
        for (int64_t c = 0; c < CI; ++c) yp[c] = rp[c];
        for (int64_t b = 1; b < k; ++b) {
#pragma omp simd
            for (int64_t c = 0; c < CI; ++c) yp[c] += rp[b * CI + c];
        }
#pragma omp simd
        for (int64_t c = 0; c < CI; ++c) yp[c] = yp[c] / div;
    }
}

template <typename R, int RS>
void forward_impl(const PoolGeom& g, const R* x, R* y, const R* v0, int v0_one, R* vT, const double* cf, int nt,
                  int check, int64_t* bad) {
    const R c1 = (R)cf[0], c2 = (R)cf[1], c3 = (R)cf[2], vth = (R)cf[3], vr = (R)cf[4];
    const int64_t Ho = g.Ho(), rowlen = g.W * g.CI, S = g.step(), OS = g.ostep(), mapn = g.H * rowlen;
    const Chunks ch(g, g.k * rowlen * (int64_t)sizeof(R), FWD_CHUNK_BYTES, nt);
    const int64_t nchunks = g.NO * ch.cg, rmax = ch.per * g.k;
    int64_t found = 0;
#pragma omp parallel num_threads(nt) reduction(| : found)
    {
        std::vector<R> v((size_t)(rmax * rowlen)), rs((size_t)rowlen);
#pragma omp for schedule(static)
        for (int64_t c = 0; c < nchunks; ++c) {
            const int64_t no = c / ch.cg, r0 = (c % ch.cg) * rmax, r1 = std::min(g.H, r0 + rmax);
            const int64_t n = (r1 - r0) * rowlen, m0 = no * mapn + r0 * rowlen;  // its neurons in a step
            for (int64_t j = 0; j < n; ++j) v[j] = v0[v0_one ? 0 : m0 + j];
            R probe = (R)0;
            for (int64_t t = 0; t < g.T; ++t) {
                const R* xt = x + t * S + m0;
                // row by row; the spikes go straight into the column sums rs of the group (never stored)
                for (int64_t r = r0; r < r1; ++r) {
                    const int64_t a = (r - r0) % g.k;  // row within its group (chunks start on a group)
                    const R* xa = xt + (r - r0) * rowlen;
                    R* va = v.data() + (r - r0) * rowlen;
                    R* rr = rs.data();
                    const R keepsum = a == 0 ? (R)0 : (R)1;  // 0: the group's first row starts the sums
#pragma omp simd reduction(+ : probe)
                    for (int64_t j = 0; j < rowlen; ++j) {
                        R v1 = c1 * va[j] + c2 * xa[j];
                        v1 = v1 + c3;
                        const R s = (R)((v1 - vth) > (R)0);
                        rr[j] = keepsum * rr[j] + s;  // rr holds small integers: 0 * rr is 0
                        va[j] = reset_value<R, RS>(v1, s, vth, vr);
                        probe += va[j] - va[j];
                    }
                    const int64_t gi = r / g.k;
                    if (a == g.k - 1 && gi < Ho)  // a full group: one row of pooled outputs
                        pool_colsums<R>(g, rs.data(), y + t * OS + (no * Ho + gi) * g.Wo() * g.CI);
                }
            }
            if (check && probe != probe) found = 1;  // NaN: some state of this chunk is not finite
            for (int64_t j = 0; j < n; ++j) vT[m0 + j] = v[j];
        }
    }
    bad[0] = found;
}

// DET: the detached-reset adjoint (spike_reset_adjoint's DET, as lif.cpp), for a detached reset or none.
// An absent gradient (gy or gvT null: autograd passed None) is -0.0, the additive identity (-0 + a is a
// for every a, +0 + -0 is +0): the reference never adds the term, so neither does a sum with -0.0.
// A present pooled gradient reaches a window as +0 + gy / k^2, the bits of ATen's avg_pool2d backward
// (it zero-fills the input gradient and adds each window's share: a -0.0 share gives +0.0 there).
template <typename R, int RS, bool DET>
void backward_impl(const PoolGeom& g, const R* x, const R* gy, const int64_t* gys, const R* v0, int v0_one,
                   const R* gvT, R* gx, R* gv0, const double* cf, int detach, int sg_kind, double sg_p, int nt) {
    const R c1 = (R)cf[0], c2 = (R)cf[1], c3 = (R)cf[2], vth = (R)cf[3], vr = (R)cf[4];
    const R keep = detach ? (R)0 : (R)1;  // read only when !DET
    const R gz_off = gy ? (R)0 : (R)-0.0;  // spike gradient outside the pooled windows (or all of it, gy null)
    const R div = (R)(g.k * g.k);
    const int64_t G = g.G(), Ho = g.Ho(), Wo = g.Wo(), CI = g.CI, rowlen = g.W * CI;
    const int64_t S = g.step(), nmax = g.k * rowlen;
    const int64_t nblocks = g.NO * G;
#pragma omp parallel num_threads(nt)
    {
        std::vector<R> V1((size_t)(g.T * nmax));
        std::vector<R> v((size_t)nmax), gv((size_t)nmax), sg((size_t)nmax), gzr((size_t)rowlen, gz_off);
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nblocks; ++blk) {
            const int64_t no = blk / G, gi = blk % G;
            const int64_t rows = std::min(g.k, g.H - gi * g.k), n = rows * rowlen;
            const int64_t m0 = (no * g.H + gi * g.k) * rowlen;
            const bool pooled = gy && gi < Ho;
            const R* gyrow = gy ? gy + no * gys[1] + gi * gys[2] : nullptr;  // any strides: gys of [T, NO, Ho, Wo, CI]
            // 1. recompute the trajectory of this group (forward_impl's arithmetic), keep only v1
            for (int64_t j = 0; j < n; ++j) v[j] = v0[v0_one ? 0 : m0 + j];
            for (int64_t t = 0; t < g.T; ++t) {
                const R* xt = x + t * S + m0;
                R* v1b = V1.data() + t * nmax;
                R* vv = v.data();
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    R v1 = c1 * vv[j] + c2 * xt[j];
                    v1 = v1 + c3;
                    v1b[j] = v1;
                    vv[j] = reset_value<R, RS>(v1, (R)((v1 - vth) > (R)0), vth, vr);
                }
            }
            // 2. adjoint backwards in time; the spike gradient is the pooled one spread over its window
            for (int64_t j = 0; j < n; ++j) gv[j] = gvT ? gvT[m0 + j] : (R)-0.0;
            for (int64_t t = g.T - 1; t >= 0; --t) {
                if (pooled) {  // one row of window gradients g / k^2 (one division per pooled output), the
                    // same for every row of the group
                    const R* gq = gyrow + t * gys[0];
                    for (int64_t jo = 0; CI == 1 && jo < Wo; ++jo) {  // NCHW: one value per window column
                        const R gd = (R)0 + gq[jo * gys[3]] / div;
                        for (int64_t b = 0; b < g.k; ++b) gzr[jo * g.k + b] = gd;
                    }
                    for (int64_t jo = 0; CI > 1 && jo < Wo; ++jo) {
                        const R* gp = gq + jo * gys[3];
                        R* gd = gzr.data() + jo * g.k * CI;
                        if (gys[4] == 1) {
#pragma omp simd
                            for (int64_t c = 0; c < CI; ++c) gd[c] = (R)0 + gp[c] / div;
                        } else {
                            for (int64_t c = 0; c < CI; ++c) gd[c] = (R)0 + gp[c * gys[4]] / div;
                        }
                        for (int64_t b = 1; b < g.k; ++b) std::memcpy(gd + b * CI, gd, (size_t)CI * sizeof(R));
                    }
                    // columns floor mode drops keep gz_off (+0.0, as ATen's zero fill; never written there)
                }
                const R* v1b = V1.data() + t * nmax;
                R* sgb = sg.data();
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) sgb[j] = v1b[j] - vth;  // u, as forward computed it
                sfk::surrogate_inplace<R>(sg_kind, (R)sg_p, sgb, n);  // u -> dz/du (an L1-sized buffer)
                R* gxt = gx + t * S + m0;
                R* gg = gv.data();
                for (int64_t a = 0; a < rows; ++a) {  // row by row: every row reads the same gzr
                    const int64_t o = a * rowlen;
                    const R* gzt = gzr.data();
#pragma omp simd
                    for (int64_t j = 0; j < rowlen; ++j) {
                        R gu, dth, dvr;  // only gv1 is needed: one value per coefficient, none learnable
                        const R gv1 = spike_reset_adjoint<R, K_LIF, RS, DET>(gg[o + j], pooled ? gzt[j] : gz_off,
                                                                             (R)0, v1b[o + j], vth, vr, sgb[o + j],
                                                                             keep, gu, dth, dvr);
                        gxt[o + j] = gv1 * c2;
                        gg[o + j] = gv1 * c1;
                    }
                }
            }
            if (gv0) for (int64_t j = 0; j < n; ++j) gv0[m0 + j] = gv[j];
        }
    }
}

}  // namespace

#define SF_LIFPOOL_RESET(RESET, CALL)                                  \
    switch (RESET) {                                                   \
    case R_SUB: CALL(R_SUB); break;   case R_VAL: CALL(R_VAL); break;  \
    case R_ZERO: CALL(R_ZERO); break; case R_NONE: CALL(R_NONE); break; \
    default: return 1;                                                 \
    }

#define SF_LIFPOOL(SUF, R)                                                                                  \
extern "C" int sf_lifpool_fwd_##SUF(int64_t T, int64_t NO, int64_t H, int64_t W, int64_t CI, int64_t k,     \
                                    int reset, const R* x, R* y, const R* v0, int v0_one, R* vT,            \
                                    const double* cf, int nt, int check, int64_t* bad) {                    \
    if (k < 1 || H < k || W < k) return 2;                                                                  \
    const PoolGeom g{T, NO, H, W, CI, k};                                                                   \
    _SF_LIFPOOL_FWD_##SUF                                                                                   \
    return 0;                                                                                               \
}                                                                                                           \
extern "C" int sf_lifpool_bwd_##SUF(int64_t T, int64_t NO, int64_t H, int64_t W, int64_t CI, int64_t k,     \
                                    int reset, int detach, int sg_kind, double sg_p, const R* x,            \
                                    const R* gy, const int64_t* gys, const R* v0, int v0_one, const R* gvT, \
                                    R* gx, R* gv0, const double* cf, int nt) {                              \
    if (k < 1 || H < k || W < k) return 2;                                                                  \
    const PoolGeom g{T, NO, H, W, CI, k};                                                                   \
    _SF_LIFPOOL_BWD_##SUF                                                                                   \
    return 0;                                                                                               \
}

#define _SF_LIFPOOL_F(R, RS) forward_impl<R, RS>(g, x, y, v0, v0_one, vT, cf, nt, check, bad)
#define _SF_LIFPOOL_B(R, RS)                                                                                 \
    if (RS == R_NONE || detach)                                                                              \
        backward_impl<R, RS, true>(g, x, gy, gys, v0, v0_one, gvT, gx, gv0, cf, detach, sg_kind, sg_p, nt);  \
    else                                                                                                     \
        backward_impl<R, RS, false>(g, x, gy, gys, v0, v0_one, gvT, gx, gv0, cf, detach, sg_kind, sg_p, nt)
#define _SF_LIFPOOL_F32(RS) _SF_LIFPOOL_F(float, RS)
#define _SF_LIFPOOL_F64(RS) _SF_LIFPOOL_F(double, RS)
#define _SF_LIFPOOL_B32(RS) _SF_LIFPOOL_B(float, RS)
#define _SF_LIFPOOL_B64(RS) _SF_LIFPOOL_B(double, RS)
#define _SF_LIFPOOL_FWD_f32 SF_LIFPOOL_RESET(reset, _SF_LIFPOOL_F32)
#define _SF_LIFPOOL_FWD_f64 SF_LIFPOOL_RESET(reset, _SF_LIFPOOL_F64)
#define _SF_LIFPOOL_BWD_f32 SF_LIFPOOL_RESET(reset, _SF_LIFPOOL_B32)
#define _SF_LIFPOOL_BWD_f64 SF_LIFPOOL_RESET(reset, _SF_LIFPOOL_B64)

SF_LIFPOOL(f32, float)
SF_LIFPOOL(f64, double)
