/* The passes for x86 CPUs with AVX-512 (F, DQ, VL, BW; 32 zmm registers); on other architectures and compilers
 * without vectors this unit is empty. */
#include "fused.h"

#if FUSED_X86_PASSES
#define PREFIX pass_avx512
#define TABLE passes_avx512
/* GCC vectorises the score's loop with 256-bit vectors unless told to prefer 512; Clang rejects the option (and
 * with it the whole attribute) and uses 512-bit vectors anyway. */
#if defined(__clang__)
#define TARGET_ATTR TARGET("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")
#else
#define TARGET_ATTR TARGET("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,prefer-vector-width=512")
#endif
#define VECTOR_BYTES 64
#define LOGITS_ROWS 4 /* 4 x 5 sums, 4 rows and a vector of weights in 32 zmm registers */
#define LOGITS_MODELS 5
/* The gradient: 4 rows x 1 vector of columns x 5 models, its 20 factors and 4 centres held in registers. Summing
 * 2-4 vectors over all 8 rows (the AVX2 pass's tile, whose 40 factors are loaded) made the phase 10-35 % slower
 * on the Intel Xeon of 2026-12-07 (8-14 % with the data in L1). */
#define GRADIENT_ROWS 4
#define GRADIENT_VECTORS 1
#define GRADIENT_MODELS 5
#define MODELS_MULTIPLE 5
/* Bytes widened into the mantissa of 2^52 (float64) or 2^23 (float32) and ORed with its exponent, as the AVX2
 * pass does (fused_avx2.c): no conversion, the same results; on the Intel Xeon of 2026-12-07 float64's pass 5 %
 * faster (its logits 11 %), float32's 1 %. */
#define U8_BIAS_F64 4503599627370496.0 /* 2^52 */
#define U8_BIAS_F32 8388608.0f         /* 2^23 */
#define LOAD_U8_F64(p)                                                                                   \
    _mm512_castsi512_pd(_mm512_or_si512(_mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)(p))), \
                                        _mm512_set1_epi64(0x4330000000000000)))
#define LOAD_U8_F32(p)                                                                                   \
    _mm512_castsi512_ps(_mm512_or_si512(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p))), \
                                        _mm512_set1_epi32(0x4B000000)))
#include "fused_types.h"
#endif
