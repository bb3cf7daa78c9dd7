/* encode.c — `labse encode`: lines in, embeddings out (row i = line i), through the streaming
 * pipeline of labse_encode_file (include/labse.h): one .npy, or a folder of parts +
 * manifest.json that a rerun resumes; shards for Slurm arrays and MPI launchers. What is the
 * CLI's own: option parsing, the shard from an MPI launcher's environment, SIGINT/SIGTERM, the
 * progress line and the summary. */
#include "cli.h"

static const char USAGE_ENCODE[] =
    "usage: labse encode --model DIR --input FILE|- --output OUT.npy|DIR/ [options]\n"
    "       labse encode --model DIR --input A --input B ... | --input-list LIST --output DIR/\n"
    "\n"
    "Embed every line of the input; row i of the output is line i. Lines end at '\\n'; a '\\r'\n"
    "before it is dropped; a last line without '\\n' counts; an empty line gets its row;\n"
    "invalid UTF-8 is repaired (and counted); a line over 1 MiB is cut at a space before\n"
    "1 MiB (counted as capped; exact unless that megabyte yields fewer than max-length pieces).\n"
    "A gzip, zstd or xz input (known by its first bytes, also on stdin) is decompressed as it\n"
    "is read; the rows are those of the decompressed text.\n"
    "\n"
    "Output\n"
    "  OUT.npy    one array (lines, dim), written to OUT.npy.tmp.PID, synced and renamed: on\n"
    "             failure or interruption no OUT.npy is left (an older one is kept untouched).\n"
    "  DIR/       (a trailing '/', or an existing folder whose name does not end in .npy):\n"
    "             part-00000.npy, part-00001.npy ... of --part-rows rows and manifest.json,\n"
    "             updated atomically after each part. Rerunning the same command on an\n"
    "             incomplete folder resumes after its last complete part (the input is checked:\n"
    "             size + fingerprint, the bytes under every kept part by their sha256, and\n"
    "             model, dim, format and int8 ranges, part rows, shard); the result is\n"
    "             byte-identical to an uninterrupted run. SIGINT/SIGTERM stop cleanly.\n"
    "\n"
    "  -m, --model DIR         sentence-transformers model folder (required)\n"
    "  -i, --input FILE|-      input text, one sentence per line; '-' = stdin (required);\n"
    "                          given several times: many files (below)\n"
    "      --input-list LIST   many files: LIST names one input a line (blank lines are\n"
    "                          skipped; relative paths from the current folder)\n"
    "  -o, --output OUT        OUT.npy or a folder (required)\n"
    "      --device D          cpu | cuda | cuda:N | cuda:all | auto (default auto: the\n"
    "                          GPU when this build has one and a device is present) | null (no\n"
    "                          encoder, zero rows: the host's feeding rate; benchmarks only)\n"
    "  -t, --threads N         encoder CPU threads, 0 = all cores (default 0)\n"
    "      --tok-threads N     tokenizer threads, 0 = cores - 1, at least 1 (default 0)\n"
    "      --batch-tokens N    token budget of one batch (default 16384)\n"
    "      --max-length N      max tokens per line incl. [CLS]/[SEP] (default: the model's)\n"
    "      --precision P       cpu: fp32 (default) | bf16 | fp8-model (cuda's fp8 maths, for\n"
    "                          accuracy studies); cuda: fp16 (default) | fp8\n"
    "      --window N          lines sorted by length together (default 32768)\n"
    "      --part-rows N       rows per part file in folder mode (default 1000000)\n"
    "      --format F          f32 (default) | f16 | bf16 (float16 / bfloat16, round to\n"
    "                          nearest even; bf16 is stored as '<u2' bits) | int8 (per-\n"
    "                          dimension ranges, see --calibration) | ubinary | binary (sign\n"
    "                          bits, 8 a byte: numpy.packbits(x > 0), binary = ubinary - 128\n"
    "                          as int8); README \"Output formats\". Mining reads f32/f16/bf16\n"
    "      --calibration EMB.npy\n"
    "                          int8: the ranges are the per-dimension min and max of these\n"
    "                          float32/float16 embeddings (as sentence-transformers'\n"
    "                          calibration_embeddings); default: of the first window's rows,\n"
    "                          recorded in a folder's manifest. Required with --shard\n"
    "      --shard K/N|auto    encode shard K (0-based) of N byte ranges cut at line starts,\n"
    "                          into OUT/shard-KKKKK-of-NNNNN/ (folder output only); 'auto' or\n"
    "                          nothing under mpirun: K/N from OMPI_COMM_WORLD_RANK/SIZE or\n"
    "                          PMI_RANK/PMI_SIZE. Join with 'labse merge'.\n"
    "      --tsv-column N      each line is a tab-separated record: encode its column N\n"
    "                          (1-based, as cut -f N)\n"
    "      --jsonl-field NAME  each line is a JSON object: encode its string field NAME\n"
    "                          (dots walk nested objects: meta.text)\n"
    "      --on-bad-record error|empty\n"
    "                          a record without the column/field, or JSON that does not\n"
    "                          parse: stop with an error naming file and line (default),\n"
    "                          or encode it as an empty line and count it\n"
    "      --dedup             encode identical lines (after the rules above) once: every\n"
    "                          duplicate gets a byte-identical copy of the first one's row;\n"
    "                          within a part (--part-rows) and the last 65536 distinct lines\n"
    "      --dedup-table N     --dedup remembering N distinct lines (rows: N x dim x 4 bytes)\n"
    "  -q, --quiet             no progress line, no summary on stderr\n"
    "  -h, --help              this help\n"
    "\n"
    "Many files (--input repeated, or --input-list): the output is a folder (DIR or DIR/;\n"
    "a name ending in .npy is refused). DIR/files.json records the list in order; each\n"
    "input gets DIR/NAME/ (parts + manifest.json, resumed per input), NAME being its path\n"
    "with '/' as \"__\" and other bytes than A-Za-z0-9._+- (and a leading '.') as '_'; two\n"
    "inputs with one NAME are refused. --shard K/N deals whole inputs to the N tasks with\n"
    "balanced bytes (the same plan in every task); an input bigger than total/N bytes is\n"
    "cut into byte ranges DIR/NAME/shard-JJJJJ-of-MMMMM/.\n"
    "Join: labse merge --npy OUT.npy DIR (rows in list order; refused unless every input is\n"
    "complete); labse mine --src-emb DIR reads it as it is.\n"
    "\n"
    "Exit status: 0 done (or already complete), 1 failure, 2 usage error, 130/143 stopped by\n"
    "SIGINT/SIGTERM (a folder output is left consistent and resumable).\n";

enum {
    OPT_TOK_THREADS = 512,
    OPT_WINDOW,
    OPT_PART_ROWS,
    OPT_FORMAT,
    OPT_SHARD,
    OPT_TSV_COLUMN,
    OPT_JSONL_FIELD,
    OPT_ON_BAD_RECORD,
    OPT_CALIBRATION,
    OPT_INPUT_LIST,
    OPT_DEDUP,
    OPT_DEDUP_TABLE
};

/* --format's names and the summary's, by labse_dtype value. */
static const char *const k_formats[][2] = {{"f32", "float32"}, {"f16", "float16"},
                                           {"bf16", "bfloat16"}, {"int8", "int8"},
                                           {"ubinary", "ubinary"}, {"binary", "binary"}};

/* The labse_dtype value of a --format name (short or long), or -1. */
static int format_index(const char *s) {
    for (int i = 0; i < (int)(sizeof k_formats / sizeof k_formats[0]); i++)
        if (strcmp(s, k_formats[i][0]) == 0 || strcmp(s, k_formats[i][1]) == 0) return i;
    return -1;
}

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig) { g_stop = sig; }

/* The rank/size of an MPI launcher, from its environment. 1 when found. */
static int mpi_env(int *rank, int *size) {
    static const char *const names[][2] = {{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                                           {"PMI_RANK", "PMI_SIZE"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *r = getenv(names[i][0]), *s = getenv(names[i][1]);
        if (!r || !s) continue;
        char *e1, *e2;
        long rv = strtol(r, &e1, 10), sv = strtol(s, &e2, 10);
        if (*r && *s && !*e1 && !*e2 && sv >= 1 && sv <= 1000000 && rv >= 0 && rv < sv) {
            *rank = (int)rv;
            *size = (int)sv;
            return 1;
        }
    }
    return 0;
}

/* Free what labse_read_input_list handed back. */
static void free_list(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) labse_free(v[i]);
    labse_free(v);
}

static int should_stop(void *user) {
    (void)user;
    return g_stop != 0;
}

/* The progress line (terminal only). */
static void progress_cb(const labse_progress *p, void *user) {
    (void)user;
    double rate_s = p->seconds > 0 ? (double)p->run_lines / p->seconds : 0;
    double rate_t = p->seconds > 0 ? (double)p->tokens / p->seconds : 0;
    char eta[32] = "?";
    if (p->bytes_total && p->bytes_done && p->bytes_done <= p->bytes_total) {
        double left = p->seconds * (double)(p->bytes_total - p->bytes_done) / (double)p->bytes_done;
        long s = (long)left;
        snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    }
    if (p->lines_total)
        fprintf(stderr, "\rlabse: %" PRIu64 "/%" PRIu64 " lines  %.0f tokens/s  %.1f sentences/s  ETA %s   ",
                p->lines_done, p->lines_total, rate_t, rate_s, eta);
    else if (p->bytes_total) /* many files: ETA over the bytes of every input */
        fprintf(stderr, "\rlabse: %" PRIu64 " lines  %.1f%% of the bytes  %.0f tokens/s  %.1f "
                "sentences/s  ETA %s   ",
                p->lines_done, 100.0 * (double)p->bytes_done / (double)p->bytes_total, rate_t,
                rate_s, eta);
    else
        fprintf(stderr, "\rlabse: %" PRIu64 " lines  %.0f tokens/s  %.1f sentences/s   ",
                p->lines_done, rate_t, rate_s);
    fflush(stderr);
}

int cmd_encode(int argc, char **argv) {
    static const struct option own[] = {
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"tok-threads", required_argument, NULL, OPT_TOK_THREADS},
        {"window", required_argument, NULL, OPT_WINDOW},
        {"part-rows", required_argument, NULL, OPT_PART_ROWS},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"shard", required_argument, NULL, OPT_SHARD},
        {"tsv-column", required_argument, NULL, OPT_TSV_COLUMN},
        {"jsonl-field", required_argument, NULL, OPT_JSONL_FIELD},
        {"on-bad-record", required_argument, NULL, OPT_ON_BAD_RECORD},
        {"calibration", required_argument, NULL, OPT_CALIBRATION},
        {"input-list", required_argument, NULL, OPT_INPUT_LIST},
        {"dedup", no_argument, NULL, OPT_DEDUP},
        {"dedup-table", required_argument, NULL, OPT_DEDUP_TABLE},
        {NULL, 0, NULL, 0},
    };
    cli_getopt g;
    cli_getopt_build(&g, CLI_OPT_MODEL_ALL | CLI_OPT_QUIET | CLI_OPT_HELP, own, "i:o:");
    model_args ma = {NULL, labse_default_options()};
    labse_file_options fo = labse_default_file_options();
    const char *input = NULL, *output = NULL, *shard = NULL, *input_list = NULL;
    /* many files (issue 12 §2): every --input, in order (argv strings; at most argc) */
    const char *inputs[argc > 0 ? argc : 1];
    size_t n_inputs = 0;
    int quiet = 0, c;
    int64_t v;
    while ((c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
        int r = model_option(c, optarg, &ma);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        switch (c) {
        case 'i': input = inputs[n_inputs++] = optarg; break;
        case OPT_INPUT_LIST: input_list = optarg; break;
        case 'o': output = optarg; break;
        case 'q': quiet = 1; break;
        case OPT_TOK_THREADS:
            if (!parse_int("--tok-threads", optarg, 0, 4096, &fo.tok_threads)) return EXIT_USAGE;
            break;
        case OPT_WINDOW:
            if (!parse_i64("--window", optarg, 1, 1 << 24, &v)) return EXIT_USAGE;
            fo.window = (size_t)v;
            break;
        case OPT_PART_ROWS:
            if (!parse_i64("--part-rows", optarg, 1, INT64_C(1) << 40, &v)) return EXIT_USAGE;
            fo.part_rows = (uint64_t)v;
            break;
        case OPT_FORMAT: {
            int f = format_index(optarg);
            if (f < 0)
                return usage_error("encode",
                                   "--format: '%s' is not f32, f16, bf16, int8, ubinary or binary",
                                   optarg);
            fo.dtype = (labse_dtype)f;
            break;
        }
        case OPT_CALIBRATION: fo.calibration = optarg; break;
        case OPT_SHARD: shard = optarg; break;
        case OPT_TSV_COLUMN:
            if (!parse_int("--tsv-column", optarg, 1, 1000000, &fo.tsv_column)) return EXIT_USAGE;
            break;
        case OPT_JSONL_FIELD:
            if (!*optarg || strlen(optarg) > 200)
                return usage_error("encode", "--jsonl-field: a name of 1..200 bytes");
            fo.jsonl_field = optarg;
            break;
        case OPT_ON_BAD_RECORD:
            if (strcmp(optarg, "error") == 0)
                fo.on_bad_record = LABSE_BAD_RECORD_ERROR;
            else if (strcmp(optarg, "empty") == 0)
                fo.on_bad_record = LABSE_BAD_RECORD_EMPTY;
            else
                return usage_error("encode", "--on-bad-record: '%s' is not error or empty", optarg);
            break;
        case OPT_DEDUP: fo.dedup = 1; break;
        case OPT_DEDUP_TABLE:
            if (!parse_i64("--dedup-table", optarg, 1, INT64_C(1) << 24, &v)) return EXIT_USAGE;
            fo.dedup = 1;
            fo.dedup_table = (uint64_t)v;
            break;
        case 'h': fputs(USAGE_ENCODE, stdout); return 0;
        default: return getopt_failure("encode", c, argv);
        }
    }
    if (optind < argc) return usage_error("encode", "unexpected argument '%s'", argv[optind]);
    if (!ma.model) return usage_error("encode", "--model is required");
    if (!input && !input_list) return usage_error("encode", "--input is required");
    if (input && input_list)
        return usage_error("encode", "--input and --input-list: give one of them");
    int many = input_list || n_inputs > 1;
    for (size_t i = 0; many && i < n_inputs; i++)
        if (strcmp(inputs[i], "-") == 0)
            return usage_error("encode", "--input -: stdin cannot be one of several inputs");
    if (!output) return usage_error("encode", "--output is required");
    if (fo.tsv_column > 0 && fo.jsonl_field)
        return usage_error("encode", "--tsv-column and --jsonl-field: give one of them");
    if (!*output || strcmp(output, "-") == 0)
        return usage_error("encode", "--output must name a file or a folder");

    /* Output kind: a folder when OUT ends in '/' or is an existing folder not named *.npy. */
    int dir = labse_output_is_folder(output);
    size_t olen = strlen(output); /* a list writes a folder: only *.npy is refused */
    if (many && !dir && !(olen >= 4 && strcmp(output + olen - 4, ".npy") == 0)) dir = 1;
    /* Shard: explicit, auto, or implied by an MPI launcher with several ranks. */
    int k = 0, n = 1, rank, size;
    if (shard && strcmp(shard, "auto") == 0) {
        if (mpi_env(&rank, &size)) {
            k = rank;
            n = size;
        }
    } else if (shard) {
        char *e1, *e2;
        long kk = strtol(shard, &e1, 10), nn = (*e1 == '/') ? strtol(e1 + 1, &e2, 10) : 0;
        if (e1 == shard || *e1 != '/' || e2 == e1 + 1 || *e2 || nn < 1 || nn > 1000000 ||
            kk < 0 || kk >= nn)
            return usage_error("encode", "--shard: '%s' is not K/N with 0 <= K < N", shard);
        k = (int)kk;
        n = (int)nn;
    } else if (mpi_env(&rank, &size) && size > 1) {
        if (!dir)
            return usage_error("encode",
                               "%d MPI ranks would all write %s: give a folder output (each "
                               "rank writes its shard) or --shard 0/1",
                               size, output);
        k = rank;
        n = size;
    }
    if (n > 1 && !dir)
        return usage_error("encode", "--shard needs a folder output (OUT/ or an existing folder)");
    if (fo.calibration && fo.dtype != LABSE_DTYPE_INT8)
        return usage_error("encode", "--calibration is for --format int8");
    if (n > 1 && fo.dtype == LABSE_DTYPE_INT8 && !fo.calibration)
        return usage_error("encode",
                           "--format int8 with shards needs --calibration EMB.npy, so that every "
                           "shard quantises with the same ranges");
    if (many && fo.dtype == LABSE_DTYPE_INT8 && !fo.calibration)
        return usage_error("encode",
                           "--format int8 with several inputs needs --calibration EMB.npy: each "
                           "input is its own run, and their rows must share one scale");
    if (many && !dir)
        return usage_error("encode",
                           "several inputs need a folder output (OUT/): each input gets its own "
                           "subfolder; join them with labse merge --npy OUT.npy OUT/");

    fo.shard_index = k;
    fo.shard_count = n;

    char **listed = NULL; /* --input-list's paths (labse_free'd) */
    size_t n_listed = 0;
    labse_error err = {0};
    if (input_list && labse_read_input_list(input_list, &listed, &n_listed, &err) != LABSE_OK) {
        errorf("%s", err.message);
        return EXIT_RUNTIME;
    }
    labse_model *m = NULL;
    int rc;
    if ((rc = load_model(&ma, &m)) != 0) {
        free_list(listed, n_listed);
        return rc;
    }
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    fo.should_stop = should_stop;
    int progress = !quiet && isatty(STDERR_FILENO);
    if (progress) fo.progress = progress_cb;

    labse_file_stats st;
    memset(&st, 0, sizeof st);
    labse_status s;
    if (listed)
        s = labse_encode_files(m, (const char *const *)listed, n_listed, output, &fo, &st, &err);
    else if (many)
        s = labse_encode_files(m, inputs, n_inputs, output, &fo, &st, &err);
    else
        s = labse_encode_file(m, input, output, &fo, &st, &err);
    if (progress && (st.lines || st.stopped)) fputc('\n', stderr);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (s != LABSE_OK) {
        /* A message about the input names it already ("IN: cannot open: ..."): print it as it
         * is (an "output" prefix would call the input the output). Others are the output's. */
        if (many || input_list) {
            errorf("%s", err.message); /* messages of a list name their input or folder */
            rc = EXIT_RUNTIME;
        } else if (strncmp(err.message, input, strlen(input)) == 0 &&
                   err.message[strlen(input)] == ':') {
            errorf("%s", err.message);
            rc = EXIT_RUNTIME;
        } else {
            rc = report("output", s, &err, 0);
        }
        if (s == LABSE_E_INVALID) rc = EXIT_RUNTIME;
    } else if (st.stopped) {
        errorf("stopped by %s after %" PRIu64 " lines; %s", g_stop == SIGTERM ? "SIGTERM" : "SIGINT",
               st.lines_resumed + st.lines,
               dir ? "the folder holds only complete parts: rerun the same command to resume"
                   : "no output file was written");
        rc = 128 + (g_stop ? (int)g_stop : SIGINT);
    } else {
        rc = 0;
        if (!quiet && st.already_complete) {
            errorf("%s is already complete (%" PRIu64 " lines); nothing to do", st.output,
                   st.lines_resumed);
        } else if (!quiet) {
            if (st.repaired) errorf("%" PRIu64 " lines had invalid UTF-8 (replaced)", st.repaired);
            if (st.duplicates)
                errorf("%" PRIu64 " lines were duplicates: their rows were copied, not encoded",
                       st.duplicates);
            if (st.bad_records)
                errorf("%" PRIu64 " bad records were encoded as empty lines", st.bad_records);
            if (st.truncated)
                errorf("%" PRIu64 " lines were truncated to %d tokens", st.truncated,
                       labse_model_max_length(m));
            if (st.capped)
                errorf("%" PRIu64 " lines were longer than %zu bytes and cut before tokenising",
                       st.capped, LABSE_LINE_CAP);
            if (st.gpu_split_batches)
                errorf("the GPU ran out of memory: %" PRIu64 " batches were encoded in pieces "
                       "(the smallest of %" PRIu64 " lines); a lower --batch-tokens avoids it",
                       st.gpu_split_batches, st.gpu_split_min);
            if (st.gpu_workspace_reduced)
                errorf("the GPU ran out of memory: the cuBLASLt workspace is %" PRIu64
                       " bytes instead of 32 MiB (GEMMs may be slower)", st.gpu_workspace_bytes);
            double secs = st.seconds;
            errorf("encoded %" PRIu64 " lines, %" PRIu64 " tokens, %" PRIu64 " truncated, %" PRIu64
                   " repaired, %" PRIu64 " capped in %.3f s: %.1f sentences/s, %.0f tokens/s"
                   " (%d tokenizer threads: %.2f s tokenising; encoder %.2f s; waited %.2f s)"
                   ", %" PRIu64 " resumed -> %s (%s)",
                   st.lines, st.tokens, st.truncated, st.repaired, st.capped, secs,
                   secs > 0 ? (double)st.lines / secs : 0.0,
                   secs > 0 ? (double)st.tokens / secs : 0.0, st.tok_threads, st.tok_cpu_seconds,
                   st.encode_seconds, st.wait_seconds, st.lines_resumed, st.output,
                   k_formats[fo.dtype][1]);
            if (st.device_span_seconds > 0) {
                labse_model_info mi;
                labse_model_get_info(m, &mi);
                errorf("%s: computed %.3f s of %.3f s, waited for the host %.1f%% of the time",
                       mi.device_name, st.device_busy_seconds, st.device_span_seconds,
                       100.0 * (1.0 - st.device_busy_seconds / st.device_span_seconds));
            }
        }
    }
    labse_model_free(m);
    free_list(listed, n_listed);
    return rc;
}
