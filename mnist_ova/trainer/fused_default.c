/* The compiler's default target's passes, on every architecture (SSE2 on x86-64, NEON on arm64, scalars where
 * the compiler has no vectors): vectors of 16 bytes, copied tiles (fused_pass.h's LOAD_PIXELS). */
#include "fused.h"

#define PREFIX pass_default
#define TABLE passes_default
#define TARGET_ATTR
#define TR 2
#define VECTOR_BYTES 16
#include "fused_types.h"
