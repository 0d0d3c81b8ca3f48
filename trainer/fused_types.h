/* The four passes of one target (fused.c includes this once per target, with PREFIX, TARGET_ATTR, TR and
 * VECTOR_BYTES defined, and LOAD_U8_F64 / LOAD_U8_F32 where the target widens bytes in vectors): weights in
 * float64 and float32, each for uint8 pixels and for pixels of the weights' type. Where the target cannot
 * widen bytes, no pass makes its features inside the logits loop (fused_pass.h's LOAD_PIXELS). The parameters
 * are undefined at the end, for the next target's. */
#define T double
#define T_BYTES 8
#define VL (VECTOR_BYTES / 8)
#define PIXEL uint8_t
#define NAME XCAT(PREFIX, _f64_u8)
#ifdef LOAD_U8_F64
#define LOAD_PIXELS(p) LOAD_U8_F64(p)
#endif
#include "fused_pass.h"
#undef NAME
#undef LOAD_PIXELS
#undef PIXEL
#define PIXEL double
#define NAME XCAT(PREFIX, _f64_f64)
#ifdef LOAD_U8_F64
#define LOAD_PIXELS(p) FN(load)(p)
#endif
#include "fused_pass.h"
#undef NAME
#undef LOAD_PIXELS
#undef PIXEL
#undef T
#undef T_BYTES
#undef VL

#define T float
#define T_BYTES 4
#define VL (VECTOR_BYTES / 4)
#define PIXEL uint8_t
#define NAME XCAT(PREFIX, _f32_u8)
#ifdef LOAD_U8_F32
#define LOAD_PIXELS(p) LOAD_U8_F32(p)
#endif
#include "fused_pass.h"
#undef NAME
#undef LOAD_PIXELS
#undef PIXEL
#define PIXEL float
#define NAME XCAT(PREFIX, _f32_f32)
#ifdef LOAD_U8_F32
#define LOAD_PIXELS(p) FN(load)(p)
#endif
#include "fused_pass.h"
#undef NAME
#undef LOAD_PIXELS
#undef PIXEL
#undef T
#undef T_BYTES
#undef VL
#undef PREFIX
#undef TARGET_ATTR
#undef TR
#undef VECTOR_BYTES
#undef LOAD_U8_F64
#undef LOAD_U8_F32
