/* The two passes of one target and weights' type (fused_types.h includes this with T, T_BYTES and TYPE_SUFFIX
 * defined, and LOAD_U8 where the target widens bytes to T in vectors): NAME_u8 reads uint8 pixels, NAME_<type>
 * pixels of the weights' type. Where the target cannot widen bytes, its register tiles read copied tiles
 * (fused_pass.h's LOAD_PIXELS). The parameters are undefined at the end, for the next type's. */
#if FUSED_VECTORS
#define VL (VECTOR_BYTES / T_BYTES)
#else
#define VL 1
#endif

#define PIXEL uint8_t
#define NAME XCAT(XCAT(PREFIX, TYPE_SUFFIX), _u8)
#define WITH_SERIES /* the series are the same for both pixel types: made once, with the uint8 pass */
#ifdef LOAD_U8
#define LOAD_PIXELS(p) LOAD_U8(p)
#endif
#ifdef U8_BIAS
#define PIXEL_BIAS U8_BIAS
#else
#define PIXEL_BIAS 0
#endif
#include "fused_pass.h"
#undef NAME
#undef LOAD_PIXELS
#undef PIXEL_BIAS
#undef PIXEL
#undef WITH_SERIES

#define PIXEL T
#define NAME XCAT(XCAT(PREFIX, TYPE_SUFFIX), TYPE_SUFFIX)
#ifdef LOAD_U8
#define LOAD_PIXELS(p) FN(load)(p)
#endif
#define PIXEL_BIAS 0
#include "fused_pass.h"
#undef NAME
#undef LOAD_PIXELS
#undef PIXEL_BIAS
#undef PIXEL

#undef VL
#undef T
#undef T_BYTES
#undef TYPE_SUFFIX
#undef LOAD_U8
#undef U8_BIAS
