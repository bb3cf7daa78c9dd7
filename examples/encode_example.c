/* encode_example.c — the smallest complete use of liblabse, built against an installed tree:
 *
 *   cc encode_example.c $(pkg-config --cflags --libs labse) -o encode_example
 *   ./encode_example MODEL_DIR [SENTENCE...]
 *
 * Loads the model (CPU, default options), encodes the sentences given (or three built-in
 * ones), and prints the dimension and the first values of each row:
 *
 *   dim 768
 *   0 <first 4 values>  Hello, world!
 *
 * Exit status: 0 on success, 1 on any library error (message on stderr), 2 on usage error. */
#include <stdio.h>
#include <stdlib.h>

#include <labse.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL_DIR [SENTENCE...]\n", argv[0]);
        return 2;
    }
    static const char *const builtin[] = {"Hello, world!", "Bonjour le monde !",
                                          "Hallo Welt!"};
    const char *const *texts = argc > 2 ? (const char *const *)(argv + 2) : builtin;
    size_t n = argc > 2 ? (size_t)(argc - 2) : sizeof builtin / sizeof *builtin;

    int rc = 1;
    labse_error err;
    labse_model *m = NULL;
    labse_session *s = NULL;
    float *out = NULL;
    labse_options opt = labse_default_options();
    opt.device = LABSE_DEVICE_CPU;

    if (labse_model_load(argv[1], &opt, &m, &err) != LABSE_OK) {
        fprintf(stderr, "load %s: %s (%s)\n", argv[1], err.message, labse_status_str(err.status));
        goto done;
    }
    if (labse_session_new(m, &s, &err) != LABSE_OK) {
        fprintf(stderr, "session: %s\n", err.message);
        goto done;
    }
    size_t dim = (size_t)labse_model_dim(m);
    out = malloc(n * dim * sizeof *out);
    if (!out) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    if (labse_encode(s, texts, NULL, n, out, &err) != LABSE_OK) {
        fprintf(stderr, "encode: %s\n", err.message);
        goto done;
    }
    printf("dim %zu\n", dim);
    for (size_t i = 0; i < n; i++) {
        printf("%zu", i);
        for (size_t j = 0; j < 4 && j < dim; j++) printf(" %.6f", out[i * dim + j]);
        printf("  %s\n", texts[i]);
    }
    rc = 0;
done:
    free(out);
    labse_session_free(s);
    labse_model_free(m);
    return rc;
}
