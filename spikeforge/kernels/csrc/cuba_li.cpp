// Fused multi-step CubaLI kernel (NIR's current-based leaky integrator, neurons/cuba_li.py::cuba_li_step):
// one call runs all T steps of a layer. Per neuron, with the coefficients ci1, ci2, c1, c2, c3 computed
// in Python by the step's own torch expressions (neurons/_dynamics.py, mirrored in kernels/specs.py):
//
//     i' = ci1 * i + ci2 * x,      v' = (c1 * v + c2 * i') + c3,      output v'
//
// each operation in the step's order (-ffp-contract=off): outputs and final state are bit-identical to
// the torch loop. The model is linear and has no spike, so the adjoint needs no state history for the
// gradients of x and of the initial state: with gv, gi the gradients of the state after step t,
//
//     gv_t = gz_t + gv,   gi_t = gi + c2 gv_t,   gx_t = ci2 gi_t,   gv <- c1 gv_t,   gi <- ci1 gi_t.
//
// The per-neuron coefficient gradients (sum over t of gv_t v_{t-1}, gv_t i'_t, gv_t; gi_t i_{t-1},
// gi_t x_t) need the states: backward then recomputes i and v before every step for a cache-sized block
// of neurons (2 T values per neuron of the block, nothing saved from forward but the inputs).
// State slots 0 = i, 1 = v; coefficient slots 0 = ci1, 1 = ci2, 2 = c1, 3 = c2, 4 = c3.
#include "step_math.h"

namespace {

const int64_t CLI_CB = 512;  // largest block of neurons
enum { CLI_CI1 = 0, CLI_CI2, CLI_C1, CLI_C2, CLI_C3, CLI_NCOEF };

template <typename R>
inline void cli_load_coefs(R (*cf)[CLI_CB], const R* const* c, int64_t cmask, int64_t m0, int64_t n) {
    for (int k = 0; k < CLI_NCOEF; ++k)
        for (int64_t j = 0; j < n; ++j) cf[k][j] = (cmask >> k & 1) ? c[k][0] : c[k][m0 + j];
}

// bad = {t, m, code}: code 1 + slot for a non-finite initial state (t = 0), 3 + slot for a state that
// became non-finite at step t; the smallest (t, phase, m) over blocks is kept.
inline void cli_report(int64_t t, int64_t m, int64_t code, int64_t* bad) {
#pragma omp critical(sf_cuba_li_nonfinite)
    {
        const int64_t ph = code >= 3, bph = bad[2] >= 3;
        const bool before = bad[2] == 0 || (t != bad[0] ? t < bad[0] : (ph != bph ? ph < bph : m < bad[1]));
        if (before) { bad[0] = t; bad[1] = m; bad[2] = code; }
    }
}

template <typename R>
inline int64_t cli_first_nonfinite(const R* i, const R* v, int64_t n, int64_t* slot) {
    for (int64_t j = 0; j < n; ++j) {
        if (!std::isfinite(i[j])) { *slot = 0; return j; }
        if (!std::isfinite(v[j])) { *slot = 1; return j; }
    }
    return -1;
}

// One step of a block, i and v in place (the forward arithmetic, shared with the recomputation).
template <typename R>
inline void cli_step(int64_t n, const R* xt, R* i, R* v, R (*cf)[CLI_CB]) {
    const R *ci1 = cf[CLI_CI1], *ci2 = cf[CLI_CI2], *c1 = cf[CLI_C1], *c2 = cf[CLI_C2], *c3 = cf[CLI_C3];
    for (int64_t j = 0; j < n; ++j) {
        const R a = ci1[j] * i[j];
        const R b = ci2[j] * xt[j];
        i[j] = a + b;
        const R p = c1[j] * v[j];
        const R q = c2[j] * i[j];
        const R s = p + q;
        v[j] = s + c3[j];
    }
}

template <typename R, bool CHECK>
void cli_forward(int64_t T, int64_t M, const R* x, R* z, const R* const* st0, R* const* stT, const R* const* c,
                 int64_t cmask, int nthreads, int64_t* bad) {
    const int64_t nchunks = (M + CLI_CB - 1) / CLI_CB;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 4)
    for (int64_t ch = 0; ch < nchunks; ++ch) {
        const int64_t m0 = ch * CLI_CB, n = std::min(CLI_CB, M - m0);
        R cf[CLI_NCOEF][CLI_CB], i[CLI_CB], v[CLI_CB];
        cli_load_coefs(cf, c, cmask, m0, n);
        for (int64_t j = 0; j < n; ++j) { i[j] = st0[0][m0 + j]; v[j] = st0[1][m0 + j]; }
        int64_t t_end = T;
        if (CHECK) {
            int64_t slot = 0;
            const int64_t j = cli_first_nonfinite(i, v, n, &slot);
            if (j >= 0) { cli_report(0, m0 + j, 1 + slot, bad); t_end = 0; }
        }
        for (int64_t t = 0; t < t_end; ++t) {
            if (t + 2 < t_end) { sfk::prefetch_values(x + (t + 2) * M + m0, n, false); sfk::prefetch_values(z + (t + 2) * M + m0, n, true); }
            cli_step<R>(n, x + t * M + m0, i, v, cf);
            std::memcpy(z + t * M + m0, v, (size_t)n * sizeof(R));
            if (CHECK) {
                R probe = (R)0;
                for (int64_t j = 0; j < n; ++j) probe += (i[j] - i[j]) + (v[j] - v[j]);
                if (probe != probe) {
                    int64_t slot = 0;
                    const int64_t j = cli_first_nonfinite(i, v, n, &slot);
                    cli_report(t, m0 + j, 3 + slot, bad);
                    break;
                }
            }
        }
        for (int64_t j = 0; j < n; ++j) { stT[0][m0 + j] = i[j]; stT[1][m0 + j] = v[j]; }
    }
}

template <typename R, bool NEEDP>
void cli_backward(int64_t T, int64_t M, const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx,
                  const R* const* st0, const R* const* gstT, R* const* gst0, const R* const* c, int64_t cmask,
                  R* const* gc, int nthreads) {
    // block of neurons whose history (i, v before every step) fits in ~384 KiB
    int64_t CH = CLI_CB;
    if (NEEDP) {
        CH = (int64_t)(384 * 1024) / (std::max<int64_t>(T, 1) * 2 * (int64_t)sizeof(R));
        CH = std::max<int64_t>(16, std::min<int64_t>(CLI_CB, CH / 16 * 16));
    }
    const int64_t nchunks = (M + CH - 1) / CH;
#pragma omp parallel num_threads(nthreads)
    {
        std::vector<R> IB((size_t)(NEEDP ? T * CH : 0)), VB((size_t)(NEEDP ? T * CH : 0));
#pragma omp for schedule(dynamic, 2)
        for (int64_t ch = 0; ch < nchunks; ++ch) {
            const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
            R cf[CLI_NCOEF][CLI_CB], acc[CLI_NCOEF][CLI_CB], gi[CLI_CB], gv[CLI_CB];
            cli_load_coefs(cf, c, cmask, m0, n);
            const R *ci1 = cf[CLI_CI1], *ci2 = cf[CLI_CI2], *c1 = cf[CLI_C1], *c2 = cf[CLI_C2];
            if (NEEDP) {  // 1. recompute the state before every step (forward arithmetic)
                R i[CLI_CB], v[CLI_CB];
                for (int64_t j = 0; j < n; ++j) { i[j] = st0[0][m0 + j]; v[j] = st0[1][m0 + j]; }
                for (int64_t t = 0; t < T; ++t) {
                    if (t + 2 < T) sfk::prefetch_values(x + (t + 2) * M + m0, n, false);
                    std::memcpy(IB.data() + t * CH, i, (size_t)n * sizeof(R));
                    std::memcpy(VB.data() + t * CH, v, (size_t)n * sizeof(R));
                    cli_step<R>(n, x + t * M + m0, i, v, cf);
                }
                for (int k = 0; k < CLI_NCOEF; ++k) for (int64_t j = 0; j < n; ++j) acc[k][j] = (R)0;
            }
            // 2. adjoint recurrence backwards in time; gi, gv: gradients of the state after step t
            for (int64_t j = 0; j < n; ++j) {
                gi[j] = gstT[0] ? gstT[0][m0 + j] : (R)0;
                gv[j] = gstT[1] ? gstT[1][m0 + j] : (R)0;
            }
            for (int64_t t = T - 1; t >= 0; --t) {
                if (t >= 2) {
                    sfk::prefetch_values(gx + (t - 2) * M + m0, n, true);
                    if (NEEDP) sfk::prefetch_values(x + (t - 2) * M + m0, n, false);
                    if (gsm) sfk::prefetch_values(gz + (t - 2) * gst + m0, n, false);
                }
                const R* gzt = gz + t * gst + m0 * gsm;
                const R* xt = x + t * M + m0;
                R* gxt = gx + t * M + m0;
                for (int64_t j = 0; j < n; ++j) {
                    const R g = gzt[j * gsm] + gv[j];  // v' is both the output and the next state
                    const R h = gi[j] + c2[j] * g;  // i' feeds v' and the next step
                    gxt[j] = ci2[j] * h;
                    if (NEEDP) {
                        const R ib = IB[(size_t)(t * CH + j)], vb = VB[(size_t)(t * CH + j)];
                        const R in = ci1[j] * ib + ci2[j] * xt[j];  // i' (recomputed as the step rounds it)
                        acc[CLI_CI1][j] += h * ib;
                        acc[CLI_CI2][j] += h * xt[j];
                        acc[CLI_C1][j] += g * vb;
                        acc[CLI_C2][j] += g * in;
                        acc[CLI_C3][j] += g;
                    }
                    gv[j] = c1[j] * g;
                    gi[j] = ci1[j] * h;
                }
            }
            for (int64_t j = 0; j < n; ++j) {
                if (gst0[0]) gst0[0][m0 + j] = gi[j];
                if (gst0[1]) gst0[1][m0 + j] = gv[j];
            }
            if (NEEDP)
                for (int k = 0; k < CLI_NCOEF; ++k)
                    if (gc[k]) for (int64_t j = 0; j < n; ++j) gc[k][m0 + j] = acc[k][j];
        }
    }
}

}  // namespace

// The two-state kernels' ABI (kernels/tc_lif_kernel.py::declare); detach, sg_kind and sg_p are unused
// (no spike).
#define SF_CUBA_LI_EXPORT(R, SUF)                                                                     \
extern "C" int sf_cuba_li_forward_##SUF(int64_t T, int64_t M, const R* x, R* z, const R* const* st0,  \
                                        R* const* stT, const R* const* c, int64_t cmask, int nt,      \
                                        int check, int64_t* bad) {                                    \
    if (check) cli_forward<R, true>(T, M, x, z, st0, stT, c, cmask, nt, bad);                         \
    else cli_forward<R, false>(T, M, x, z, st0, stT, c, cmask, nt, bad);                              \
    return 0;                                                                                         \
}                                                                                                     \
extern "C" int sf_cuba_li_backward_##SUF(int64_t T, int64_t M, const R* x, const R* gz, int64_t gst,  \
                                         int64_t gsm, R* gx, const R* const* st0,                     \
                                         const R* const* gstT, R* const* gst0, const R* const* c,     \
                                         int64_t cmask, R* const* gc, int needp, int detach,          \
                                         int sg_kind, double sg_p, int nt) {                          \
    (void)detach; (void)sg_kind; (void)sg_p;                                                          \
    if (needp) cli_backward<R, true>(T, M, x, gz, gst, gsm, gx, st0, gstT, gst0, c, cmask, gc, nt);   \
    else cli_backward<R, false>(T, M, x, gz, gst, gsm, gx, st0, gstT, gst0, c, cmask, gc, nt);        \
    return 0;                                                                                         \
}

SF_CUBA_LI_EXPORT(float, f32)
SF_CUBA_LI_EXPORT(double, f64)
