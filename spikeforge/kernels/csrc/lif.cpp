// Fused multi-step LIF-family kernels (LIF, PLIF, CubaLIF, ALIF, LI): one call runs all T steps
// of a layer. The kernels know a model only as a charge equation with coefficients handed over
// from Python (spikeforge/kernels/specs.py), computed by the same torch expressions as the
// reference step function, so the forward pass reproduces it bit for bit:
//
//     i' = ci1 * i + ci2 * x                       (kind CUBA only; otherwise the drive is x)
//     v1 = (c1 * v + c2 * drive) + c3
//     theta = vth + adapt * a                      (kind ALIF; otherwise vth)
//     z  = H(v1 - theta)                           (kind LI: the output is v1 and nothing resets)
//     v' = reset(v1, z, theta, vr)                 (subtract / value / zero / none)
//     a' = ca * a + z                              (kind ALIF)
//
// The backward pass stores nothing from the forward pass but its inputs: for a block of neurons
// it recomputes the trajectory into a cache-resident buffer (v1 and the surrogate derivative per
// step), then runs the adjoint recurrence backwards in time, accumulating per-neuron gradients of
// every coefficient (summed over time) for learnable parameters.
#include "common.h"
#include "step_math.h"

using namespace sfk;  // kind, reset, coefficient and slot codes; reset_value, spike_reset_adjoint

namespace {

// Copy a finished block of outputs to its place in a large output tensor. For outputs far larger
// than the caches, non-temporal stores skip the read-for-ownership of every destination line.
template <typename R>
inline void store_out(R* dst, const R* src, int64_t n, bool stream) {
#if defined(__AVX__)
    if (stream && sizeof(R) == 4) {
        float* d = reinterpret_cast<float*>(dst);
        const float* s = reinterpret_cast<const float*>(src);
        int64_t j = 0;
        for (; j < n && (reinterpret_cast<uintptr_t>(d + j) & 31); ++j) d[j] = s[j];
        for (; j + 8 <= n; j += 8) _mm256_stream_ps(d + j, _mm256_loadu_ps(s + j));
        for (; j < n; ++j) d[j] = s[j];
        return;
    }
    if (stream && sizeof(R) == 8) {
        double* d = reinterpret_cast<double*>(dst);
        const double* s = reinterpret_cast<const double*>(src);
        int64_t j = 0;
        for (; j < n && (reinterpret_cast<uintptr_t>(d + j) & 31); ++j) d[j] = s[j];
        for (; j + 4 <= n; j += 4) _mm256_stream_pd(d + j, _mm256_loadu_pd(s + j));
        for (; j < n; ++j) d[j] = s[j];
        return;
    }
#endif
    (void)stream;
    std::memcpy(dst, src, (size_t)n * sizeof(R));
}

inline void stream_fence() {
#if defined(__AVX__)
    _mm_sfence();
#endif
}

// Rows of a [T, M] tensor are M elements apart, so a block walks T short runs that the hardware
// prefetcher (which stops at 4 KiB page borders) barely sees; ask for a later row explicitly.
const int64_t PF_AHEAD = 2;
template <typename R>
inline void prefetch_row(const R* p, int64_t n) {
    const char* b = reinterpret_cast<const char*>(p);
    const int64_t bytes = n * (int64_t)sizeof(R);
    for (int64_t o = 0; o < bytes; o += 64) {
#if defined(__x86_64__)
        // not __builtin_prefetch: GCC 12 drops those from a loop when a caller picks between two
        // prefetch_row calls (prefetch_ahead below), leaving no prefetch at all
        asm volatile("prefetcht0 %0" : : "m"(*(b + o)));
#else
        __builtin_prefetch(b + o, 0, 3);
#endif
    }
}

// Prefetch for writing (prefetchw): a row of an output written in place, i.e. below STREAM_BYTES,
// whose lines sit in L3 rather than L1/L2; the stores then no longer wait for each line's
// read-for-ownership (backward at [100, 32, 512], 1 thread: kernel CPU time about 0.95x; issue 17).
template <typename R>
inline void prefetchw_row(R* p, int64_t n) {
    char* b = reinterpret_cast<char*>(p);
    const int64_t bytes = n * (int64_t)sizeof(R);
    for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(b + o, 1, 3);
}

// Prefetch every 64 B line holding one of the n values at p (prefetch_row covers n * sizeof(R) bytes
// from p, which misses the last line of a run that does not start on a line).
template <typename R>
inline void prefetch_span(const R* p, int64_t n) {
    const uintptr_t lo = reinterpret_cast<uintptr_t>(p) & ~(uintptr_t)63;
    const uintptr_t hi = reinterpret_cast<uintptr_t>(p + n);
    for (uintptr_t a = lo; a < hi; a += 64) {
#if defined(__x86_64__)
        asm volatile("prefetcht0 %0" : : "m"(*reinterpret_cast<const char*>(a)));  // see prefetch_row
#else
        __builtin_prefetch(reinterpret_cast<const char*>(a), 0, 3);
#endif
    }
}

// Prefetch row t + PF_AHEAD of this block; near the end of the block, the first rows of the next
// block (the one this thread most likely takes next), which would otherwise start cold: at short T
// (e.g. T = 8) a quarter of all rows did.
template <typename R>
inline void prefetch_ahead(const R* x, int64_t t, int64_t T, int64_t M, int64_t m0, int64_t n, int64_t CH,
                           int64_t nchunks) {
    const int64_t ta = t + PF_AHEAD;
    if (ta < T) { prefetch_row(x + ta * M + m0, n); return; }
    const int64_t m1 = m0 + CH;
    if (m1 < nchunks * CH && ta - T < T) prefetch_row(x + (ta - T) * M + m1, std::min(CH, M - m1));
}

// Outputs at least this large use streaming stores: half the 32 MiB L3 of the reference VM, so an
// output that would not survive in cache next to its input (e.g. [8, 64, 16384]: 33.5 MB each) skips
// the read-for-ownership of every line, while [100, 32, 512] (6.5 MB) stays cached for the next op.
// Measured on the LIF step at [8, 64, 16384], same process, CPU time: 2.5x -> 2.1x the copy floor
// (the old threshold, 64 MiB, streamed only at [100, 128, 2048]; see BENCHMARKS.md section 10).
const int64_t STREAM_BYTES = (int64_t)16 << 20;

// Coefficients of a block of neurons. A per-neuron coefficient is read from its [M] array; a
// broadcast one (bit k of cmask set: one value for every neuron, e.g. a layer's scalar beta) is
// handed over as a single element and copied once per thread into a block-long buffer, so short-T
// calls do not read (and Python does not materialise) an [M] array per coefficient.
const int64_t CB = 512;  // largest block of either kernel
template <typename R>
struct CoefBlock {
    R buf[NCOEF][CB];
    const R* const* c;
    int64_t cmask;
    CoefBlock(const R* const* c_, int64_t cmask_) : c(c_), cmask(cmask_) {
        for (int k = 0; k < NCOEF; ++k)
            if (cmask >> k & 1) for (int64_t j = 0; j < CB; ++j) buf[k][j] = c[k][0];
    }
    const R* at(int k, int64_t m0) const { return (cmask >> k & 1) ? buf[k] : c[k] + m0; }
};

// Initial state of slot `slot` for neuron m. Bit SMASK + slot of cmask set: the slot holds one value for
// every neuron (a layer's resting potential, e.g. LIF's v_leak), handed over as a single element, so a
// call from rest neither builds nor reads a [M] initial state (issue 17).
const int SMASK = 16;
template <typename R>
inline R st0_at(const R* const* st0, int64_t cmask, int slot, int64_t m) {
    return (cmask >> (SMASK + slot) & 1) ? st0[slot][0] : st0[slot][m];
}

// ---------------------------------------------------------------- forward
// Non-finite check (CHECK): after each step the new state of every neuron goes into a running sum
// of (s - s), which is 0 for finite s and NaN for NaN or +-inf (a NaN or inf input makes the state
// non-finite too, through v1 = c1 v + c2 x + c3 and every reset). One subtraction and one addition
// per state value in the loop that already runs; only a step whose sum is NaN is searched for the
// neuron. bad = {t, m, code}: code 1 + slot for a non-finite initial state (t = 0), 4 + slot for a
// state that became non-finite at step t. Across blocks the smallest (t, phase, m) is kept.
inline bool nonfinite_before(int64_t t, int64_t m, int64_t code, const int64_t* bad) {
    if (bad[2] == 0) return true;
    const int64_t ph = code >= 4, bph = bad[2] >= 4;
    return t != bad[0] ? t < bad[0] : (ph != bph ? ph < bph : m < bad[1]);
}

inline void report_nonfinite(int64_t t, int64_t m, int64_t code, int64_t* bad) {
#pragma omp critical(sf_nonfinite)
    if (nonfinite_before(t, m, code, bad)) { bad[0] = t; bad[1] = m; bad[2] = code; }
}

template <typename R, int K>
inline int64_t first_nonfinite_state(const R* v, const R* iv, const R* av, int64_t n, int64_t* slot) {
    for (int64_t j = 0; j < n; ++j) {
        if (K == K_CUBA && !std::isfinite(iv[j])) { *slot = S_I; return j; }
        if (!std::isfinite(v[j])) { *slot = S_V; return j; }
        if (K == K_ALIF && !std::isfinite(av[j])) { *slot = S_A; return j; }
    }
    return -1;
}

// Coefficient pointers of the n neurons starting at m (broadcast ones from the per-thread buffer).
template <typename R>
struct StepCoefs {
    const R *c1, *c2, *c3, *vth, *vr, *ci1, *ci2, *ad, *ca;
    StepCoefs(const CoefBlock<R>& cb, int64_t m)
        : c1(cb.at(C1, m)), c2(cb.at(C2, m)), c3(cb.at(C3, m)), vth(cb.at(VTH, m)), vr(cb.at(VR, m)),
          ci1(cb.at(CI1, m)), ci2(cb.at(CI2, m)), ad(cb.at(ADAPT, m)), ca(cb.at(CA, m)) {}
};

// One time step of n neurons, in the reference step's operation order: (CuBa current), charge
// v1 = (c1 v + c2 drive) + c3, spike H(v1 - theta), reset, (adaptation); spikes (LI: v1) to zo. With
// CHECK, `probe` turns NaN once some state is no longer finite (summed in any order: only NaN matters).
template <typename R, int K, int RS, bool CHECK>
inline __attribute__((always_inline)) void step_lanes(const StepCoefs<R>& k, int64_t n, const R* xt, R* zo, R* v,
                                                       R* iv, R* av, R& probe) {
    const R *c1 = k.c1, *c2 = k.c2, *c3 = k.c3, *vth = k.vth, *vr = k.vr;
    const R *ci1 = k.ci1, *ci2 = k.ci2, *ad = k.ad, *ca = k.ca;
    R p = probe;
#pragma omp simd reduction(+ : p)
    for (int64_t j = 0; j < n; ++j) {
        R drive = xt[j];
        if (K == K_CUBA) { iv[j] = ci1[j] * iv[j] + ci2[j] * drive; drive = iv[j]; }
        R v1 = c1[j] * v[j] + c2[j] * drive;
        v1 = v1 + c3[j];
        if (K == K_LI) {
            zo[j] = v1; v[j] = v1;
            if (CHECK) p += v1 - v1;
            continue;
        }
        R theta = vth[j];
        if (K == K_ALIF) theta = vth[j] + ad[j] * av[j];
        R s = (R)((v1 - theta) > (R)0);
        zo[j] = s;
        v[j] = reset_value<R, RS>(v1, s, theta, vr[j]);
        if (K == K_ALIF) av[j] = ca[j] * av[j] + s;
        if (CHECK) {
            p += v[j] - v[j];
            if (K == K_CUBA) p += iv[j] - iv[j];
            if (K == K_ALIF) p += av[j] - av[j];
        }
    }
    probe = p;
}

template <typename R, int K, int RS, bool CHECK>
void forward_blocks(int64_t T, int64_t M, const R* x, R* z, const R* const* st0, R* const* stT,
                  const R* const* c, int64_t cmask, int nthreads, int64_t* bad) {
    const int64_t CH = CB;
    const int64_t nchunks = (M + CH - 1) / CH;
    const bool stream = T * M * (int64_t)sizeof(R) >= STREAM_BYTES;
#pragma omp parallel num_threads(nthreads)
    {
    const CoefBlock<R> cb(c, cmask);
#pragma omp for schedule(dynamic, 8)
    for (int64_t ch = 0; ch < nchunks; ++ch) {
        const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
        R v[CH], iv[CH], av[CH], zt[CH];
        for (int64_t j = 0; j < n; ++j) {
            v[j] = st0_at(st0, cmask, S_V, m0 + j);
            if (K == K_CUBA) iv[j] = st0_at(st0, cmask, S_I, m0 + j);
            if (K == K_ALIF) av[j] = st0_at(st0, cmask, S_A, m0 + j);
        }
        int64_t t_end = T;
        if (CHECK) {
            int64_t slot = 0;
            const int64_t j = first_nonfinite_state<R, K>(v, iv, av, n, &slot);
            if (j >= 0) { report_nonfinite(0, m0 + j, 1 + slot, bad); t_end = 0; }
        }
        const StepCoefs<R> k(cb, m0);
        for (int64_t t = 0; t < t_end; ++t) {
            const R* xt = x + t * M + m0;
            prefetch_ahead(x, t, T, M, m0, n, CH, nchunks);
            R* zo = stream ? zt : z + t * M + m0;  // streamed from a block buffer, else written in place
            R probe = (R)0;
            step_lanes<R, K, RS, CHECK>(k, n, xt, zo, v, iv, av, probe);
            if (stream) store_out<R>(z + t * M + m0, zt, n, true);
            if (CHECK && probe != probe) {  // NaN: some state of this block is no longer finite
                int64_t slot = 0;
                const int64_t j = first_nonfinite_state<R, K>(v, iv, av, n, &slot);
                report_nonfinite(t, m0 + j, 4 + slot, bad);
                break;  // the call raises; the rest of this block is not needed
            }
        }
        if (stream) stream_fence();
        for (int64_t j = 0; j < n; ++j) {
            stT[S_V][m0 + j] = v[j];
            if (K == K_CUBA) stT[S_I][m0 + j] = iv[j];
            if (K == K_ALIF) stT[S_A][m0 + j] = av[j];
        }
    }
    }
}


// Forward for outputs below STREAM_BYTES (data that stays in the caches, e.g. [100, 32, 512]): blocks
// of FWD_CH neurons whose state (up to 3 x 16 KiB) stays in L1/L2 while each step reads one
// contiguous 16 KiB run of inputs and writes one of spikes, which the hardware prefetchers follow
// without forward_blocks' explicit row prefetch (kernel-only CPU time 0.8-0.9x of forward_blocks
// there; issue 17). Each run is processed in CB-sized pieces so broadcast coefficients come from the
// same small per-thread buffer. Same arithmetic per element as forward_blocks.
const int64_t FWD_CH = 4096;

template <typename R, int K, int RS, bool CHECK>
void forward_wide(int64_t T, int64_t M, const R* x, R* z, const R* const* st0, R* const* stT,
                  const R* const* c, int64_t cmask, int nthreads, int64_t* bad) {
    const int64_t CH = FWD_CH;
    const int64_t nchunks = (M + CH - 1) / CH;
    const bool stream = T * M * (int64_t)sizeof(R) >= STREAM_BYTES;
#pragma omp parallel num_threads(nthreads)
    {
    const CoefBlock<R> cb(c, cmask);
    std::vector<R> vs((size_t)CH), is(K == K_CUBA ? (size_t)CH : 1), as(K == K_ALIF ? (size_t)CH : 1);
    R zt[CB];
#pragma omp for schedule(dynamic, 1)
    for (int64_t ch = 0; ch < nchunks; ++ch) {
        const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
        R* v = vs.data();
        R* iv = is.data();
        R* av = as.data();
        for (int64_t j = 0; j < n; ++j) {
            v[j] = st0_at(st0, cmask, S_V, m0 + j);
            if (K == K_CUBA) iv[j] = st0_at(st0, cmask, S_I, m0 + j);
            if (K == K_ALIF) av[j] = st0_at(st0, cmask, S_A, m0 + j);
        }
        int64_t t_end = T;
        if (CHECK) {
            int64_t slot = 0;
            const int64_t j = first_nonfinite_state<R, K>(v, iv, av, n, &slot);
            if (j >= 0) { report_nonfinite(0, m0 + j, 1 + slot, bad); t_end = 0; }
        }
        for (int64_t t = 0; t < t_end; ++t) {
            R probe = (R)0;
            for (int64_t b0 = 0; b0 < n; b0 += CB) {
                const int64_t nb = std::min(CB, n - b0), mb = m0 + b0;
                const R* xt = x + t * M + mb;
                R* zo = stream ? zt : z + t * M + mb;  // streamed from a block buffer, else written in place
                step_lanes<R, K, RS, CHECK>(StepCoefs<R>(cb, mb), nb, xt, zo, v + b0, iv + b0, av + b0, probe);
                if (stream) store_out<R>(z + t * M + mb, zt, nb, true);
            }
            if (CHECK && probe != probe) {  // NaN: some state of this block is no longer finite
                int64_t slot = 0;
                const int64_t j = first_nonfinite_state<R, K>(v, iv, av, n, &slot);
                report_nonfinite(t, m0 + j, 4 + slot, bad);
                break;  // the call raises; the rest of this block is not needed
            }
        }
        if (stream) stream_fence();
        for (int64_t j = 0; j < n; ++j) {
            stT[S_V][m0 + j] = v[j];
            if (K == K_CUBA) stT[S_I][m0 + j] = iv[j];
            if (K == K_ALIF) stT[S_A][m0 + j] = av[j];
        }
    }
    }
}


// Streamed (large) outputs run forward_blocks, whose 512-neuron blocks with the row prefetch were as
// fast or faster from DRAM ([8, 64, 16384], [100, 128, 2048]); cache-resident ones forward_wide.
template <typename R, int K, int RS, bool CHECK>
void forward_impl(int64_t T, int64_t M, const R* x, R* z, const R* const* st0, R* const* stT,
                  const R* const* c, int64_t cmask, int nthreads, int64_t* bad) {
    if (T * M * (int64_t)sizeof(R) >= STREAM_BYTES)
        forward_blocks<R, K, RS, CHECK>(T, M, x, z, st0, stT, c, cmask, nthreads, bad);
    else
        forward_wide<R, K, RS, CHECK>(T, M, x, z, st0, stT, c, cmask, nthreads, bad);
}


// ---------------------------------------------------------------- backward
const int64_t BWD_BUF_BYTES = (int64_t)192 * 1024;

template <typename R, int K, int RS, bool NEEDP>
void backward_impl(int64_t T, int64_t M, const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx, const R* const* st0,
                   const R* const* gstT, R* const* gst0, const R* const* c, int64_t cmask, R* const* gc,
                   int detach, int sg_kind, double sg_p, int nthreads) {
    // Block of neurons whose whole trajectory fits in cache: V1 and SG (and I, A) buffers of
    // BWD_BUF_BYTES together, under half of the reference VM's 512 KiB L2 per core so that the
    // input rows and gradient rows streaming through keep their room (384 KiB before: backward
    // kernel CPU time 0.88x at [100, 32, 512] and 0.85x at [100, 128, 2048] with 192 KiB, 1 thread,
    // prefetchw included; [8, 64, 16384] unchanged (CH = CB there either way); issue 17).
    int64_t nbuf = 2 + (K == K_CUBA) + (K == K_ALIF);
    int64_t CH = BWD_BUF_BYTES / (int64_t)(std::max<int64_t>(T, 1) * nbuf * (int64_t)sizeof(R));
    CH = std::max<int64_t>(16, std::min<int64_t>(CB, CH / 16 * 16));
    const int64_t nchunks = (M + CH - 1) / CH;
    const R keep = detach ? (R)0 : (R)1;
    const bool stream = T * M * (int64_t)sizeof(R) >= STREAM_BYTES;
    int64_t next_block = 0;  // blocks are claimed one ahead (see below), in the order of this counter
#pragma omp parallel num_threads(nthreads)
    {
        std::vector<R> V1((size_t)(T * CH)), SG(K == K_LI ? 1 : (size_t)(T * CH));
        std::vector<R> IB(K == K_CUBA ? (size_t)((T + 1) * CH) : 1);
        std::vector<R> AB(K == K_ALIF ? (size_t)((T + 1) * CH) : 1);
        std::vector<R> gv(CH), gi(CH), ga(CH), vpb(CH), gzb(CH), gxb(CH), acc((size_t)NCOEF * CH);
        const CoefBlock<R> cb(c, cmask);
        // Software pipeline (issue 17): a thread claims its next block when it starts one, so it knows
        // which rows it reads next. Streamed (DRAM-sized) calls prefetch the next block's T input rows
        // while this block runs, half a row per step over its 2T steps (recompute, then adjoint), so
        // the loads of block k + 1 overlap block k's arithmetic and its streamed grad x stores instead
        // of stalling its recompute; only a thread's first block starts cold. Cache-resident calls
        // (below STREAM_BYTES) only prefetch two rows ahead, into the next block's first rows at the
        // end of a block: there the extra prefetches cost more than they hid (kernel CPU time 1.05-1.12x
        // at [100, 32, 512], 1 thread). Blocks are independent, so the order changes no result.
        int64_t ch;
#pragma omp atomic capture
        ch = next_block++;
        while (ch < nchunks) {
            int64_t nxt;
#pragma omp atomic capture
            nxt = next_block++;
            const int64_t m0 = ch * CH, n = std::min(CH, M - m0);
            const int64_t nm0 = nxt * CH, nn = nxt < nchunks ? std::min(CH, M - nm0) : 0;  // next block
            const int64_t half = (nn / 2 + 15) / 16 * 16;  // first part of a next-block row: whole 64 B lines
            auto prefetch_next = [&](int64_t q) {  // step q of 2T: part q % 2 of the next block's row q / 2
                if (!stream || nn == 0) return;
                const R* row = x + (q >> 1) * M + nm0;
                if (q & 1) { if (nn > half) prefetch_span(row + half, nn - half); }
                else prefetch_span(row, std::min(half, nn));
            };
            const R *c1 = cb.at(C1, m0), *c2 = cb.at(C2, m0), *c3 = cb.at(C3, m0);
            const R *vth = cb.at(VTH, m0), *vr = cb.at(VR, m0);
            const R *ci1 = cb.at(CI1, m0), *ci2 = cb.at(CI2, m0), *ad = cb.at(ADAPT, m0), *ca = cb.at(CA, m0);
            // 1. recompute the forward trajectory of this block (same arithmetic as forward_impl)
            R v[CB], iv[CB], av[CB];
            for (int64_t j = 0; j < n; ++j) {
                v[j] = st0_at(st0, cmask, S_V, m0 + j);
                if (K == K_CUBA) { iv[j] = st0_at(st0, cmask, S_I, m0 + j); IB[j] = iv[j]; }
                if (K == K_ALIF) { av[j] = st0_at(st0, cmask, S_A, m0 + j); AB[j] = av[j]; }
            }
            // FS (std::true_type): the bench's fast-sigmoid surrogate (code 3) evaluated in the same loop,
            // in surrogate_inplace's operation order, instead of a second pass over the row
            auto recompute = [&](auto fs) {
            constexpr bool FS = decltype(fs)::value;
            const R a = (R)sg_p;
            for (int64_t t = 0; t < T; ++t) {
                const R* xt = x + t * M + m0;
                const int64_t ta = t + PF_AHEAD;
                if (ta < T) prefetch_row(x + ta * M + m0, n);
                else if (!stream && nn > 0 && ta - T < T) prefetch_row(x + (ta - T) * M + nm0, nn);
                prefetch_next(t);
                R* v1b = V1.data() + t * CH;
                R* ub = SG.data() + (K == K_LI ? 0 : t * CH);
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    R drive = xt[j];
                    if (K == K_CUBA) { iv[j] = ci1[j] * iv[j] + ci2[j] * drive; drive = iv[j]; }
                    R v1 = c1[j] * v[j] + c2[j] * drive;
                    v1 = v1 + c3[j];
                    v1b[j] = v1;
                    if (K == K_LI) { v[j] = v1; continue; }
                    R theta = vth[j];
                    if (K == K_ALIF) theta = vth[j] + ad[j] * av[j];
                    R u = v1 - theta;
                    if (FS) ub[j] = fast_sigmoid_grad(a, u);
                    else ub[j] = u;
                    R s = (R)(u > (R)0);
                    v[j] = reset_value<R, RS>(v1, s, theta, vr[j]);
                    if (K == K_ALIF) av[j] = ca[j] * av[j] + s;
                }
                if (K != K_LI && !FS) sfk::surrogate_inplace<R>(sg_kind, a, ub, n);  // u -> dz/du while in L1
                if (K == K_CUBA) for (int64_t j = 0; j < n; ++j) IB[(t + 1) * CH + j] = iv[j];
                if (K == K_ALIF) for (int64_t j = 0; j < n; ++j) AB[(t + 1) * CH + j] = av[j];
            }
            };
            if (K != K_LI && sg_kind == 3) recompute(std::true_type{});
            else recompute(std::false_type{});
            // 2. adjoint recurrence, backwards in time. A final state the loss does not reach (a null
            // slot) starts at -0.0, the identity of a sum (-0 + a is a; +0 + -0 would be +0): the
            // reference adds no term for it (tests/kernels/test_absent_gradients.py)
            for (int64_t j = 0; j < n; ++j) {
                gv[j] = gstT[S_V] ? gstT[S_V][m0 + j] : (R)-0.0;
                gi[j] = (K == K_CUBA && gstT[S_I]) ? gstT[S_I][m0 + j] : (R)-0.0;
                ga[j] = (K == K_ALIF && gstT[S_A]) ? gstT[S_A][m0 + j] : (R)-0.0;
            }
            if (NEEDP) std::fill(acc.begin(), acc.end(), (R)0);
            R* a_c1 = acc.data() + C1 * CH; R* a_c2 = acc.data() + C2 * CH; R* a_c3 = acc.data() + C3 * CH;
            R* a_vth = acc.data() + VTH * CH; R* a_vr = acc.data() + VR * CH;
            R* a_ci1 = acc.data() + CI1 * CH; R* a_ci2 = acc.data() + CI2 * CH;
            R* a_ad = acc.data() + ADAPT * CH; R* a_ca = acc.data() + CA * CH;
            // DET: the detached-reset adjoint (spike_reset_adjoint's DET); a reset-free kind or reset has only that one
            auto adjoint = [&](auto det) {
            constexpr bool DET = decltype(det)::value;
            for (int64_t t = T - 1; t >= 0; --t) {
                const R* gzt = gz + t * gst + m0 * gsm;  // output gradient, any 2-D strides
                if (gsm == 0 && gst == 0) {  // one value for every step and neuron (loss = z.sum())
                    if (t == T - 1) for (int64_t j = 0; j < n; ++j) gzb[j] = gzt[0];
                    gzt = gzb.data();
                } else if (gsm == 0) {  // one value per step
                    const R g0 = gzt[0];
                    for (int64_t j = 0; j < n; ++j) gzb[j] = g0;
                    gzt = gzb.data();
                } else if (gsm != 1) {
                    for (int64_t j = 0; j < n; ++j) gzb[j] = gzt[j * gsm];
                    gzt = gzb.data();
                }
                const R* xt = x + t * M + m0;
                prefetch_next(2 * T - 1 - t);
                R* gxt = stream ? gxb.data() : gx + t * M + m0;  // streamed from a block buffer, else in place
                if (!stream && t >= PF_AHEAD) prefetchw_row(gx + (t - PF_AHEAD) * M + m0, n);  // rows to come
                const R* v1b = V1.data() + t * CH;
                const R* v1p = V1.data() + (t - 1) * CH;  // only read when t > 0
                const R* sgb = SG.data() + (K == K_LI ? 0 : t * CH);
                const R* ib = IB.data() + (K == K_CUBA ? t * CH : 0);
                const R* ab = AB.data() + (K == K_ALIF ? t * CH : 0);
                const R* abp = AB.data() + (K == K_ALIF && t > 0 ? (t - 1) * CH : 0);
                if (NEEDP) {  // membrane before this step: the reset of the previous step's v1
                    if (t > 0) {
#pragma omp simd
                        for (int64_t j = 0; j < n; ++j) {
                            const R w = v1p[j];
                            if (K == K_LI) { vpb[j] = w; continue; }
                            R thp = vth[j];
                            if (K == K_ALIF) thp = vth[j] + ad[j] * abp[j];
                            const R sp = (R)((w - thp) > (R)0);
                            vpb[j] = reset_value<R, RS>(w, sp, thp, vr[j]);
                        }
                    } else {
                        for (int64_t j = 0; j < n; ++j) vpb[j] = st0_at(st0, cmask, S_V, m0 + j);
                    }
                }
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) {
                    const R v1 = v1b[j];
                    R gv1;
                    if (K == K_LI) {
                        gv1 = gzt[j] + gv[j];
                    } else {
                        R theta = vth[j];
                        if (K == K_ALIF) theta = vth[j] + ad[j] * ab[j];
                        R gu, dth, dvr;
                        gv1 = spike_reset_adjoint<R, K, RS, DET>(gv[j], gzt[j], K == K_ALIF ? ga[j] : (R)0, v1,
                                                                 theta, vr[j], sgb[j], keep, gu, dth, dvr);
                        const R gth = dth - gu;
                        if (NEEDP) { a_vth[j] += gth; a_vr[j] += dvr; }
                        if (K == K_ALIF) {
                            if (NEEDP) { a_ad[j] += gth * ab[j]; a_ca[j] += ga[j] * ab[j]; }
                            ga[j] = ga[j] * ca[j] + gth * ad[j];
                        }
                    }
                    if (NEEDP) {
                        a_c1[j] += gv1 * vpb[j];
                        a_c3[j] += gv1;
                        a_c2[j] += gv1 * (K == K_CUBA ? ib[CH + j] : xt[j]);
                    }
                    const R gdrive = gv1 * c2[j];
                    if (K == K_CUBA) {
                        const R git = gi[j] + gdrive;
                        if (NEEDP) { a_ci1[j] += git * ib[j]; a_ci2[j] += git * xt[j]; }
                        gxt[j] = git * ci2[j];
                        gi[j] = git * ci1[j];
                    } else {
                        gxt[j] = gdrive;
                    }
                    gv[j] = gv1 * c1[j];
                }
                if (stream) store_out<R>(gx + t * M + m0, gxb.data(), n, true);
            }
            };
            if constexpr (RS == R_NONE || K == K_LI) adjoint(std::true_type{});
            else if (detach) adjoint(std::true_type{});
            else adjoint(std::false_type{});
            if (stream) stream_fence();
            for (int64_t j = 0; j < n; ++j) {
                if (gst0[S_V]) gst0[S_V][m0 + j] = gv[j];
                if (K == K_CUBA && gst0[S_I]) gst0[S_I][m0 + j] = gi[j];
                if (K == K_ALIF && gst0[S_A]) gst0[S_A][m0 + j] = ga[j];
            }
            if (NEEDP)
                for (int k = 0; k < NCOEF; ++k)
                    if (gc[k]) for (int64_t j = 0; j < n; ++j) gc[k][m0 + j] = acc[k * CH + j];
            ch = nxt;
        }
    }
}

template <typename R, int K, int RS>
void backward_p(bool needp, int64_t T, int64_t M, const R* x, const R* gz, int64_t gst, int64_t gsm, R* gx, const R* const* st0,
                const R* const* gstT, R* const* gst0, const R* const* c, int64_t cmask, R* const* gc,
                int detach, int sg_kind, double sg_p, int nthreads) {
    if (needp) backward_impl<R, K, RS, true>(T, M, x, gz, gst, gsm, gx, st0, gstT, gst0, c, cmask, gc, detach, sg_kind, sg_p, nthreads);
    else backward_impl<R, K, RS, false>(T, M, x, gz, gst, gsm, gx, st0, gstT, gst0, c, cmask, gc, detach, sg_kind, sg_p, nthreads);
}

}  // namespace

#define SF_EXPORT(R, SUF)                                                                          \
extern "C" int sf_forward_##SUF(int kind, int reset, int64_t T, int64_t M, const R* x, R* z,       \
                                const R* const* st0, R* const* stT, const R* const* c, int nt,     \
                                int check, int64_t* bad, int64_t cmask) {                          \
    _SF_FWD_BODY(R)                                                                                \
    return 0;                                                                                      \
}                                                                                                  \
extern "C" int sf_backward_##SUF(int kind, int reset, int detach, int sg_kind, double sg_p,        \
                                 int64_t T, int64_t M, const R* x, const R* gz, int64_t gst,       \
                                 int64_t gsm, R* gx,                                               \
                                 const R* const* st0, const R* const* gstT, R* const* gst0,        \
                                 const R* const* c, R* const* gc, int needp, int nt,               \
                                 int64_t cmask) {                                                  \
    _SF_BWD_BODY(R)                                                                                \
    return 0;                                                                                      \
}

#define _SF_FWD_CALL_float(K, RS) (check ? forward_impl<float, K, RS, true>(T, M, x, z, st0, stT, c, cmask, nt, bad) \
                                         : forward_impl<float, K, RS, false>(T, M, x, z, st0, stT, c, cmask, nt, bad))
#define _SF_FWD_CALL_double(K, RS) (check ? forward_impl<double, K, RS, true>(T, M, x, z, st0, stT, c, cmask, nt, bad) \
                                          : forward_impl<double, K, RS, false>(T, M, x, z, st0, stT, c, cmask, nt, bad))
#define _SF_FWD_BODY(R) SF_DISPATCH(kind, reset, _SF_FWD_CALL_##R)
#define _SF_BWD_CALL_float(K, RS) backward_p<float, K, RS>(needp != 0, T, M, x, gz, gst, gsm, gx, st0, gstT, gst0, c, cmask, gc, detach, sg_kind, sg_p, nt)
#define _SF_BWD_CALL_double(K, RS) backward_p<double, K, RS>(needp != 0, T, M, x, gz, gst, gsm, gx, st0, gstT, gst0, c, cmask, gc, detach, sg_kind, sg_p, nt)
#define _SF_BWD_BODY(R) SF_DISPATCH(kind, reset, _SF_BWD_CALL_##R)

SF_EXPORT(float, f32)
SF_EXPORT(double, f64)

extern "C" int sf_abi_version() { return 1; }
