/* The passes for x86 CPUs with AVX2 and FMA (16 ymm registers); on other architectures and compilers without
 * vectors this unit is empty. */
#include "fused.h"

#if FUSED_X86_PASSES
#define PREFIX pass_avx2
#define TABLE passes_avx2
#define TARGET_ATTR TARGET("avx2,fma")
#define VECTOR_BYTES 32
#ifndef LOGITS_ROWS /* EXPERIMENT */
#define LOGITS_ROWS 2
#define LOGITS_MODELS 5
#endif
#ifndef GRADIENT_ROWS
#define GRADIENT_ROWS 2
#define GRADIENT_MODELS 5
#endif
#ifndef MODELS_MULTIPLE
#define MODELS_MULTIPLE 5
#endif

/* 4 bytes into a vector's low lane (_mm_loadu_si32 came to GCC only in 11). */
INLINE TARGET_ATTR __m128i four_bytes(const uint8_t *p) {
    int32_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    return _mm_cvtsi32_si128(bytes);
}

#define LOAD_U8_F64(p) _mm256_cvtepi32_pd(_mm_cvtepu8_epi32(four_bytes(p)))
#define LOAD_U8_F32(p) _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p))))
#include "fused_types.h"
#endif
