// A LIF layer followed by k x k average pooling (stride k, no padding, floor mode), in one pass
// (sf_lifpool_*); the Python side is spikeforge/kernels/lif_pool.py.
//
// The neuron is lif.cpp's LIF kind with one value of each coefficient for the whole layer:
//     v1 = (c1 * v + c2 * x) + c3,   z = H(v1 - vth),   v' = reset(v1, z, vth, vr)
// and the output is avg_pool2d(z, k) over each step's [H, W] maps, summed a-major as ATen does
// (spikes are 0/1, so the sums are exact small integers and any order gives the same bits).
// Forward never writes the full-resolution spikes; backward stores nothing from the forward pass
// but its input: per block of neurons it recomputes v1 and the surrogate derivative, spreads the
// pooled gradient back (g / k^2, pool.cpp's backward) and runs lif.cpp's adjoint for the LIF kind
// (step_math.h's spike_reset_adjoint, shared with lif.cpp).
// Same arithmetic per element as lif.cpp and pool.cpp (tests/kernels/test_lif_pool.py holds the
// fused path bit-identical to the LIF kernel followed by the pooling kernel, gradients included).
//
// Layout: every step is [NO, H, W, CI] contiguous (channels-last [B, H, W, C]: NO = B, CI = C;
// NCHW [B, C, H, W]: NO = B * C, CI = 1), steps follow each other; the output is
// [T, NO, H / k, W / k, CI] and the state [NO, H, W, CI] likewise (v0_one: the initial state is one
// value for every neuron, v0[0], e.g. a resting state); the pooled gradient may have any strides gys. A block is one group of k rows
// of one map: k * W * CI contiguous neurons, the exact input of one row of pooled outputs; the
// H % k rows floor mode drops form a last, unpooled group (their state still advances).
#include "common.h"
#include "step_math.h"

using namespace sfk;  // reset codes, reset_value, surrogate_inplace, spike_reset_adjoint

namespace {

struct PoolGeom {
    int64_t T, NO, H, W, CI, k;
    int64_t Ho() const { return H / k; }
    int64_t Wo() const { return W / k; }
    int64_t G() const { return (H + k - 1) / k; }  // row groups per map, the last one maybe partial
    int64_t step() const { return NO * H * W * CI; }  // elements of one input step
    int64_t ostep() const { return NO * Ho() * Wo() * CI; }
};

// Sum the spikes zb of one row group (k rows of W * CI) into one row of pooled outputs yo (Wo * CI).
template <typename R>
inline void pool_rows(const PoolGeom& g, const R* zb, R* yo) {
    const int64_t Wo = g.Wo(), CI = g.CI, W = g.W, k = g.k;
    const R div = (R)(k * k);
    for (int64_t q = 0; q < Wo * CI; ++q) yo[q] = (R)0;
    for (int64_t a = 0; a < k; ++a)
        for (int64_t b = 0; b < k; ++b)
            for (int64_t jo = 0; jo < Wo; ++jo) {
                const R* zp = zb + (a * W + jo * k + b) * CI;
                R* yp = yo + jo * CI;
#pragma omp simd
                for (int64_t c = 0; c < CI; ++c) yp[c] += zp[c];
            }
#pragma omp simd
    for (int64_t q = 0; q < Wo * CI; ++q) yo[q] = yo[q] / div;
}

template <typename R, int RS>
void forward_impl(const PoolGeom& g, const R* x, R* y, const R* v0, int v0_one, R* vT, const double* cf, int nt,
                  int check, int64_t* bad) {
    const R c1 = (R)cf[0], c2 = (R)cf[1], c3 = (R)cf[2], vth = (R)cf[3], vr = (R)cf[4];
    const int64_t G = g.G(), Ho = g.Ho(), rowlen = g.W * g.CI, S = g.step(), OS = g.ostep();
    const int64_t nblocks = g.NO * G;
    int64_t found = 0;
#pragma omp parallel num_threads(nt) reduction(| : found)
    {
        std::vector<R> v((size_t)(g.k * rowlen)), zb((size_t)(g.k * rowlen));
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nblocks; ++blk) {
            const int64_t no = blk / G, gi = blk % G;
            const int64_t rows = std::min(g.k, g.H - gi * g.k), n = rows * rowlen;
            const int64_t m0 = (no * g.H + gi * g.k) * rowlen;  // first neuron of the block in a step
            const bool pooled = gi < Ho;
            R* yrow = y + (no * Ho + gi) * g.Wo() * g.CI;  // used only when pooled
            for (int64_t j = 0; j < n; ++j) v[j] = v0[v0_one ? 0 : m0 + j];
            R probe = (R)0;
            for (int64_t t = 0; t < g.T; ++t) {
                const R* xt = x + t * S + m0;
                R* vv = v.data();
                R* zz = zb.data();
#pragma omp simd reduction(+ : probe)
                for (int64_t j = 0; j < n; ++j) {
                    R v1 = c1 * vv[j] + c2 * xt[j];
                    v1 = v1 + c3;
                    const R s = (R)((v1 - vth) > (R)0);
                    zz[j] = s;
                    vv[j] = reset_value<R, RS>(v1, s, vth, vr);
                    probe += vv[j] - vv[j];
                }
                if (pooled) pool_rows<R>(g, zz, yrow + t * OS);
            }
            if (check && probe != probe) found = 1;  // NaN: some state of this block is not finite
            for (int64_t j = 0; j < n; ++j) vT[m0 + j] = v[j];
        }
    }
    bad[0] = found;
}

template <typename R, int RS>
void backward_impl(const PoolGeom& g, const R* x, const R* gy, const int64_t* gys, const R* v0, int v0_one,
                   const R* gvT, R* gx, R* gv0, const double* cf, int detach, int sg_kind, double sg_p, int nt) {
    const R c1 = (R)cf[0], c2 = (R)cf[1], c3 = (R)cf[2], vth = (R)cf[3], vr = (R)cf[4];
    const R keep = detach ? (R)0 : (R)1;
    const R div = (R)(g.k * g.k);
    const int64_t G = g.G(), Ho = g.Ho(), Wo = g.Wo(), CI = g.CI, rowlen = g.W * CI;
    const int64_t S = g.step(), nmax = g.k * rowlen;
    const int64_t nblocks = g.NO * G;
#pragma omp parallel num_threads(nt)
    {
        std::vector<R> V1((size_t)(g.T * nmax)), SG((size_t)(g.T * nmax));
        std::vector<R> v((size_t)nmax), gv((size_t)nmax), gzb((size_t)nmax, (R)0);
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nblocks; ++blk) {
            const int64_t no = blk / G, gi = blk % G;
            const int64_t rows = std::min(g.k, g.H - gi * g.k), n = rows * rowlen;
            const int64_t m0 = (no * g.H + gi * g.k) * rowlen;
            const bool pooled = gi < Ho;
            const R* gyrow = gy + no * gys[1] + gi * gys[2];  // any strides: gys of [T, NO, Ho, Wo, CI]
            // 1. recompute the trajectory of this block (forward_impl's arithmetic)
            for (int64_t j = 0; j < n; ++j) v[j] = v0[v0_one ? 0 : m0 + j];
            for (int64_t t = 0; t < g.T; ++t) {
                const R* xt = x + t * S + m0;
                R* v1b = V1.data() + t * nmax;
                R* ub = SG.data() + t * nmax;
                R* vv = v.data();
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    R v1 = c1 * vv[j] + c2 * xt[j];
                    v1 = v1 + c3;
                    v1b[j] = v1;
                    const R u = v1 - vth;
                    ub[j] = u;
                    vv[j] = reset_value<R, RS>(v1, (R)(u > (R)0), vth, vr);
                }
                sfk::surrogate_inplace<R>(sg_kind, (R)sg_p, ub, n);  // u -> dz/du
            }
            // 2. adjoint backwards in time; the spike gradient is the pooled one spread over its window
            for (int64_t j = 0; j < n; ++j) gv[j] = gvT ? gvT[m0 + j] : (R)0;
            for (int64_t t = g.T - 1; t >= 0; --t) {
                if (pooled) {
                    const R* gq = gyrow + t * gys[0];
                    for (int64_t a = 0; a < g.k; ++a)
                        for (int64_t w = 0; w < Wo * g.k; ++w) {
                            const R* gp = gq + (w / g.k) * gys[3];
                            R* gd = gzb.data() + (a * g.W + w) * CI;
                            if (gys[4] == 1) {
#pragma omp simd
                                for (int64_t c = 0; c < CI; ++c) gd[c] = gp[c] / div;
                            } else {
                                for (int64_t c = 0; c < CI; ++c) gd[c] = gp[c * gys[4]] / div;
                            }
                        }
                    // columns floor mode drops keep their zeros (gzb starts zeroed, never written there)
                }
                const R* gzt = gzb.data();
                R* gxt = gx + t * S + m0;
                const R* v1b = V1.data() + t * nmax;
                const R* sgb = SG.data() + t * nmax;
                R* gg = gv.data();
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    R gu, dth, dvr;  // only gv1 is needed: one value per coefficient, none learnable
                    const R gv1 = spike_reset_adjoint<R, K_LIF, RS>(gg[j], pooled ? gzt[j] : (R)0, (R)0, v1b[j], vth, vr,
                                                                    sgb[j], keep, gu, dth, dvr);
                    gxt[j] = gv1 * c2;
                    gg[j] = gv1 * c1;
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
#define _SF_LIFPOOL_B(R, RS) backward_impl<R, RS>(g, x, gy, gys, v0, v0_one, gvT, gx, gv0, cf, detach, sg_kind, sg_p, nt)
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
