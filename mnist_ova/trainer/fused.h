/* What fused.c (the exported functions) and the units of the passes share: the tile's rows, the score's
 * series, and each target's table of passes and of its register tiles' shapes. */
#ifndef FUSED_H
#define FUSED_H

#include "fused_compat.h"

#define ROWS 8           /* rows per tile (each target's register tiles: fused_pass.h) */
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

/* A pass's arguments (fused_pass's, typed by the pass) and its thread's scratch (fused_pass.h's NAME says
 * what each holds). */
typedef struct {
    const void *P, *scale, *centre, *residual, *WT, *b;
    const int64_t *y_index;
    int64_t K, KP, n, d, dp;
    void *dWT_parts;
    double *stats_parts;
    int64_t chunk, chunks;
    int64_t *counter;
    int64_t phases;
} pass_job;

typedef struct {
    void *buffer, *z, *G, *sums, *targets, *valid, *bias_lanes, *weight_lanes;
    double *lanes, *corrections;
} pass_scratch;

/* What a target's shape holds, in this order (fused_shape's values; kernels.py's SHAPE names them). */
enum { SHAPE_VECTOR_BYTES, SHAPE_LOGITS_ROWS, SHAPE_LOGITS_MODELS, SHAPE_GRADIENT_ROWS, SHAPE_GRADIENT_VECTORS,
       SHAPE_GRADIENT_MODELS, SHAPE_MODELS_MULTIPLE, SHAPE_SIZE };

/* A target's passes, by [weights are float64][pixels are uint8], its score's series by [float64], and its
 * shape by [float64]: the vectors' bytes, the logits' register tile (rows x models), the gradient's
 * (rows x vectors of columns x models) and the multiple the models are padded to. */
typedef struct {
    void (*pass[2][2])(const pass_job *, const pass_scratch *);
    void (*series[2])(const double *t, double *exp_minus, double *log1p, int64_t n);
    int64_t shape[2][SHAPE_SIZE];
} pass_table;

/* The functions kernels.py calls (fused.c says what each does). */
EXPORT int fused_interface(void);
EXPORT int fused_vectorised(void);
EXPORT int fused_best_target(void);
EXPORT int fused_pass(int target, int weights_bytes, int pixel_bytes, const void *P, const void *scale,
                      const void *centre, const void *residual, const void *WT, const void *b, const int64_t *y_index,
                      int64_t K, int64_t KP, int64_t n, int64_t d, int64_t dp, void *dWT_parts, double *stats_parts,
                      int64_t chunk, int64_t chunks, int64_t *counter, int64_t phases);
EXPORT int fused_series(int target, int weights_bytes, const double *t, double *exp_minus, double *log1p, int64_t n);
EXPORT int fused_sum_parts(int weights_bytes, const void *parts, int64_t chunks, int64_t size, void *out,
                           int64_t *counter);
EXPORT int fused_shape(int target, int weights_bytes, int64_t *shape);

/* The targets by number (kernels.py's TARGETS), each built in a unit of its own (fused_<target>.c): x86's
 * AVX2 and AVX-512 and arm64's NEON only on their architecture. */
enum { TARGET_DEFAULT = 0, TARGET_AVX2 = 1, TARGET_AVX512 = 2, TARGET_NEON = 3, TARGETS };
extern INTERNAL const pass_table passes_default;
#if FUSED_X86_PASSES
extern INTERNAL const pass_table passes_avx2, passes_avx512;
#endif
#if FUSED_ARM_PASSES
extern INTERNAL const pass_table passes_neon;
#endif

#endif
