/* blas_core.h — make OpenBLAS run the GEMM kernels this CPU can execute.
 *
 * Why: OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels from a table of CPU
 * models it knows at the time of its release. A newer CPU it does not know gets its most
 * generic x86-64 kernels: Debian 12's OpenBLAS 0.3.21 on an Emerald Rapids Xeon (family 6,
 * model 207) runs "Prescott" (SSE3) kernels, 2-5x slower than the AVX-512 ones the CPU can run
 * (bench/RESULTS.md, "OpenBLAS kernel selection"). The environment variable OPENBLAS_CORETYPE
 * fixes it, but OpenBLAS reads it only while it loads, before any of our code runs.
 *
 * What: once per process, before the library's first BLAS call, if OpenBLAS's chosen core is
 * weaker than what CPUID (and the OS's saved register state, XGETBV) say this CPU runs, the
 * core is chosen again: "Cooperlake" for AVX-512 with BF16, "SkylakeX" for AVX-512
 * (F, DQ, BW, VL), "Haswell" for AVX2 + FMA. It uses two functions that DYNAMIC_ARCH OpenBLAS
 * exports (gotoblas_dynamic_quit / gotoblas_dynamic_init, which re-read OPENBLAS_CORETYPE),
 * looked up in the library that provides our cblas_sgemm (dladdr); with another BLAS, or a
 * non-x86-64 CPU, it does nothing.
 * It never acts when OPENBLAS_CORETYPE is set (the user chose), nor when LABSE_BLAS_CORE=keep.
 *
 * Thread-safety: the switch rewrites OpenBLAS's global kernel table. labse does it under
 * pthread_once from lb_engine_open and the CPU k-NN, before its own first BLAS call; an
 * application that calls the same OpenBLAS from other threads at that moment must set
 * OPENBLAS_CORETYPE itself, or LABSE_BLAS_CORE=keep. */
#ifndef LB_BLAS_CORE_H
#define LB_BLAS_CORE_H

/* Do the check (and the switch) once per process. Thread-safe (pthread_once). */
void lb_blas_core_select(void);

/* A line on what was found and done, e.g. "OpenBLAS core Cooperlake (was Prescott: re-selected
 * for this CPU's AVX-512 BF16; OPENBLAS_CORETYPE or LABSE_BLAS_CORE=keep to decide yourself)",
 * "OpenBLAS core Haswell", or "not OpenBLAS with DYNAMIC_ARCH". Runs lb_blas_core_select
 * first. Static storage; thread-safe once selected. */
const char *lb_blas_core_note(void);

#endif
