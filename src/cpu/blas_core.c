/* blas_core.c — re-select OpenBLAS's kernels for a CPU its release does not know (see
 * blas_core.h for why and when). */
#include "cpu/blas_core.h"

#include "labse.h"

#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_note[256] = "not OpenBLAS with DYNAMIC_ARCH";

/* How good OpenBLAS's sgemm kernels for core NAME are: 3 AVX-512, 2 AVX2+FMA, 1 AVX,
 * 0 older; a name not in the table (a newer OpenBLAS's newer core) counts as the best, so it is
 * never replaced. Cooperlake's kernels differ from SkylakeX's only for bf16 GEMMs. */
static int core_rank(const char *name) {
    static const char *const rank3[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    static const char *const rank2[] = {"Haswell", "Zen", "Excavator"};
    static const char *const rank1[] = {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller"};
    static const char *const rank0[] = {"Katmai",   "Coppermine", "Northwood", "Prescott",
                                        "Banias",   "Atom",       "Core2",     "Penryn",
                                        "Dunnington", "Nehalem",  "Athlon",    "Opteron",
                                        "Opteron_SSE3", "Barcelona", "Nano",   "Bobcat"};
    for (size_t i = 0; i < sizeof rank3 / sizeof *rank3; i++)
        if (!strcasecmp(name, rank3[i])) return 3;
    for (size_t i = 0; i < sizeof rank2 / sizeof *rank2; i++)
        if (!strcasecmp(name, rank2[i])) return 2;
    for (size_t i = 0; i < sizeof rank1 / sizeof *rank1; i++)
        if (!strcasecmp(name, rank1[i])) return 1;
    for (size_t i = 0; i < sizeof rank0 / sizeof *rank0; i++)
        if (!strcasecmp(name, rank0[i])) return 0;
    return 99;
}

/* The best OpenBLAS core this CPU and OS can run, and a word on why (NULL: nothing to say). */
static const char *cpu_best_core(const char **why) {
    *why = NULL;
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return NULL;
    const int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return NULL;
    uint32_t xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    if ((xlo & 0x6) != 0x6) return NULL; /* the OS does not save the YMM state */
    if (__get_cpuid_max(0, NULL) < 7) return NULL;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1, f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1,
              vl = (b >> 31) & 1;
    if (f && dq && bw && vl && (xlo & 0xe6) == 0xe6) { /* and the OS saves the ZMM state */
        __cpuid_count(7, 1, a, b, c, d);
        if ((a >> 5) & 1) {
            *why = "AVX-512 with BF16";
            return "Cooperlake";
        }
        *why = "AVX-512";
        return "SkylakeX";
    }
    if (avx2 && fma) {
        *why = "AVX2 and FMA";
        return "Haswell";
    }
#endif
    return NULL;
}

static void select_once(void) {
    /* The library that gives this program its cblas_sgemm (not the global scope: under
     * Python's ctypes, say, it was loaded RTLD_LOCAL, and numpy may bring another OpenBLAS). */
    Dl_info info;
    if (!dladdr((void *)cblas_sgemm, &info) || !info.dli_fname) return;
    void *h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    if (!h) return;
    char *(*corename)(void) = (char *(*)(void))dlsym(h, "openblas_get_corename");
    void (*quit)(void) = (void (*)(void))dlsym(h, "gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))dlsym(h, "gotoblas_dynamic_init");
    dlclose(h); /* the library stays: the program links it */
    if (!corename || !quit || !init) return; /* another BLAS, or OpenBLAS for one core */
    char was[64];
    snprintf(was, sizeof was, "%s", corename());
    snprintf(g_note, sizeof g_note, "OpenBLAS core %s", was);
    const char *why, *best = cpu_best_core(&why);
    const char *env = getenv("OPENBLAS_CORETYPE"), *keep = getenv("LABSE_BLAS_CORE");
    if (env && *env) {
        snprintf(g_note, sizeof g_note, "OpenBLAS core %s (OPENBLAS_CORETYPE=%s)", was, env);
        return;
    }
    if (!best || core_rank(was) >= core_rank(best)) return;
    if (keep && !strcmp(keep, "keep")) {
        snprintf(g_note, sizeof g_note,
                 "OpenBLAS core %s (kept by LABSE_BLAS_CORE=keep; this CPU runs %s kernels)", was,
                 best);
        return;
    }
    /* gotoblas_dynamic_init reads OPENBLAS_CORETYPE; the environment is put back after. */
    setenv("OPENBLAS_CORETYPE", best, 1);
    quit();
    init();
    unsetenv("OPENBLAS_CORETYPE");
    const char *now = corename();
    snprintf(g_note, sizeof g_note,
             "OpenBLAS core %s (was %s: re-selected for this CPU's %s; OPENBLAS_CORETYPE or "
             "LABSE_BLAS_CORE=keep to decide yourself)",
             now, was, why);
}

void lb_blas_core_select(void) { pthread_once(&g_once, select_once); }

const char *lb_blas_core_note(void) {
    lb_blas_core_select();
    return g_note;
}

const char *labse_blas_info(void) { return lb_blas_core_note(); }
