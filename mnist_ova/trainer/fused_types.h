/* One target's passes and its table of them (TABLE): fused_<target>.c includes this with PREFIX, TABLE,
 * TARGET_ATTR, VECTOR_BYTES, its register tiles (LOGITS_ROWS, LOGITS_MODELS, GRADIENT_ROWS, GRADIENT_VECTORS,
 * GRADIENT_MODELS) and MODELS_MULTIPLE defined, and LOAD_U8_F64 / LOAD_U8_F32 where the target widens bytes in
 * vectors (with U8_BIAS_F64 / U8_BIAS_F32 where those add a whole number to each pixel: fused_pass.h's
 * PIXEL_BIAS). Weights in float64 and float32, each instantiated by fused_weights.h for uint8 pixels and for
 * pixels of the weights' type. */
#define T double
#define T_BYTES 8
#define TYPE_SUFFIX _f64
#ifdef LOAD_U8_F64
#define LOAD_U8(p) LOAD_U8_F64(p)
#ifdef U8_BIAS_F64
#define U8_BIAS U8_BIAS_F64
#endif
#endif
#include "fused_weights.h"

#define T float
#define T_BYTES 4
#define TYPE_SUFFIX _f32
#ifdef LOAD_U8_F32
#define LOAD_U8(p) LOAD_U8_F32(p)
#ifdef U8_BIAS_F32
#define U8_BIAS U8_BIAS_F32
#endif
#endif
#include "fused_weights.h"

#if FUSED_VECTORS
#define SHAPE_OF(bytes) {VECTOR_BYTES, LOGITS_ROWS, LOGITS_MODELS, GRADIENT_ROWS, GRADIENT_VECTORS, GRADIENT_MODELS, \
                          MODELS_MULTIPLE}
#else
#define SHAPE_OF(bytes) {bytes, LOGITS_ROWS, LOGITS_MODELS, GRADIENT_ROWS, GRADIENT_VECTORS, GRADIENT_MODELS, \
                          MODELS_MULTIPLE}
#endif
INTERNAL const pass_table TABLE = {
    {{XCAT(PREFIX, _f32_f32), XCAT(PREFIX, _f32_u8)}, {XCAT(PREFIX, _f64_f64), XCAT(PREFIX, _f64_u8)}},
    {XCAT(PREFIX, _f32_u8_series), XCAT(PREFIX, _f64_u8_series)},
    {SHAPE_OF(4), SHAPE_OF(8)}};
#undef SHAPE_OF
