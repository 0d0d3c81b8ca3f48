/* The training kernel's exported functions (trainer/kernels.py loads them with ctypes and says what they
 * compute).
 *
 * Written in C and built when the package is installed, so that no run waits for it to compile (numba
 * compiled the same pass in 2.5-4.6 s at every first run; bench/NOTES.md). The pass is built for each
 * target a CPU may have, each in a unit of its own as numpy builds its dispatched code (fused_default.c,
 * fused_avx2.c, fused_avx512.c, fused_neon.c: a unit meant for another architecture compiles to nothing, so
 * that `cc -shared *.c` builds the library anywhere), and chosen at run time by what the CPU supports; each
 * with register tiles that fit its registers (fused_shape).
 */
#include "fused.h"

#if FUSED_X86_PASSES && defined(_MSC_VER)
#include <intrin.h> /* clang-cl: __cpuidex (its <cpuid.h> clashes with <intrin.h>'s __cpuid) */
#elif FUSED_X86_PASSES
#include <cpuid.h>
#endif

/* The exported functions' interface, raised with every change of their arguments: kernels.py refuses a library
 * of another one (an install not rebuilt after this file changed would read its arguments wrongly). */
#define INTERFACE 5

EXPORT int fused_interface(void) { return INTERFACE; }

/* Whether the passes work on vectors: 0 for a compiler without vector extensions (MSVC), whose one-lane pass is
 * slower than the NumPy path (measured), so that kernels.py leaves the choice to that path. */
EXPORT int fused_vectorised(void) { return FUSED_VECTORS; }

/* The passes of `target` for weights of `weights_bytes` bytes, or NULL where they are not built here (another
 * architecture's). */
static const pass_table *passes(int target, int weights_bytes) {
    static const pass_table *const BUILT[TARGETS] = {
        [TARGET_DEFAULT] = &passes_default,
#if FUSED_X86_PASSES
        [TARGET_AVX2] = &passes_avx2,
        [TARGET_AVX512] = &passes_avx512,
#endif
#if FUSED_ARM_PASSES
        [TARGET_NEON] = &passes_neon,
#endif
    };
    if ((weights_bytes != 4 && weights_bytes != 8) || target < 0 || target >= TARGETS) return NULL;
    return BUILT[target];
}

/* The shape of `target`'s passes for weights of `weights_bytes` (fused.h's SHAPE_*: vector bytes, each phase's
 * register tile, the models' multiple) into shape[SHAPE_SIZE]. Returns 0, or -1 where the target is not built
 * here (kernels.py lists the targets of this library so) or the weights are of another size. */
EXPORT int fused_shape(int target, int weights_bytes, int64_t *shape) {
    const pass_table *table = passes(target, weights_bytes);
    if (!table) return -1;
    memcpy(shape, table->shape[weights_bytes == 8], sizeof table->shape[0]);
    return 0;
}

#if FUSED_X86_PASSES
/* CPUID's eax, ebx, ecx, edx for `leaf` and `subleaf`. */
static void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t registers[4]) {
#if defined(_MSC_VER)
    __cpuidex((int *)registers, (int)leaf, (int)subleaf);
#else
    __cpuid_count(leaf, subleaf, registers[0], registers[1], registers[2], registers[3]);
#endif
}

/* The register states the operating system saves (XCR0), for a CPU with XGETBV (CPUID.1:ECX.OSXSAVE). */
static uint64_t saved_states(void) {
    uint32_t low, high;
    __asm__ __volatile__("xgetbv" : "=a"(low), "=d"(high) : "c"(0)); /* GNU syntax: clang-cl too */
    return (uint64_t)high << 32 | low;
}
#endif

/* The best target this CPU and its operating system support: the instructions (CPUID) and the registers that
 * the system saves across a thread switch (XCR0: ymm's upper halves for AVX, and for AVX-512 the opmask and
 * zmm states); on arm64, NEON (every arm64 CPU has it). */
EXPORT int fused_best_target(void) {
#if FUSED_ARM_PASSES
    return TARGET_NEON;
#elif FUSED_X86_PASSES
    const uint32_t FMA = 1u << 12, OSXSAVE = 1u << 27, AVX = 1u << 28;                          /* CPUID.1:ECX */
    const uint32_t AVX2 = 1u << 5, AVX512F = 1u << 16, AVX512DQ = 1u << 17, AVX512BW = 1u << 30, /* CPUID.7.0:EBX */
        AVX512VL = 1u << 31;
    uint32_t r[4];
    cpuid(0, 0, r);
    if (r[0] < 7) return TARGET_DEFAULT;
    cpuid(1, 0, r);
    if ((r[2] & (FMA | OSXSAVE | AVX)) != (FMA | OSXSAVE | AVX)) return TARGET_DEFAULT;
    const uint64_t states = saved_states();
    if ((states & 0x6) != 0x6) return TARGET_DEFAULT; /* xmm and ymm */
    cpuid(7, 0, r);
    if (!(r[1] & AVX2)) return TARGET_DEFAULT;
    const uint32_t avx512 = AVX512F | AVX512DQ | AVX512BW | AVX512VL;
#if defined(__APPLE__)
    const int zmm_saved = 1; /* macOS saves the AVX-512 states from a thread's first use on (XCR0 says so later) */
#else
    const int zmm_saved = (states & 0xe0) == 0xe0;
#endif
    if ((r[1] & avx512) == avx512 && zmm_saved) return TARGET_AVX512;
    return TARGET_AVX2;
#else
    return TARGET_DEFAULT;
#endif
}

/* One thread's share of a pass (kernels.py's FusedPass calls it from each of its threads, the GIL released):
 * weights of `weights_bytes` (8 double, 4 float), pixels of `pixel_bytes` (1: uint8, else the weights' type),
 * with the given target's code. Returns 0, or -1 when the scratch cannot be allocated or an argument is not
 * one of these. */
EXPORT int fused_pass(int target, int weights_bytes, int pixel_bytes, const void *P, const void *scale,
                      const void *centre, const void *residual, const void *WT, const void *b, const int64_t *y_index,
                      int64_t K, int64_t KP, int64_t n, int64_t d, int64_t dp, void *dWT_parts, double *stats_parts,
                      int64_t chunk, int64_t chunks, int64_t *counter, int64_t phases) {
    const pass_table *table = passes(target, weights_bytes);
    if (!table || (pixel_bytes != 1 && pixel_bytes != weights_bytes) ||
        KP % table->shape[weights_bytes == 8][SHAPE_MODELS_MULTIPLE])
        return -1;
    const pass_job job = {P, scale, centre, residual, WT, b, y_index, K, KP, n, d, dp, dWT_parts, stats_parts,
                          chunk, chunks, counter, phases};
    const size_t lanes_bytes = (size_t)((KP * ROWS + 15) / 16 * 16) * (size_t)weights_bytes; /* whole vectors */
    /* the logits' partial sums: KP x ROWS vectors of up to 64 bytes, and zero ones up to a multiple of 16 */
    const size_t sums_bytes = (size_t)((KP * ROWS + 15) / 16 * 16) * 64;
    pass_scratch s;
    s.buffer = aligned_bytes((size_t)(ROWS * dp * weights_bytes + 63) / 64 * 64); /* pixels or the weights' type */
    s.z = malloc(lanes_bytes);
    s.G = calloc((size_t)(KP * ROWS), (size_t)weights_bytes);
    s.lanes = malloc((size_t)(STATS * KP * ROWS) * sizeof(double));
    s.targets = calloc((size_t)(KP * ROWS), (size_t)weights_bytes);
    s.valid = malloc((size_t)(KP * ROWS) * (size_t)weights_bytes);
    s.bias_lanes = calloc(1, lanes_bytes);
    s.weight_lanes = calloc(1, lanes_bytes);
    s.corrections = malloc((size_t)KP * sizeof(double));
    s.sums = aligned_bytes(sums_bytes);
    const int status = s.buffer && s.z && s.G && s.lanes && s.targets && s.valid && s.bias_lanes && s.weight_lanes &&
                               s.corrections && s.sums
                           ? 0
                           : -1;
    if (status == 0) {
        memset(s.sums, 0, sums_bytes);
        for (int64_t q = 0; q < KP * ROWS; q++) {
            if (weights_bytes == 8)
                ((double *)s.valid)[q] = 1;
            else
                ((float *)s.valid)[q] = 1;
        }
        table->pass[weights_bytes == 8][pixel_bytes == 1](&job, &s);
    }
    aligned_free(s.buffer);
    aligned_free(s.sums);
    free(s.z);
    free(s.G);
    free(s.lanes);
    free(s.targets);
    free(s.valid);
    free(s.bias_lanes);
    free(s.weight_lanes);
    free(s.corrections);
    return status;
}

/* The score's exp(-t) and log(1 + exp(-t)) for each of n values of t, as the pass of `target` for weights of
 * `weights_bytes` computes them (for the tests). Returns 0, or -1 for an argument not one of those. */
EXPORT int fused_series(int target, int weights_bytes, const double *t, double *exp_minus, double *log1p, int64_t n) {
    const pass_table *table = passes(target, weights_bytes);
    if (!table) return -1;
    table->series[weights_bytes == 8](t, exp_minus, log1p, n);
    return 0;
}

/* out[j] = parts[0][j] + parts[1][j] + ... in that order, for the blocks of `size` columns this thread claims
 * through `counter` (the chunks' gradients added in parallel; the order, and so the result, is the same
 * whatever the threads). Returns 0, or -1 for weights of another size. */
EXPORT int fused_sum_parts(int weights_bytes, const void *parts, int64_t chunks, int64_t size, void *out,
                           int64_t *counter) {
    enum { BLOCK = 2048 };
    if (weights_bytes != 4 && weights_bytes != 8) return -1;
    for (;;) {
        const int64_t first = ATOMIC_FETCH_ADD(counter, 1) * BLOCK;
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
