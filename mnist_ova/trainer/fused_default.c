/* The compiler's default target's passes, on every architecture (SSE2 on x86-64, NEON on arm64, scalars where
 * the compiler has no vectors): vectors of 16 bytes, copied tiles (fused_pass.h's LOAD_PIXELS). */
#include "fused.h"

#define PREFIX pass_default
#define TABLE passes_default
#define TARGET_ATTR
#define VECTOR_BYTES 16
#define LOGITS_ROWS 2 /* 2 x 5 sums in 16 registers (SSE2's xmm) */
#define LOGITS_MODELS 5
#define GRADIENT_ROWS 2 /* 2 rows x 1 vector x 5 models: all 8 rows x 2 vectors was 13-15 % slower (SSE2: no FMA) */
#define GRADIENT_VECTORS 1
#define GRADIENT_MODELS 5
#define MODELS_MULTIPLE 5
#include "fused_types.h"
