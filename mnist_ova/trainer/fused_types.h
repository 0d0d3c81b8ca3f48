/* One target's passes and its table of them (TABLE): fused_<target>.c includes this with PREFIX, TABLE,
 * TARGET_ATTR, TR and VECTOR_BYTES defined, and LOAD_U8_F64 / LOAD_U8_F32 where the target widens bytes in
 * vectors. Weights in float64 and float32, each instantiated by fused_weights.h for uint8 pixels and for
 * pixels of the weights' type. */
#define T double
#define T_BYTES 8
#define TYPE_SUFFIX _f64
#ifdef LOAD_U8_F64
#define LOAD_U8(p) LOAD_U8_F64(p)
#endif
#include "fused_weights.h"

#define T float
#define T_BYTES 4
#define TYPE_SUFFIX _f32
#ifdef LOAD_U8_F32
#define LOAD_U8(p) LOAD_U8_F32(p)
#endif
#include "fused_weights.h"

INTERNAL const pass_table TABLE = {
    {{XCAT(PREFIX, _f32_f32), XCAT(PREFIX, _f32_u8)}, {XCAT(PREFIX, _f64_f64), XCAT(PREFIX, _f64_u8)}},
    {XCAT(PREFIX, _f32_u8_series), XCAT(PREFIX, _f64_u8_series)}};
