/* The passes for x86 CPUs with AVX2 and FMA (16 ymm registers); on other architectures and compilers without
 * vectors this unit is empty. */
#include "fused.h"

#if FUSED_X86_PASSES
#define PREFIX pass_avx2
#define TABLE passes_avx2
#define TARGET_ATTR TARGET("avx2,fma")
#define VECTOR_BYTES 32
/* The logits: 2 rows x 5 models, 10 sums, 2 rows' vectors, their centres and a vector of weights in the 16 ymm.
 * Measured on an Intel Xeon (bench/NOTES.md, 2026-12-07), no other shape that fits was faster: 1 x 10 (all ten
 * models per row's vector) streamed float64's 62 KB of weights through L1 for each row (11 % slower; float32's
 * 12 % faster but the pass no faster), 4 x 2 8-25 % slower. The gradient: 2 vectors of columns x 5 models summed
 * over all 8 rows, 10 sums, 2 rows' vectors, a factor, the centre and the widening's constant (15 ymm): no load
 * or store of dW inside the rows' loop; its phase 4-7 % faster than 2 rows x 1 vector x 5 models on that Xeon
 * (float32 a little more than float64), 4 rows x 2 vectors no faster. */
#define LOGITS_ROWS 2
#define LOGITS_MODELS 5
#define GRADIENT_ROWS ROWS
#define GRADIENT_VECTORS 2
#define GRADIENT_MODELS 5
#define MODELS_MULTIPLE 5

/* 4 bytes into a vector's low lane (_mm_loadu_si32 came to GCC only in 11). */
INLINE TARGET_ATTR __m128i four_bytes(const uint8_t *p) {
    int32_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    return _mm_cvtsi32_si128(bytes);
}

/* Bytes widened into a float's mantissa, with no conversion: each lane gets a pixel p (vpmovzxbq / vpmovzxbd)
 * ORed with the exponent bits of 2^52 (float64) or 2^23 (float32), which read as the float 2^52 + p (2^23 + p):
 * exact, and the centre's vector subtracts 2^52 + c (fused_pass.h's PIXEL_BIAS). An OR, which any vector port
 * runs, in place of vcvtdq2pd / vcvtdq2ps, which take an FMA port on Intel's cores (vcvtdq2pd a shuffle port
 * too): measured 3.5 % faster in float64 and 1 % in float32 on the Intel Xeon, the same results. */
#define U8_BIAS_F64 4503599627370496.0 /* 2^52 */
#define U8_BIAS_F32 8388608.0f         /* 2^23 */
#define LOAD_U8_F64(p) \
    _mm256_castsi256_pd(_mm256_or_si256(_mm256_cvtepu8_epi64(four_bytes(p)), _mm256_set1_epi64x(0x4330000000000000)))
#define LOAD_U8_F32(p)                                                                                 \
    _mm256_castsi256_ps(_mm256_or_si256(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p))), \
                                        _mm256_set1_epi32(0x4B000000)))
#if !defined(_MSC_VER) || defined(__clang__)
#define IN_REGISTER(v) __asm__("" : "+x"(v)) /* fused_pass.h: a ymm register */
#endif
#include "fused_types.h"
#endif
