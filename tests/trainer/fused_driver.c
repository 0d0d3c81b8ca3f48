/* One pass of the training kernel through the functions it exports, on one thread, for the tests of a build
 * that Python cannot load (test_compilers.py runs the arm64 build under qemu-aarch64, linked statically):
 *
 *     fused_driver INPUT OUTPUT
 *
 * INPUT: 9 int64s (weights' bytes, pixels' bytes, K, KP, n, d, dp, chunk, chunks), then FusedPass's arrays P,
 * scale, centre, residual, WT, b and y_index, each as its size in bytes (int64) and its bytes. OUTPUT: the
 * target that ran (int64), the gradient (KP x dp weights) and the chunks' stats (chunks x STATS x KP float64s).
 * Exit status 0, or 1 with a line on stderr. */
#include <stdio.h>

#include "fused.h" /* mnist_ova/trainer's: the exported functions, STATS */

enum { ARRAYS = 7 };

static int fail(const char *what) {
    fprintf(stderr, "fused_driver: %s\n", what);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) return fail("usage: fused_driver INPUT OUTPUT");
    FILE *input = fopen(argv[1], "rb");
    if (!input) return fail("cannot open the input");
    int64_t header[9];
    if (fread(header, sizeof header, 1, input) != 1) return fail("short header");
    const int64_t weights_bytes = header[0], pixel_bytes = header[1], K = header[2], KP = header[3], n = header[4],
                  d = header[5], dp = header[6], chunk = header[7], chunks = header[8];
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
    const int64_t target = fused_best_target();
    if (!parts || !gradient || !stats ||
        fused_pass((int)target, (int)weights_bytes, (int)pixel_bytes, arrays[0], arrays[1], arrays[2], arrays[3],
                   arrays[4], arrays[5], arrays[6], K, KP, n, d, dp, parts, stats, chunk, chunks, &counter, 3))
        return fail("the pass failed");
    counter = 0;
    if (fused_sum_parts((int)weights_bytes, parts, chunks, KP * dp, gradient, &counter))
        return fail("the sums failed");
    FILE *output = fopen(argv[2], "wb");
    if (!output || fwrite(&target, sizeof target, 1, output) != 1 ||
        fwrite(gradient, 1, gradient_bytes, output) != gradient_bytes ||
        fwrite(stats, 1, stats_bytes, output) != stats_bytes || fclose(output))
        return fail("cannot write the output");
    return 0;
}
