/* One pass over the training rows (trainer/kernels.py says what it computes and why it is built so).
 * fused_weights.h includes this file once per (target, weights' type, pixel type), with these macros defined:
 *   NAME         the pass's function name
 *   T, T_BYTES   the weights' type, float or double, and its size
 *   PIXEL        the pixels' type: uint8_t (raw images) or T
 *   LOAD_PIXELS  VL pixels from a pointer as a vector of T, plus PIXEL_BIAS (a whole number, so that the
 *                sum is exact: a target may widen bytes into a float's mantissa and skip the conversion), or
 *                nothing where the register tiles cannot convert pixels as they load them (the compiler's
 *                default target: SSE2 has no vector widening of bytes)
 *   PIXEL_BIAS   that number (0 where LOAD_PIXELS converts)
 *   VL           lanes of a vector of T (vectors of VL * sizeof(T) bytes)
 *   LOGITS_ROWS x LOGITS_MODELS  the logits' register tile (rows a divisor of ROWS)
 *   GRADIENT_ROWS x GRADIENT_VECTORS x GRADIENT_MODELS  the gradient's: the rows (a divisor of ROWS) summed
 *                between a load and a store of dW, the vectors of columns, the models. Each tile's sums and
 *                operands must fit the target's vector registers; a tile's shape does not change the result
 *                (each sum's terms are added in the same order)
 *   MODELS_MULTIPLE  the models are padded to a multiple of this, of both tiles' models
 *   TARGET_ATTR  the functions' target attribute (empty for the compiler's default target)
 *   WITH_SERIES  defined for the one inclusion per weights' type that also makes the score's series (NAME_series)
 * The helpers' names get NAME's prefix, so the file can be included many times in one unit.
 */
#define FN(f) XCAT(NAME, _##f)
#define V FN(vector)
#define HELPER INLINE TARGET_ATTR

/* BITS: the integers of T's size (for its bits, and for the lanes' masks of vectors of T) */
#if T_BYTES == 8
#define BITS int64_t
#else
#define BITS int32_t
#endif

/* SPLAT(x): a vector of x in every lane */
#if FUSED_VECTORS
typedef T V __attribute__((vector_size(VL * sizeof(T))));
typedef BITS FN(mask) __attribute__((vector_size(VL * sizeof(T))));
#define SPLAT(x) ((V){0} + (x))
#else
typedef T V;
#define SPLAT(x) ((T)(x))
#endif

HELPER V FN(load)(const T *p) {
    V v;
    memcpy(&v, p, sizeof v);  /* unaligned: the rows of the weights need not be */
    return v;
}

HELPER void FN(store)(T *p, V v) { memcpy(p, &v, sizeof v); }

/* Sums of VL vectors at once: lane i of the result is the sum of v[i]'s lanes. Each level adds the halves of
 * the groups of two vectors (groups of `g` lanes, `G` of them from each) into one vector of groups half as
 * wide: log2(VL) levels of two shuffles and one addition per pair, against VL - 1 additions per vector
 * one by one. The order is fixed, so the result is the same on every run. */
#define HALF_SOURCE(l, G, g, off) \
    ((((l) / ((g) / 2)) < (G) ? 0 : VL) + (((l) / ((g) / 2)) % (G)) * (g) + ((l) % ((g) / 2)) + (off))
#define S_(l) HALF_SOURCE(l, G_, g_, off_)
#if VL == 16
#define SOURCES \
    S_(0), S_(1), S_(2), S_(3), S_(4), S_(5), S_(6), S_(7), S_(8), S_(9), S_(10), S_(11), S_(12), S_(13), S_(14), S_(15)
#elif VL == 8
#define SOURCES S_(0), S_(1), S_(2), S_(3), S_(4), S_(5), S_(6), S_(7)
#elif VL == 4
#define SOURCES S_(0), S_(1), S_(2), S_(3)
#elif VL == 2
#define SOURCES S_(0), S_(1)
#endif
#define LEVEL(G, g)                                                                               \
    for (int i = 0; i < VL / (2 * (G)); i++) {                                                    \
        enum { G_ = (G), g_ = (g), off_ = 0 };                                                    \
        const V lo = SHUFFLE(FN(mask), v[2 * i], v[2 * i + 1], SOURCES);                          \
        {                                                                                         \
            enum { off_ = (g) / 2 };                                                              \
            v[i] = lo + SHUFFLE(FN(mask), v[2 * i], v[2 * i + 1], SOURCES);                       \
        }                                                                                         \
    }
HELPER V FN(lane_sums)(V *v) {
#if VL == 16
    LEVEL(1, 16) LEVEL(2, 8) LEVEL(4, 4) LEVEL(8, 2)
#elif VL == 8
    LEVEL(1, 8) LEVEL(2, 4) LEVEL(4, 2)
#elif VL == 4
    LEVEL(1, 4) LEVEL(2, 2)
#elif VL == 2
    LEVEL(1, 2)
#endif
    return v[0];
}
#undef LEVEL
#undef SOURCES
#undef S_
#undef HALF_SOURCE

/* What the register tiles read: the raw pixels, converted and centred as they are loaded (LOAD_PIXELS: on Zen 4
 * that runs beside the multiply-adds at no measured cost, where making and storing a tile of float features
 * cost a tenth of the step), or, on targets that cannot widen bytes in vectors, the pixels minus their centre
 * made in T by a loop of their own (copy_tile). CENTRED(p, c) is the vector at p minus the centre's vector c,
 * which CENTRE(c) makes from the row's whole centre (plus the pixels' bias: exact, as both are whole numbers
 * far below 2^24). */
#ifdef LOAD_PIXELS
typedef PIXEL FN(source);
#define CENTRED(p, c) ((V)LOAD_PIXELS(p) - (c))
#define CENTRE(c) SPLAT((c) + (T)PIXEL_BIAS)
#else
typedef T FN(source);
#define CENTRED(p, c) ((void)(c), FN(load)(p))
#define CENTRE(c) SPLAT(c)
#endif
/* IN_REGISTER(v): v is loaded once, into a register, where a target defines it so: GCC otherwise folds the load of
 * the weights into each row's multiply-add, loading them LR times (AVX2's logits 15 % slower, measured). */
#ifndef IN_REGISTER
#define IN_REGISTER(v) ((void)0)
#endif
#if ROWS % LOGITS_ROWS || ROWS % GRADIENT_ROWS || MODELS_MULTIPLE % LOGITS_MODELS || MODELS_MULTIPLE % GRADIENT_MODELS
#error "a register tile's rows must divide ROWS, and its models MODELS_MULTIPLE"
#endif
#define SOURCE FN(source)

/* A tile's rows as the register tiles read them: value j of row r at rows[r * stride + j], `columns` of them
 * (a multiple of VL), and per row the scale, the whole centre and the residual. The row's features are
 * scale * (pixel - centre) + residual: a pixel minus a whole number is exact, so the logits are
 * scale * (W . (p - centre)) + residual * (the sum of W) and the gradient
 * (G * scale) (p - centre) + (G * residual) per column, with no float features made or stored. */
typedef struct {
    const SOURCE *rows;
    int64_t stride, columns;
    const T *scale, *centre, *residual;
} FN(tile);

/* The ROWS rows from row i (m of them) copied into `buffer` (ROWS x dp) with their scale, centre and residual
 * (into `own`, 3 x ROWS), for a tile that cannot be read in place: the data's last rows (the rows from m on are
 * zero, with zero scale and residual: their features are 0), rows whose length is not a multiple of VL, and
 * targets that cannot convert bytes in vectors (which copy the pixels minus the centre). The padding columns
 * meet the weights' zero padding, and their gradient is not read. */
HELPER FN(tile) FN(copy_tile)(const PIXEL *P, int64_t i, int64_t m, int64_t d, int64_t dp, const T *scale,
                              const T *centre, const T *residual, SOURCE *buffer, T *own) {
    for (int64_t r = 0; r < ROWS; r++) {
        const int row = r < m;
        own[r] = row ? scale[i + r] : 0;
        own[ROWS + r] = row ? centre[i + r] : 0;
        own[2 * ROWS + r] = row ? residual[i + r] : 0;
        SOURCE *dst = buffer + r * dp;
        const int64_t filled = row ? d : 0;
        const PIXEL *src = P + (i + r) * d;
#ifdef LOAD_PIXELS
        SIMD_LOOP
        for (int64_t j = 0; j < filled; j++) dst[j] = src[j];
#else
        const T c = own[ROWS + r];
        SIMD_LOOP
        for (int64_t j = 0; j < filled; j++) dst[j] = (T)src[j] - c;
#endif
        for (int64_t j = filled; j < dp; j++) dst[j] = 0;
    }
    return (FN(tile)){buffer, dp, dp, own, own + ROWS, own + 2 * ROWS};
}

/* sums[(k + q) * ROWS + r0 + r] = the vector of partial sums of WT[k + q] . (row r0 + r - its centre), for
 * q < LM and r < LR: LR x LM sums in registers, so each load of a row serves LM models and each load of weights
 * LR rows (one model per load makes the pass load-bound); lane_sums adds each vector's lanes once the tile's
 * are all there. The operands held across the tile's inner loop are the rows' vectors where they are fewer
 * than the models' (else the weights'): fewer registers. */
#define LR LOGITS_ROWS
#define LM LOGITS_MODELS
HELPER void FN(logits)(FN(tile) tile, int r0, const T *WT, int64_t k, V *sums, int64_t dp) {
    V acc[LR][LM], centre[LR];
    for (int r = 0; r < LR; r++) {
        centre[r] = CENTRE(tile.centre[r0 + r]);
        for (int q = 0; q < LM; q++) acc[r][q] = SPLAT(0);
    }
    for (int64_t j = 0; j < tile.columns; j += VL) {
#if LR <= LM
        V x[LR];
        for (int r = 0; r < LR; r++) x[r] = CENTRED(tile.rows + (r0 + r) * tile.stride + j, centre[r]);
        for (int q = 0; q < LM; q++) {
            V w = FN(load)(WT + (k + q) * dp + j);
            IN_REGISTER(w);
            for (int r = 0; r < LR; r++) acc[r][q] += x[r] * w;
        }
#else
        V w[LM];
        for (int q = 0; q < LM; q++) w[q] = FN(load)(WT + (k + q) * dp + j);
        for (int r = 0; r < LR; r++) {
            const V x = CENTRED(tile.rows + (r0 + r) * tile.stride + j, centre[r]);
            for (int q = 0; q < LM; q++) acc[r][q] += x * w[q];
        }
#endif
    }
    for (int r = 0; r < LR; r++)
        for (int q = 0; q < LM; q++) sums[(k + q) * ROWS + r0 + r] = acc[r][q];
}
#undef LR
#undef LM

/* dW[k:k+GM] += (G * scale)[k:k+GM, r0:r0+GR] @ (rows r0 to r0 + GR - 1 minus their centres), GV vectors of
 * columns at a time: each vector of dW loaded and stored once per GR rows (with GR = ROWS once per tile, as a
 * GEMM's C += A^T B holds its tile over the reduction), each row's vectors serving GM models and each factor GV
 * vectors. The sums take the rows' terms in their order whatever the tile: the same result. Held across the
 * rows: the rows' vectors where they are fewer than the models' sums, else the sums. The factors and centres
 * are made into vectors once (`factor`, `centre`): held in registers where they fit, else loaded as they are
 * (a scalar made into a vector in the loop cost a shuffle and, as SPLAT adds 0, an addition). `vectors` (GV, or
 * 1 for the columns' last vectors) is a constant where it is inlined. */
#define GR GRADIENT_ROWS
#define GV GRADIENT_VECTORS
#define GM GRADIENT_MODELS
HELPER void FN(gradient_columns)(FN(tile) tile, int r0, const V (*factor)[GM], const V *centre, int64_t j,
                                 int vectors, T *dW, int64_t dp) {
#if GR <= GM
    V x[GR][GV];
    for (int r = 0; r < GR; r++)
        for (int v = 0; v < vectors; v++)
            x[r][v] = CENTRED(tile.rows + (r0 + r) * tile.stride + j + v * VL, centre[r]);
    for (int q = 0; q < GM; q++)
        for (int v = 0; v < vectors; v++) {
            T *at = dW + q * dp + j + v * VL;
            V sum = FN(load)(at);
            for (int r = 0; r < GR; r++) sum += factor[r][q] * x[r][v];
            FN(store)(at, sum);
        }
#else
    V sum[GV][GM];
    for (int v = 0; v < vectors; v++)
        for (int q = 0; q < GM; q++) sum[v][q] = FN(load)(dW + q * dp + j + v * VL);
    UNROLL_16
    for (int r = 0; r < GR; r++) {
        V c = centre[r], x[GV];
        IN_REGISTER(c);
        for (int v = 0; v < vectors; v++) x[v] = CENTRED(tile.rows + (r0 + r) * tile.stride + j + v * VL, c);
        for (int q = 0; q < GM; q++) {
            V f = factor[r][q];
            IN_REGISTER(f);
            for (int v = 0; v < vectors; v++) sum[v][q] += f * x[v];
        }
    }
    for (int v = 0; v < vectors; v++)
        for (int q = 0; q < GM; q++) FN(store)(dW + q * dp + j + v * VL, sum[v][q]);
#endif
}

HELPER void FN(gradient)(FN(tile) tile, int r0, const T *G, int64_t k, T *dW, int64_t dp) {
    V factor[GR][GM], centre[GR];
    for (int r = 0; r < GR; r++) {
        centre[r] = CENTRE(tile.centre[r0 + r]);
        for (int q = 0; q < GM; q++) factor[r][q] = SPLAT(G[(k + q) * ROWS + r0 + r] * tile.scale[r0 + r]);
    }
    int64_t j = 0;
    for (; j + GV * VL <= tile.columns; j += GV * VL)
        FN(gradient_columns)(tile, r0, (const V (*)[GM])factor, centre, j, GV, dW + k * dp, dp);
    for (; GV > 1 && j < tile.columns; j += VL)  /* (with GV = 1 none are left: no code for them) */
        FN(gradient_columns)(tile, r0, (const V (*)[GM])factor, centre, j, 1, dW + k * dp, dp);
}
#undef GR
#undef GV
#undef GM

/* Start loading into L2 the rows that register-tile call `call` of the tile at row `tile` asks for: its share
 * of the tile AHEAD rows on (spread over the calls: asking for a whole tile at once gained nothing). */
HELPER void FN(prefetch_share)(const PIXEL *P, int64_t tile, int64_t call, int64_t per_call, int64_t n, int64_t d) {
    const int64_t first = tile + AHEAD + call * per_call;
    int64_t stop = first + per_call;
    if (stop > tile + AHEAD + ROWS) stop = tile + AHEAD + ROWS;
    if (stop > n) stop = n;
    for (int64_t index = first * d; index < stop * d; index += 64 / (int64_t)sizeof(PIXEL))
        PREFETCH_L2(P + index);
}

/* The score in the weights' type: float64 for float64 weights; float32 ones are scored in float32, twice the
 * lanes a vector (their gradient's errors stay at float32's rounding). */
/* SHIFTER is 1.5 * 2^MANTISSA (in decimal, for MSVC's C): adding it rounds to an integer, held in the low bits */
#if T_BYTES == 8
#define SHIFTER 6755399441055744.0
#define MANTISSA 52
#define BIAS 1023
#define EXP_CAP 708.0       /* exp(-708) ~ 1e-308, the smallest normal double's order */
#define LN2_HI_T LN2_HI     /* log(2) in two parts, the first with few bits: n * LN2_HI_T is exact */
#define LN2_LO_T LN2_LO
#else
#define SHIFTER 12582912.0f
#define MANTISSA 23
#define BIAS 127
#define EXP_CAP 87.0f       /* exp(-87) ~ 1.6e-38, above the smallest normal float */
#define LN2_HI_T 0.693359375f  /* Cephes' split */
#define LN2_LO_T -2.12194440e-4f
#endif

/* exp(-t) for t >= 0 to about 1 ulp: 2^-n exp(r), |r| <= log(2)/2, n rounded by adding SHIFTER. IEEE order is
 * kept (the range reduction depends on it); t is capped where exp(-t) is the smallest normal's order. */
HELPER T FN(exp_minus)(T t) {
    t = t < EXP_CAP ? t : EXP_CAP;
    const T shifted = t * (T)1.4426950408889634 + SHIFTER;
    const T n = shifted - SHIFTER;
    const T r = (n * LN2_HI_T - t) + n * LN2_LO_T;
    T p = (T)EXP_C[EXP_TERMS(T) - 1];
    UNROLL_16
    for (int term = EXP_TERMS(T) - 2; term >= 0; term--) p = p * r + (T)EXP_C[term];
    BITS bits;
    memcpy(&bits, &shifted, sizeof bits);
    BITS low;  /* the bits of SHIFTER itself: n is what `shifted` has above them */
    const T shifter = SHIFTER;
    memcpy(&low, &shifter, sizeof low);
    bits = (BIAS - (bits - low)) << MANTISSA;  /* 2^-n */
    T power;
    memcpy(&power, &bits, sizeof power);
    return p * power;
}

/* log(1 + e) for 0 <= e <= 1: 2 atanh(s) with s = e / (2 + e), accurate for tiny e too. */
HELPER T FN(log1p_unit)(T e) {
    const T s = e / (2 + e), s2 = s * s;
    T p = (T)LOG1P_C[LOG1P_TERMS(T) - 1];
    UNROLL_16
    for (int term = LOG1P_TERMS(T) - 2; term >= 0; term--) p = p * s2 + (T)LOG1P_C[term];
    return 2 * s * p;
}

/* Gradient factors G = a - y of a tile's logits z (models x rows, the first `count` = K x ROWS of them), and
 * per model and row lane the sums of G, of the cost -y log(a) - (1 - y) log(1 - a) and of the binary models'
 * wrong predictions (float64; `stride` apart). `target` holds y (1 where the row's class is the model's) and
 * `valid` 1 for the tile's rows that exist (0 for those after the data's last row): one loop over all models
 * and rows, branch-free, so that it is a few long vectors. */
HELPER void FN(score)(const T *z, const T *target, const T *valid, int64_t count, int64_t stride, T *G,
                      double *lanes) {
    SIMD_LOOP
    for (int64_t q = 0; q < count; q++) {
        const T zk = z[q], y = target[q], v = valid[q];
        const T e = FN(exp_minus)(zk < 0 ? -zk : zk);
        const T inverse = 1 / (1 + e);
        const T a = zk >= 0 ? inverse : e * inverse;
        const T g = (a - y) * v;
        /* The cost without log(0): max(z, 0) - z y + log(1 + e^-|z|). */
        const T cost = ((zk > 0 ? zk : 0) - zk * y + FN(log1p_unit)(e)) * v;
        const T predicted = a > (T)0.5 ? 1 : 0;  /* y is 0 or 1 (selects of constants: GCC vectorises them) */
        const T wrong = (predicted - y) * (predicted - y) * v;
        G[q] = g;
        lanes[q] += (double)g;
        lanes[stride + q] += (double)cost;
        lanes[2 * stride + q] += (double)wrong;
    }
}

/* Per row lane, the rows (of the first m) whose first largest logit (numpy's argmax) is their class's. With
 * vectors: the tile's ROWS rows as one vector per model, compared and selected in turn (row by row it cost a
 * tenth of the step, measured; as a loop over an array of rows GCC makes it branches). */
#if FUSED_VECTORS
typedef BITS FN(row_mask) __attribute__((vector_size(ROWS * sizeof(T))));
typedef T FN(row_vector) __attribute__((vector_size(ROWS * sizeof(T))));
HELPER void FN(right)(const T *z, const int64_t *y, int64_t m, int64_t K, double *lane) {
    typedef FN(row_vector) RV;
    typedef FN(row_mask) RM;
    RV best, model = (RV){0};
    memcpy(&best, z, sizeof best);
    for (int64_t k = 1; k < K; k++) {
        RV logits;
        memcpy(&logits, z + k * ROWS, sizeof logits);
        const RM better = logits > best;  /* all ones where a later model is strictly larger */
        best = (RV)((better & (RM)logits) | (~better & (RM)best));
        model = (RV)((better & (RM)((RV){0} + (T)k)) | (~better & (RM)model));
    }
    for (int64_t r = 0; r < m; r++) lane[r] += model[r] == (T)y[r] ? 1.0 : 0.0;
}
#else
HELPER void FN(right)(const T *z, const int64_t *y, int64_t m, int64_t K, double *lane) {
    for (int64_t r = 0; r < m; r++) {
        int64_t model = 0;
        for (int64_t k = 1; k < K; k++)
            if (z[k * ROWS + r] > z[model * ROWS + r]) model = k;
        lane[r] += model == y[r] ? 1.0 : 0.0;
    }
}
#endif
#undef SHIFTER
#undef MANTISSA
#undef BIAS
#undef EXP_CAP
#undef LN2_HI_T
#undef LN2_LO_T

#ifdef WITH_SERIES
/* exp(-t[i]) and log(1 + exp(-t[i])) as the score computes them, in T (for the tests: fused.c's fused_series). */
static NOINLINE TARGET_ATTR void FN(series)(const double *t, double *exp_minus, double *log1p, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const T e = FN(exp_minus)((T)t[i]);
        exp_minus[i] = e;
        log1p[i] = FN(log1p_unit)(e);
    }
}
#endif

/* Claim chunks of `chunk` rows until none is left; each chunk's sums go to its own part (dWT_parts[c],
 * stats_parts[c]), added in order by the caller, so the result does not depend on the threads. Only the first
 * `phases` of logits, score, gradient run (all three in training). The scratch: buffer (ROWS x dp), z (KP x ROWS
 * up to a multiple of VL), G (KP x ROWS, zero), lanes (STATS x KP x ROWS), sums (the logits' vectors of partial
 * sums, KP x ROWS of them and zero ones up to a multiple of VL; 64-byte aligned), targets and valid (KP x ROWS
 * each, targets zero and valid one), bias_lanes and weight_lanes (KP x ROWS, zero after that up to a multiple of
 * VL) and corrections (KP). */
static NOINLINE TARGET_ATTR void NAME(const pass_job *job, const pass_scratch *scratch) {
    const PIXEL *P = job->P;
    const T *scale = job->scale, *centre = job->centre, *residual = job->residual, *WT = job->WT, *b = job->b;
    const int64_t *y_index = job->y_index;
    const int64_t K = job->K, KP = job->KP, n = job->n, d = job->d, dp = job->dp, chunk = job->chunk,
                  chunks = job->chunks, phases = job->phases;
    T *dWT_parts = job->dWT_parts;
    int64_t *counter = job->counter;
    SOURCE *buffer = scratch->buffer;
    T *z = scratch->z, *G = scratch->G, *sums = scratch->sums, *target = scratch->targets, *valid = scratch->valid,
      *bias_lanes = scratch->bias_lanes, *weight_lanes = scratch->weight_lanes;
    double *lanes = scratch->lanes, *corrections = scratch->corrections, *stats_parts = job->stats_parts;
    /* register-tile calls per tile, both phases */
    const int64_t calls = ROWS / LOGITS_ROWS * (KP / LOGITS_MODELS) + ROWS / GRADIENT_ROWS * (KP / GRADIENT_MODELS);
    const int64_t per_call = (ROWS + calls - 1) / calls;    /* rows each prefetches */
    T own[3 * ROWS];                                        /* a copied tile's scale, centre and residual */
    /* z's lanes go model by model, ROWS rows each: per lane its model's bias and the sum of its weights (for the
     * residual's share), and the rows' scales and residuals repeated to fill a vector, for z a vector at a time */
    enum { PATTERN = VL > ROWS ? VL : ROWS };
    T row_scale[PATTERN], row_residual[PATTERN];
    for (int64_t k = 0; k < KP; k++) {
        double total = 0.0;
        for (int64_t j = 0; j < d; j++) total += WT[k * dp + j];
        for (int r = 0; r < ROWS; r++) {
            bias_lanes[k * ROWS + r] = b[k];
            weight_lanes[k * ROWS + r] = (T)total;
        }
    }
    for (;;) {
        const int64_t c = ATOMIC_FETCH_ADD(counter, 1);
        if (c >= chunks) break;
        T *dW = dWT_parts + c * KP * dp;
        memset(dW, 0, (size_t)(KP * dp) * sizeof(T));
        memset(lanes, 0, (size_t)(STATS * KP * ROWS) * sizeof(double));
        memset(corrections, 0, (size_t)KP * sizeof(double));
        const int64_t start = c * chunk, stop = start + chunk < n ? start + chunk : n;
        for (int64_t i = start; i < stop; i += ROWS) {
            const int64_t m = stop - i < ROWS ? stop - i : ROWS;
            int64_t call = 0;
#ifdef LOAD_PIXELS
            const FN(tile) tile = m == ROWS && d % VL == 0
                                      ? (FN(tile)){P + i * d, d, d, scale + i, centre + i, residual + i}
                                      : FN(copy_tile)(P, i, m, d, dp, scale, centre, residual, buffer, own);
#else
            const FN(tile) tile = FN(copy_tile)(P, i, m, d, dp, scale, centre, residual, buffer, own);
#endif
            for (int64_t k = 0; k < KP; k += LOGITS_MODELS)
                for (int r0 = 0; r0 < ROWS; r0 += LOGITS_ROWS) {
                    FN(prefetch_share)(P, i, call++, per_call, n, d);
                    FN(logits)(tile, r0, WT, k, (V *)sums, dp);
                }
            for (int l = 0; l < PATTERN; l++) {
                row_scale[l] = tile.scale[l % ROWS];
                row_residual[l] = tile.residual[l % ROWS];
            }
            for (int64_t first = 0; first < KP * ROWS; first += VL) {  /* z from the sums' lanes, VL at a time */
                const V total = FN(lane_sums)((V *)sums + first);
                FN(store)(z + first, FN(load)(bias_lanes + first) + FN(load)(row_scale + first % ROWS) * total +
                                         FN(load)(row_residual + first % ROWS) * FN(load)(weight_lanes + first));
            }
            if (phases >= 2) {
                for (int64_t r = 0; r < m; r++) target[y_index[i + r] * ROWS + r] = 1;
                if (m < ROWS)
                    for (int64_t k = 0; k < K; k++)
                        for (int64_t r = m; r < ROWS; r++) valid[k * ROWS + r] = 0;
                FN(score)(z, target, valid, K * ROWS, KP * ROWS, G, lanes);
                FN(right)(z, y_index + i, m, K, lanes + 3 * KP * ROWS);
                for (int64_t r = 0; r < m; r++) target[y_index[i + r] * ROWS + r] = 0;
                if (m < ROWS)
                    for (int64_t q = 0; q < KP * ROWS; q++) valid[q] = 1;
            }
            if (phases < 3) continue;
            for (int64_t k = 0; k < KP; k += GRADIENT_MODELS)
                for (int r0 = 0; r0 < ROWS; r0 += GRADIENT_ROWS) {
                    FN(prefetch_share)(P, i, call++, per_call, n, d);
                    FN(gradient)(tile, r0, G, k, dW, dp);
                }
            for (int64_t k = 0; k < K; k++)  /* the residuals' share of the gradient, per model */
                for (int r = 0; r < ROWS; r++) corrections[k] += (double)G[k * ROWS + r] * (double)tile.residual[r];
        }
        if (phases >= 3)
            for (int64_t k = 0; k < K; k++) {
                const T correction = (T)corrections[k];
                for (int64_t j = 0; j < d; j++) dW[k * dp + j] += correction;
            }
        double *stats = stats_parts + c * STATS * KP;
        for (int s = 0; s < STATS; s++)
            for (int64_t k = 0; k < KP; k++) {
                double total = 0.0;
                for (int r = 0; r < ROWS; r++) total += lanes[(s * KP + k) * ROWS + r];
                stats[s * KP + k] = total;
            }
    }
}

#undef CENTRED
#undef CENTRE
#undef SOURCE
#undef FN
#undef V
#undef HELPER
#undef BITS
#undef SPLAT
