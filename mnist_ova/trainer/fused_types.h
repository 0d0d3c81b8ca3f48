/* The four passes of one target (fused.c includes this once per target, with PREFIX, TARGET_ATTR, TR and
 * VECTOR_BYTES defined, and LOAD_U8_F64 / LOAD_U8_F32 where the target widens bytes in vectors): weights in
 * float64 and float32, each instantiated by fused_weights.h for uint8 pixels and for pixels of the weights'
 * type. The parameters are undefined at the end, for the next target's. */
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

#undef PREFIX
#undef TARGET_ATTR
#undef TR
#undef VECTOR_BYTES
#undef LOAD_U8_F64
#undef LOAD_U8_F32
