/* The training kernel (trainer/kernels.py loads it with ctypes and says what it computes).
 *
 * Written in C and built when the package is installed, so that no run waits for it to compile (numba
 * compiled the same pass in 2.5-4.6 s at every first run; bench/NOTES.md). The pass is instantiated for each
 * target a CPU may have (AVX-512, AVX2 with FMA, and the compiler's default) and chosen at run time by what
 * the CPU supports; each with a register tile that fits its registers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)

#define ROWS 8           /* rows per tile */
#define MODELS 5         /* models per register tile; K is padded to a multiple of this */
#define AHEAD (4 * ROWS) /* rows between a tile and the one its calls prefetch (bench/NOTES.md) */
#define STATS 4          /* sums per model: of G, of the cost, of wrong predictions; rows predicted right */

#define LN2_HI 6.93147180369123816490e-01 /* fdlibm's split of log(2) */
#define LN2_LO 1.90821492927058770002e-10
/* 1/n!: |r| <= log(2)/2 leaves an error < 5e-18 with 14 terms; 1/(2n+1): s <= 1/3, < 2e-17 with 17. float32
 * weights need errors only below their half-ulp (6e-8): 8 terms of each give < 8e-9. */
static const double EXP_C[14] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
                                 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600,
                                 1.0 / 6227020800.0};
static const double LOG1P_C[17] = {1.0, 1.0 / 3, 1.0 / 5, 1.0 / 7, 1.0 / 9, 1.0 / 11, 1.0 / 13, 1.0 / 15, 1.0 / 17,
                                   1.0 / 19, 1.0 / 21, 1.0 / 23, 1.0 / 25, 1.0 / 27, 1.0 / 29, 1.0 / 31, 1.0 / 33};
#define EXP_TERMS(type) (sizeof(type) == 8 ? 14 : 8)
#define LOG1P_TERMS(type) (sizeof(type) == 8 ? 17 : 8)

enum { TARGET_DEFAULT = 0, TARGET_AVX2 = 1, TARGET_AVX512 = 2 };

/* The exported functions' interface, raised with every change of their arguments: kernels.py refuses a library
 * of another one (an install not rebuilt after this file changed would read its arguments wrongly). */
#define INTERFACE 2

int fused_interface(void) { return INTERFACE; }

/* Every pass, by target: fused_types.h instantiates a target's four (weights float64 and float32, pixels uint8
 * and the weights' type) and undefines its parameters. LOAD_U8_F64 / LOAD_U8_F32 widen a vector's worth of
 * bytes where the target can. */
#define PREFIX pass_default
#define TARGET_ATTR
#define TR 2
#define VECTOR_BYTES 16
#include "fused_types.h"

#if defined(__x86_64__) || defined(__i386__)
#define X86 1
#define PREFIX pass_avx2
#define TARGET_ATTR __attribute__((target("avx2,fma")))
#define TR 2
#define VECTOR_BYTES 32
#define LOAD_U8_F64(p) _mm256_cvtepi32_pd(_mm_cvtepu8_epi32(_mm_loadu_si32(p)))
#define LOAD_U8_F32(p) _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p))))
#include "fused_types.h"

#define PREFIX pass_avx512
#define TARGET_ATTR __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,prefer-vector-width=512")))
#define TR 4
#define VECTOR_BYTES 64
#define LOAD_U8_F64(p) _mm512_cvtepi32_pd(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p))))
#define LOAD_U8_F32(p) _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p))))
#include "fused_types.h"
#else
#define X86 0
#endif

/* `action(prefix)` with the pass prefix of `target`, a TARGET_ number known to be built here. */
#if X86
#define BY_TARGET(action)                 \
    if (target == TARGET_AVX512) {        \
        action(pass_avx512)               \
    } else if (target == TARGET_AVX2) {   \
        action(pass_avx2)                 \
    } else {                              \
        action(pass_default)              \
    }
#else
#define BY_TARGET(action) \
    { action(pass_default) }
#endif

/* Whether the passes of `target` for weights of `weights_bytes` bytes are built here. */
static int built(int target, int weights_bytes) {
    return (weights_bytes == 4 || weights_bytes == 8) && target >= TARGET_DEFAULT &&
           target <= (X86 ? TARGET_AVX512 : TARGET_DEFAULT);
}

/* The best target this CPU (and its operating system) supports. */
int fused_best_target(void) {
#if X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
        return TARGET_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return TARGET_AVX2;
#endif
    return TARGET_DEFAULT;
}

/* One thread's share of a pass (kernels.py's FusedPass calls it from each of its threads, the GIL released):
 * weights of `weights_bytes` (8 double, 4 float), pixels of `pixel_bytes` (1: uint8, else the weights' type),
 * with the given target's code. Returns 0, or -1 when the scratch cannot be allocated or an argument is not
 * one of these. */
int fused_pass(int target, int weights_bytes, int pixel_bytes, const void *P, const void *scale, const void *centre,
               const void *residual, const void *WT, const void *b, const int64_t *y_index, int64_t K, int64_t KP,
               int64_t n, int64_t d, int64_t dp, void *dWT_parts, double *stats_parts, int64_t chunk, int64_t chunks,
               int64_t *counter, int64_t phases) {
    if (!built(target, weights_bytes) || (pixel_bytes != 1 && pixel_bytes != weights_bytes) || KP % MODELS)
        return -1;
    const size_t buffer_bytes = (size_t)(ROWS * dp * weights_bytes + 63) / 64 * 64; /* pixels or the weights' type */
    void *buffer = aligned_alloc(64, buffer_bytes);
    const size_t lanes_bytes = (size_t)((KP * ROWS + 15) / 16 * 16) * (size_t)weights_bytes; /* whole vectors */
    void *z = malloc(lanes_bytes);
    void *G = calloc((size_t)(KP * ROWS), (size_t)weights_bytes);
    double *lanes = malloc((size_t)(STATS * KP * ROWS) * sizeof(double));
    void *targets = calloc((size_t)(KP * ROWS), (size_t)weights_bytes);
    void *valid = malloc((size_t)(KP * ROWS) * (size_t)weights_bytes);
    void *bias_lanes = calloc(1, lanes_bytes);
    void *weight_lanes = calloc(1, lanes_bytes);
    double *corrections = malloc((size_t)KP * sizeof(double));
    /* the logits' partial sums: KP x ROWS vectors of up to 64 bytes, and zero ones up to a multiple of 16 */
    void *sums = aligned_alloc(64, (size_t)((KP * ROWS + 15) / 16 * 16) * 64);
    if (sums) memset(sums, 0, (size_t)((KP * ROWS + 15) / 16 * 16) * 64);
    int status = 0;
    if (valid)
        for (int64_t q = 0; q < KP * ROWS; q++) {
            if (weights_bytes == 8)
                ((double *)valid)[q] = 1;
            else
                ((float *)valid)[q] = 1;
        }
    if (!buffer || !z || !G || !lanes || !sums || !targets || !valid || !bias_lanes || !weight_lanes || !corrections) {
        status = -1;
        goto done;
    }
#define ARGUMENTS(type, pixel)                                                                                  \
    (const pixel *)P, (const type *)scale, (const type *)centre, (const type *)residual, (const type *)WT,       \
        (const type *)b, y_index, K, KP, n, d, dp, (type *)dWT_parts, stats_parts, chunk, chunks, counter, phases, \
        buffer, (type *)z, (type *)G, lanes, (type *)sums, (type *)targets, (type *)valid, (type *)bias_lanes,    \
        (type *)weight_lanes, corrections
#define CALL(prefix)                                                                      \
    if (weights_bytes == 8 && pixel_bytes == 1)                                           \
        XCAT(prefix, _f64_u8)(ARGUMENTS(double, uint8_t));                                \
    else if (weights_bytes == 8)                                                          \
        XCAT(prefix, _f64_f64)(ARGUMENTS(double, double));                                \
    else if (pixel_bytes == 1)                                                            \
        XCAT(prefix, _f32_u8)(ARGUMENTS(float, uint8_t));                                 \
    else                                                                                  \
        XCAT(prefix, _f32_f32)(ARGUMENTS(float, float));
    BY_TARGET(CALL)
done:
    free(buffer);
    free(z);
    free(G);
    free(lanes);
    free(sums);
    free(targets);
    free(valid);
    free(bias_lanes);
    free(weight_lanes);
    free(corrections);
    return status;
}

/* The score's exp(-t) and log(1 + exp(-t)) for each of n values of t, as the pass of `target` for weights of
 * `weights_bytes` computes them (for the tests). Returns 0, or -1 for an argument not one of those. */
int fused_series(int target, int weights_bytes, const double *t, double *exp_minus, double *log1p, int64_t n) {
    if (!built(target, weights_bytes)) return -1;
#define SERIES(prefix)                                              \
    if (weights_bytes == 8)                                         \
        XCAT(prefix, _f64_u8_series)(t, exp_minus, log1p, n);       \
    else                                                            \
        XCAT(prefix, _f32_u8_series)(t, exp_minus, log1p, n);
    BY_TARGET(SERIES)
    return 0;
}

/* out[j] = parts[0][j] + parts[1][j] + ... in that order, for the blocks of `size` columns this thread claims
 * through `counter` (the chunks' gradients added in parallel; the order, and so the result, is the same
 * whatever the threads). Returns 0, or -1 for weights of another size. */
int fused_sum_parts(int weights_bytes, const void *parts, int64_t chunks, int64_t size, void *out, int64_t *counter) {
    enum { BLOCK = 2048 };
    if (weights_bytes != 4 && weights_bytes != 8) return -1;
    for (;;) {
        const int64_t first = __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED) * BLOCK;
        if (first >= size) break;
        const int64_t stop = first + BLOCK < size ? first + BLOCK : size;
#define SUM(type)                                                                  \
    {                                                                              \
        const type *p = parts;                                                     \
        type *o = out;                                                             \
        for (int64_t j = first; j < stop; j++) o[j] = p[j];                        \
        for (int64_t c = 1; c < chunks; c++)                                       \
            for (int64_t j = first; j < stop; j++) o[j] += p[c * size + j];        \
    }
        if (weights_bytes == 8)
            SUM(double)
        else
            SUM(float)
#undef SUM
    }
    return 0;
}
