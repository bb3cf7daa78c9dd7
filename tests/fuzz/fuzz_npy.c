/* fuzz_npy.c — libFuzzer target: the .npy reader (io/npy.h) as mining, resume and merge meet
 * it: lb_npy_parse_header() on the bytes in memory, then the bytes as a file through
 * lb_npy_read_f32() and the mining matrix reader lb_emb_open() (mine/mine_emb.h, mapped).
 * Checks: a parsed header has data_offset within 10 + its stated length and a 1-D/2-D shape;
 * a read file has exactly data_offset + rows × cols × 4 bytes; an opened matrix has the
 * header's rows and cols, and its rows read back (up to 4096 values, which touches the
 * mapping under ASan). Every failure carries a message.
 * Single-threaded; allocates per call (freed). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "io/npy.h"
#include "mine/mine_emb.h"

#define READ_MAX 4096 /* values read back from an opened matrix per input (time per exec) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    labse_error err = {0};
    lb_npy_info hi;
    int header_ok = lb_npy_parse_header(data, size, "fuzz.npy", &hi, &err) == LABSE_OK;
    if (header_ok) {
        FUZZ_CHECK(hi.ndim == 1 || hi.ndim == 2);
        FUZZ_CHECK(hi.data_offset <= size);
        FUZZ_CHECK(hi.dtype >= LB_NPY_F32 && hi.dtype <= LB_NPY_U8);
    } else {
        FUZZ_CHECK(err.message[0] != '\0');
    }
    const char *path = fuzz_input_file("fuzz.npy", data, size);

    float *m = NULL;
    lb_npy_info ri;
    if (lb_npy_read_f32(path, &m, &ri, &err) == LABSE_OK) {
        FUZZ_CHECK(header_ok && ri.rows == hi.rows && ri.cols == hi.cols);
        FUZZ_CHECK(ri.dtype == LB_NPY_F32);
        FUZZ_CHECK(ri.data_offset + ri.rows * ri.cols * 4 == size);
        free(m);
    } else {
        FUZZ_CHECK(err.message[0] != '\0');
    }

    lb_emb *e = NULL;
    if (lb_emb_open(path, &e, &err) == LABSE_OK) {
        FUZZ_CHECK(header_ok && lb_emb_rows(e) == hi.rows && lb_emb_dim(e) == hi.cols);
        uint64_t rows = lb_emb_rows(e);
        size_t dim = lb_emb_dim(e);
        uint64_t n = dim ? READ_MAX / dim : 0;
        if (n > rows) n = rows;
        if (n > 0) {
            float *out = malloc((size_t)n * dim * sizeof *out);
            FUZZ_CHECK(out != NULL);
            lb_emb_read(e, 0, (size_t)n, out);
            lb_emb_read(e, rows - 1, 1, out); /* the last row: the end of the mapping */
            free(out);
        }
        lb_emb_free(e);
    } else {
        FUZZ_CHECK(err.message[0] != '\0');
    }
    return 0;
}
