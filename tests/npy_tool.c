/* npy_tool.c — a small inspector for float32 .npy files, used by tests/test_cli.sh so the CLI
 * tests need no Python. Reads through src/io/npy.c's validating reader.
 *
 *   npy_tool shape FILE          print "ROWS COLS"
 *   npy_tool maxdiff FILE I J    print the max |row I - row J| (rows counted from 0)
 *   npy_tool norms FILE          print "MIN MAX" of the rows' L2 norms ("0 0" when no rows)
 *   npy_tool finite FILE         exit 0 when every value is finite
 *
 * Exit status: 0 ok, 1 the file is unreadable / invalid / an index is out of range, 2 usage.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npy.h"

static int parse_index(const char *s, unsigned long long *out) {
    char *end;
    if (!*s) return 0;
    *out = strtoull(s, &end, 10);
    return *end == '\0' && s[0] != '-';
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: npy_tool shape|maxdiff|norms|finite FILE [I J]\n");
        return 2;
    }
    const char *cmd = argv[1];
    float *d = NULL;
    lb_npy_info info;
    labse_error err;
    if (lb_npy_read_f32(argv[2], &d, &info, &err) != LABSE_OK) {
        fprintf(stderr, "npy_tool: %s\n", err.message);
        return 1;
    }
    int rc = 0;
    size_t R = (size_t)info.rows, C = (size_t)info.cols;
    if (strcmp(cmd, "shape") == 0) {
        printf("%zu %zu\n", R, C);
    } else if (strcmp(cmd, "maxdiff") == 0 && argc == 5) {
        unsigned long long i, j;
        if (!parse_index(argv[3], &i) || !parse_index(argv[4], &j) || i >= R || j >= R) {
            fprintf(stderr, "npy_tool: row index out of range (rows: %zu)\n", R);
            rc = 1;
        } else {
            double m = 0;
            for (size_t k = 0; k < C; k++) {
                double x = fabs((double)d[i * C + k] - (double)d[j * C + k]);
                if (!(x <= m)) m = x; /* NaN propagates as "different" */
            }
            printf("%.9g\n", m);
        }
    } else if (strcmp(cmd, "norms") == 0) {
        double lo = R ? INFINITY : 0, hi = 0;
        for (size_t r = 0; r < R; r++) {
            double s = 0;
            for (size_t k = 0; k < C; k++) s += (double)d[r * C + k] * d[r * C + k];
            s = sqrt(s);
            if (s < lo) lo = s;
            if (s > hi) hi = s;
        }
        printf("%.9g %.9g\n", lo, hi);
    } else if (strcmp(cmd, "finite") == 0) {
        for (size_t k = 0; k < R * C; k++)
            if (!isfinite(d[k])) {
                fprintf(stderr, "npy_tool: non-finite value at row %zu\n", k / C);
                rc = 1;
                break;
            }
    } else {
        fprintf(stderr, "npy_tool: unknown command or wrong arguments\n");
        rc = 2;
    }
    free(d);
    return rc;
}
