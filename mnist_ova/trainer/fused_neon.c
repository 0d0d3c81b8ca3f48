/* The passes for arm64 (NEON, which every arm64 CPU has: 32 q registers of 128 bits); on other architectures and
 * compilers without vectors this unit is empty. */
#include "fused.h"

#if FUSED_ARM_PASSES
#define PREFIX pass_neon
#define TABLE passes_neon
#define TARGET_ATTR
#define VECTOR_BYTES 16
/* 2 rows x 10 models in each phase: 20 sums (or factors), 2 rows' vectors, their centres, a vector of weights
 * (or of the gradient) and the conversion's two constants, 27 of the 32 registers. Chosen by counting, not
 * measured (no arm64 machine was at hand): a vector of pixels costs four vector operations (below) beside the
 * multiply-adds, so a row's vector serving 10 models takes 28 vector operations per 20 multiply-adds where
 * AVX-512's shape, 4 x 5, takes 36 (the gradient's 10 loads and stores of 16 bytes stay under what the
 * multiply-adds take on Neoverse N1 and V1). */
#define LOGITS_ROWS 2
#define LOGITS_MODELS 10
#define GRADIENT_ROWS 2 /* all 8 rows x 2 vectors x 10 models: GCC 12 spilled in its loop (not measured) */
#define GRADIENT_VECTORS 1
#define GRADIENT_MODELS 10
#define MODELS_MULTIPLE 10

/* Bytes widened into a float's mantissa, with no conversion: a table look-up (TBL) puts each pixel p in the low
 * byte of its lane (zeros above), and an OR the exponent bits of 2^52 (float64) or 2^23 (float32), which read as
 * the float 2^52 + p (2^23 + p): exact, and the centre's vector subtracts 2^52 + c (fused_pass.h's PIXEL_BIAS).
 * That is a load, a TBL, an OR and the subtraction per vector, against four widenings and a conversion for
 * float64 (two and a conversion for float32); only the subtraction is floating-point. Index 255 gives a zero. */
#define U8_BIAS_F64 4503599627370496.0 /* 2^52 */
#define U8_BIAS_F32 8388608.0f         /* 2^23 */

/* The bytes from p (2 or 4) in a vector's low lane, zeros above. */
INLINE uint8x16_t neon_bytes(uint32_t bytes) {
    return vreinterpretq_u8_u64(vcombine_u64(vcreate_u64(bytes), vcreate_u64(0)));
}

INLINE float64x2_t neon_u8_f64(const uint8_t *p) {
    static const uint8_t INDEX[16] = {0, 255, 255, 255, 255, 255, 255, 255, 1, 255, 255, 255, 255, 255, 255, 255};
    uint16_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    const uint64x2_t wide = vreinterpretq_u64_u8(vqtbl1q_u8(neon_bytes(bytes), vld1q_u8(INDEX)));
    return vreinterpretq_f64_u64(vorrq_u64(wide, vdupq_n_u64(UINT64_C(0x4330000000000000))));
}

INLINE float32x4_t neon_u8_f32(const uint8_t *p) {
    static const uint8_t INDEX[16] = {0, 255, 255, 255, 1, 255, 255, 255, 2, 255, 255, 255, 3, 255, 255, 255};
    uint32_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    const uint32x4_t wide = vreinterpretq_u32_u8(vqtbl1q_u8(neon_bytes(bytes), vld1q_u8(INDEX)));
    return vreinterpretq_f32_u32(vorrq_u32(wide, vdupq_n_u32(UINT32_C(0x4B000000))));
}

#define LOAD_U8_F64(p) neon_u8_f64(p)
#define LOAD_U8_F32(p) neon_u8_f32(p)
#include "fused_types.h"
#endif
