// One SLTT step of a LIF-family layer (kernels/sltt.py): the forward step of lif.cpp for T = 1
// plus the record its spatial-only backward needs, so backward is one elementwise pass with no
// recomputation and no adjoint recurrence.
//
// SLTT (Meng et al., ICCV 2023) detaches the state carried into every step, so the gradient of
// step t reaches only x_t (and the coefficients) through the spike of step t:
//
//     drive = x                      | CUBA: i' = ci1 i + ci2 x, drive = i'
//     v1 = q((c1 v + c2 drive) + c3)  (q: optional membrane quantizer, identity gradient)
//     z  = H(v1 - theta),  theta = vth (+ adapt a, ALIF);  LI: z = v1
//     v', i', a': the new state, returned without a gradient route (the temporal route is cut)
//
//     gu = gz * SG(v1 - theta)   (LI: gu = gz)
//     gx = gu * c2               | CUBA: gx = (gu * c2) * ci2
//
// With fold = 1 the forward writes d = dgx/dgz (SG * c2, CUBA SG * c2 * ci2; LI nothing: c2) and
// backward is gx = gz * d: one [M] vector saved per layer and step whatever T is. With fold = 0
// (learnable parameters) it writes d = SG and backward also forms the per-element coefficient
// gradients from x, the state before the step and the coefficients (and the gradient of the state
// before the step, for a state that has a gradient route, e.g. the resting state of a learnable v_leak):
//     g_c1 = gu v, g_c2 = gu drive, g_c3 = gu, g_vth = -gu, g_adapt = -gu a,
//     g_ci1 = (gu c2) i, g_ci2 = (gu c2) x, g_vr = g_ca = 0 (they only reach the new state),
//     g_v = gu c1, g_i = (gu c2) ci1, g_a = -gu adapt.
#include "step_math.h"

using namespace sfk;

namespace {

template <typename R>
inline bool finite(R v) { return std::isfinite(v); }

// bad = {t, m, code} as in lif.cpp: 1 + slot for a non-finite initial state, 4 + slot for a new
// state that is not finite; the smallest m of the first phase found is kept.
inline void report(int64_t m, int64_t code, int64_t* bad) {
#pragma omp critical(sf_sltt_nonfinite)
    if (bad[2] == 0 || (code >= 4) < (bad[2] >= 4) || ((code >= 4) == (bad[2] >= 4) && m < bad[1])) {
        bad[0] = 0; bad[1] = m; bad[2] = code;
    }
}

template <typename R, int K, int RS>
void sltt_forward(int64_t M, const R* x, R* z, const R* const* st0, R* const* stT, const R* const* c, int64_t cs,
                  R* d, int fold, int sg_kind, R sg_a, Levels<R> q, int nt, int check, int64_t* bad) {
    const int64_t CH = 4096;
    const int64_t nchunks = (M + CH - 1) / CH;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t ch = 0; ch < nchunks; ++ch) {
        const int64_t m0 = ch * CH, m1 = std::min(M, m0 + CH);
        if (check) {
            for (int64_t m = m0; m < m1; ++m) {
                if (K == K_CUBA && !finite(st0[S_I][m])) { report(m, 1 + S_I, bad); break; }
                if (!finite(st0[S_V][m])) { report(m, 1 + S_V, bad); break; }
                if (K == K_ALIF && !finite(st0[S_A][m])) { report(m, 1 + S_A, bad); break; }
            }
        }
        for (int64_t m = m0; m < m1; ++m) {
            const int64_t k = m * cs;  // coefficient index: cs = 0 for coefficients shared by every neuron
            R drive = x[m];
            if (K == K_CUBA) {
                R iv = c[CI1][k] * st0[S_I][m] + c[CI2][k] * drive;
                stT[S_I][m] = iv;
                drive = iv;
            }
            R v1 = c[C1][k] * st0[S_V][m] + c[C2][k] * drive;
            v1 = v1 + c[C3][k];
            if (q.nlev) v1 = quantize(v1, q);
            if (K == K_LI) {
                z[m] = v1;
                stT[S_V][m] = v1;
                if (fold) d[m] = c[C2][k];
                continue;
            }
            R theta = c[VTH][k];
            if (K == K_ALIF) theta = c[VTH][k] + c[ADAPT][k] * st0[S_A][m];
            const R u = v1 - theta;
            const R s = (R)(u > (R)0);
            z[m] = s;
            stT[S_V][m] = reset_value<R, RS>(v1, s, theta, c[VR][k]);
            if (K == K_ALIF) stT[S_A][m] = c[CA][k] * st0[S_A][m] + s;
            R g = surrogate_grad<R>(sg_kind, sg_a, u);
            if (fold) {
                g = g * c[C2][k];
                if (K == K_CUBA) g = g * c[CI2][k];
            }
            d[m] = g;
        }
        if (check) {
            for (int64_t m = m0; m < m1; ++m) {
                if (K == K_CUBA && !finite(stT[S_I][m])) { report(m, 4 + S_I, bad); break; }
                if (!finite(stT[S_V][m])) { report(m, 4 + S_V, bad); break; }
                if (K == K_ALIF && !finite(stT[S_A][m])) { report(m, 4 + S_A, bad); break; }
            }
        }
    }
}

template <typename R, int K>
void sltt_backward(int64_t M, const R* gz, int64_t gsm, const R* d, const R* x, const R* const* st0,
                   const R* const* c, R* gx, R* const* gc, R* const* gst0, int fold, int nt) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t m = 0; m < M; ++m) {
        const R g = gz[m * gsm];
        if (fold) { gx[m] = g * d[m]; continue; }
        const R gu = K == K_LI ? g : g * d[m];
        R drive = x[m];
        if (K == K_CUBA) drive = c[CI1][m] * st0[S_I][m] + c[CI2][m] * x[m];  // i' as in forward
        const R gdrive = gu * c[C2][m];
        if (gc[C1]) gc[C1][m] = gu * st0[S_V][m];
        if (gc[C2]) gc[C2][m] = gu * drive;
        if (gc[C3]) gc[C3][m] = gu;
        if (gc[VTH]) gc[VTH][m] = K == K_LI ? (R)0 : -gu;
        if (gc[VR]) gc[VR][m] = (R)0;
        if (gc[CA]) gc[CA][m] = (R)0;
        if (gc[ADAPT]) gc[ADAPT][m] = K == K_ALIF ? -gu * st0[S_A][m] : (R)0;
        if (gst0[S_V]) gst0[S_V][m] = gu * c[C1][m];  // a state with a gradient route (from rest)
        if (K == K_ALIF && gst0[S_A]) gst0[S_A][m] = -gu * c[ADAPT][m];
        if (K == K_CUBA) {
            if (gc[CI1]) gc[CI1][m] = gdrive * st0[S_I][m];
            if (gc[CI2]) gc[CI2][m] = gdrive * x[m];
            if (gst0[S_I]) gst0[S_I][m] = gdrive * c[CI1][m];
            gx[m] = gdrive * c[CI2][m];
        } else {
            if (gc[CI1]) gc[CI1][m] = (R)0;
            if (gc[CI2]) gc[CI2][m] = (R)0;
            gx[m] = gdrive;
        }
    }
}

}  // namespace

#define SF_SLTT_EXPORT(R, SUF)                                                                        \
extern "C" int sf_sltt_forward_##SUF(int kind, int reset, int sg_kind, double sg_p, int64_t M,         \
                                     const R* x, R* z, const R* const* st0, R* const* stT,            \
                                     const R* const* c, int64_t cs, R* d, int fold, const R* levels,              \
                                     const R* mids, int64_t nlev, int nt, int check, int64_t* bad) {  \
    const Levels<R> q{levels, mids, nlev};                                                            \
    SF_DISPATCH(kind, reset, SF_SLTT_FWD_##SUF)                                                                  \
    return 0;                                                                                         \
}                                                                                                     \
extern "C" int sf_sltt_backward_##SUF(int kind, int64_t M, const R* gz, int64_t gsm, const R* d,       \
                                      const R* x, const R* const* st0, const R* const* c, R* gx,      \
                                      R* const* gc, R* const* gst0, int fold, int nt) {                               \
    const int reset = kind == K_LI ? R_NONE : R_SUB;                                                  \
    SF_DISPATCH(kind, reset, SF_SLTT_BWD_##SUF)                                                                  \
    return 0;                                                                                         \
}

#define SF_SLTT_FWD_f32(K, RS) sltt_forward<float, K, RS>(M, x, z, st0, stT, c, cs, d, fold, sg_kind, (float)sg_p, q, nt, check, bad)
#define SF_SLTT_FWD_f64(K, RS) sltt_forward<double, K, RS>(M, x, z, st0, stT, c, cs, d, fold, sg_kind, sg_p, q, nt, check, bad)
#define SF_SLTT_BWD_f32(K, RS) sltt_backward<float, K>(M, gz, gsm, d, x, st0, c, gx, gc, gst0, fold, nt)
#define SF_SLTT_BWD_f64(K, RS) sltt_backward<double, K>(M, gz, gsm, d, x, st0, c, gx, gc, gst0, fold, nt)

SF_SLTT_EXPORT(float, f32)
SF_SLTT_EXPORT(double, f64)
