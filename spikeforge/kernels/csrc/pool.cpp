// Average-pooling kernels (sf_avgpool_*); the Python side is spikeforge/kernels/pool.py.
#include "common.h"

// ---------------------------------------------------------------- average pooling, kernel = stride
// y[n,c,i,j] = (sum over a,b < k of x[n,c,i*k+a,j*k+b]) / (k*k), summed a-major like ATen's CPU
// kernel, so results are bit-identical to torch.nn.functional.avg_pool2d(x, k) (no padding,
// floor mode). Any 4-D strides; channels-last tensors (stride of c == 1) are walked channel-inner.
template <typename R>
void avgpool_fwd_impl(int64_t N, int64_t C, int64_t H, int64_t W, int64_t k, const R* x, const int64_t* xs,
                      R* y, const int64_t* ys, int nt) {
    const int64_t Ho = H / k, Wo = W / k;
    const R div = (R)(k * k);
    if (xs[1] == 1 && ys[1] == 1) {  // channels-last: c innermost, accumulated in the output row
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t r = 0; r < N * Ho; ++r) {
            const int64_t n = r / Ho, i = r % Ho;
            for (int64_t j = 0; j < Wo; ++j) {
                R* yp = y + n * ys[0] + i * ys[2] + j * ys[3];
                for (int64_t c = 0; c < C; ++c) yp[c] = (R)0;
                for (int64_t a = 0; a < k; ++a)
                    for (int64_t b = 0; b < k; ++b) {
                        const R* xp = x + n * xs[0] + (i * k + a) * xs[2] + (j * k + b) * xs[3];
#pragma omp simd
                        for (int64_t c = 0; c < C; ++c) yp[c] += xp[c];
                    }
#pragma omp simd
                for (int64_t c = 0; c < C; ++c) yp[c] = yp[c] / div;
            }
        }
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t p = 0; p < N * C; ++p) {
        const int64_t n = p / C, c = p % C;
        const R* xp = x + n * xs[0] + c * xs[1];
        R* yp = y + n * ys[0] + c * ys[1];
        if (k == 2 && xs[3] == 1 && ys[3] == 1) {  // rows contiguous: pairwise sums vectorise
            for (int64_t i = 0; i < Ho; ++i) {
                const R* r0 = xp + 2 * i * xs[2];
                const R* r1 = r0 + xs[2];
                R* yr = yp + i * ys[2];
#pragma omp simd
                for (int64_t j = 0; j < Wo; ++j) yr[j] = (((r0[2 * j] + r0[2 * j + 1]) + r1[2 * j]) + r1[2 * j + 1]) / div;
            }
            continue;
        }
        for (int64_t i = 0; i < Ho; ++i)
            for (int64_t j = 0; j < Wo; ++j) {
                R sum = (R)0;
                for (int64_t a = 0; a < k; ++a)
                    for (int64_t b = 0; b < k; ++b) sum += xp[(i * k + a) * xs[2] + (j * k + b) * xs[3]];
                yp[i * ys[2] + j * ys[3]] = sum / div;
            }
    }
}

// gx[n,c,h,w] = gy[n,c,h/k,w/k] / (k*k) inside the pooled area, 0 in rows/columns floor mode drops.
// Written as +0 + gy / (k*k): ATen fills grad x with zeros and adds, so a -0.0 gy gives +0.0 (the
// compiler keeps the addition: it is not an identity for signed zeros).
template <typename R>
void avgpool_bwd_impl(int64_t N, int64_t C, int64_t H, int64_t W, int64_t k, const R* gy, const int64_t* gys,
                      R* gx, const int64_t* gxs, int nt) {
    const int64_t Ho = H / k, Wo = W / k;
    const R div = (R)(k * k);
    if (gxs[1] == 1) {  // channels-last output: c innermost
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t r = 0; r < N * H; ++r) {
            const int64_t n = r / H, h = r % H, i = h / k;
            for (int64_t w = 0; w < W; ++w) {
                R* gp = gx + n * gxs[0] + h * gxs[2] + w * gxs[3];
                if (i >= Ho || w / k >= Wo) {
                    for (int64_t c = 0; c < C; ++c) gp[c] = (R)0;
                    continue;
                }
                const R* gq = gy + n * gys[0] + i * gys[2] + (w / k) * gys[3];
                if (gys[1] == 1) {
#pragma omp simd
                    for (int64_t c = 0; c < C; ++c) gp[c] = (R)0 + gq[c] / div;
                } else {
                    for (int64_t c = 0; c < C; ++c) gp[c] = (R)0 + gq[c * gys[1]] / div;
                }
            }
        }
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t p = 0; p < N * C; ++p) {
        const int64_t n = p / C, c = p % C;
        const R* gq = gy + n * gys[0] + c * gys[1];
        R* gp = gx + n * gxs[0] + c * gxs[1];
        if (gxs[3] == 1 && gys[3] == 1) {  // rows contiguous
            for (int64_t h = 0; h < H; ++h) {
                R* gr = gp + h * gxs[2];
                const int64_t i = h / k;
                if (i >= Ho) {
                    for (int64_t w = 0; w < W; ++w) gr[w] = (R)0;
                    continue;
                }
                const R* gqr = gq + i * gys[2];
                if (k == 2) {
#pragma omp simd
                    for (int64_t j = 0; j < Wo; ++j) { const R v = (R)0 + gqr[j] / div; gr[2 * j] = v; gr[2 * j + 1] = v; }
                } else {
                    for (int64_t w = 0; w < Wo * k; ++w) gr[w] = (R)0 + gqr[w / k] / div;
                }
                for (int64_t w = Wo * k; w < W; ++w) gr[w] = (R)0;
            }
            continue;
        }
        for (int64_t h = 0; h < H; ++h)
            for (int64_t w = 0; w < W; ++w) {
                const int64_t i = h / k, j = w / k;
                gp[h * gxs[2] + w * gxs[3]] = (i < Ho && j < Wo) ? (R)0 + gq[i * gys[2] + j * gys[3]] / div : (R)0;
            }
    }
}

#define SF_POOL(SUF, R)                                                                                  \
extern "C" int sf_avgpool_fwd_##SUF(int64_t N, int64_t C, int64_t H, int64_t W, int64_t k, const R* x,      \
                                    const int64_t* xs, R* y, const int64_t* ys, int nt) {                  \
    avgpool_fwd_impl<R>(N, C, H, W, k, x, xs, y, ys, nt);                                                 \
    return 0;                                                                                             \
}                                                                                                         \
extern "C" int sf_avgpool_bwd_##SUF(int64_t N, int64_t C, int64_t H, int64_t W, int64_t k, const R* gy,     \
                                    const int64_t* gys, R* gx, const int64_t* gxs, int nt) {               \
    avgpool_bwd_impl<R>(N, C, H, W, k, gy, gys, gx, gxs, nt);                                             \
    return 0;                                                                                             \
}
SF_POOL(f32, float)
SF_POOL(f64, double)
