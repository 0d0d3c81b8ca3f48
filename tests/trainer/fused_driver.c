/* One pass of the training kernel through the functions it exports, for the tests of a build that Python cannot
 * load (test_compilers.py runs the arm64 build under qemu-aarch64, linked statically):
 *
 *     fused_driver INPUT OUTPUT TARGET THREADS
 *
 * runs the pass of TARGET (fused.h's number; -1: the best this CPU runs) on THREADS threads, which claim the
 * chunks through one counter as kernels.py's FusedPass's do. INPUT: 9 int64s (weights' bytes, pixels' bytes, K,
 * KP, n, d, dp, chunk, chunks), then FusedPass's arrays P, scale, centre, residual, WT, b and y_index, each as its
 * size in bytes (int64) and its bytes. OUTPUT: the target that ran (int64), the gradient (KP x dp weights) and
 * the chunks' stats (chunks x STATS x KP float64s). Exit status 0, or 1 with a line on stderr. */
#include <pthread.h>
#include <stdio.h>

#include "fused.h" /* mnist_ova/trainer's: the exported functions, STATS */

enum { ARRAYS = 7, MAX_THREADS = 16 };

static int fail(const char *what) {
    fprintf(stderr, "fused_driver: %s\n", what);
    return 1;
}

/* One thread's share: a pass's (phase 1) or the chunks' sums' (phase 2), as FusedPass's threads call them. */
typedef struct {
    int phase, target, status;
    int64_t header[9];
    void **arrays, *parts, *gradient;
    double *stats;
    int64_t *counter;
} share;

static void *run(void *argument) {
    share *s = argument;
    const int64_t *h = s->header;
    if (s->phase == 1)
        s->status = fused_pass(s->target, (int)h[0], (int)h[1], s->arrays[0], s->arrays[1], s->arrays[2],
                               s->arrays[3], s->arrays[4], s->arrays[5], s->arrays[6], h[2], h[3], h[4], h[5], h[6],
                               s->parts, s->stats, h[7], h[8], s->counter, 3);
    else
        s->status = fused_sum_parts((int)h[0], s->parts, h[8], h[3] * h[6], s->gradient, s->counter);
    return NULL;
}

/* `phase` on `threads` threads (this one included); 0, or 1 where one failed. */
static int on_threads(share *shares, int threads, int phase, int64_t *counter) {
    pthread_t ids[MAX_THREADS];
    *counter = 0;
    for (int t = 0; t < threads; t++) shares[t].phase = phase;
    for (int t = 1; t < threads; t++)
        if (pthread_create(&ids[t], NULL, run, &shares[t])) return 1;
    run(&shares[0]);
    int failed = shares[0].status != 0;
    for (int t = 1; t < threads; t++) {
        pthread_join(ids[t], NULL);
        failed |= shares[t].status != 0;
    }
    return failed;
}

int main(int argc, char **argv) {
    if (argc != 5) return fail("usage: fused_driver INPUT OUTPUT TARGET THREADS");
    const int asked = atoi(argv[3]), threads = atoi(argv[4]);
    if (threads < 1 || threads > MAX_THREADS) return fail("THREADS must be 1 to 16");
    FILE *input = fopen(argv[1], "rb");
    if (!input) return fail("cannot open the input");
    int64_t header[9];
    if (fread(header, sizeof header, 1, input) != 1) return fail("short header");
    const int64_t weights_bytes = header[0], KP = header[3], dp = header[6], chunks = header[8];
    void *arrays[ARRAYS];
    for (int a = 0; a < ARRAYS; a++) {
        int64_t bytes;
        if (fread(&bytes, sizeof bytes, 1, input) != 1 || !(arrays[a] = malloc((size_t)bytes + 1)) ||
            fread(arrays[a], 1, (size_t)bytes, input) != (size_t)bytes)
            return fail("short array");
    }
    fclose(input);
    const size_t gradient_bytes = (size_t)(KP * dp * weights_bytes), stats_bytes = (size_t)(chunks * STATS * KP) * 8;
    void *parts = malloc((size_t)chunks * gradient_bytes), *gradient = malloc(gradient_bytes);
    double *stats = malloc(stats_bytes);
    int64_t counter = 0;
    const int64_t target = asked < 0 ? fused_best_target() : asked;
    if (!parts || !gradient || !stats) return fail("out of memory");
    share shares[MAX_THREADS];
    for (int t = 0; t < threads; t++) {
        shares[t] = (share){0, (int)target, 0, {0}, arrays, parts, gradient, stats, &counter};
        memcpy(shares[t].header, header, sizeof header);
    }
    if (on_threads(shares, threads, 1, &counter)) return fail("the pass failed");
    if (on_threads(shares, threads, 2, &counter)) return fail("the sums failed");
    FILE *output = fopen(argv[2], "wb");
    if (!output || fwrite(&target, sizeof target, 1, output) != 1 ||
        fwrite(gradient, 1, gradient_bytes, output) != gradient_bytes ||
        fwrite(stats, 1, stats_bytes, output) != stats_bytes || fclose(output))
        return fail("cannot write the output");
    return 0;
}
