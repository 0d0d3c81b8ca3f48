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
#define GRADIENT_ROWS 4
#define GRADIENT_MODELS 5
#define MODELS_MULTIPLE 5
#define LOAD_U8_F64(p) _mm512_cvtepi32_pd(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p))))
#define LOAD_U8_F32(p) _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p))))
#include "fused_types.h"
#endif
