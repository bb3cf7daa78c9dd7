/* common.h — internal helpers shared by every source file of the library: error reporting.
 * Not part of the public API. */
#ifndef LB_COMMON_H
#define LB_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "labse.h"

/* Set *err (if not NULL) to status s with a printf-style message; returns s, so a failing
 * path reads `return lb_err(err, LABSE_E_FORMAT, "%s: ...", path);`. Thread-safe. */
labse_status lb_err(labse_error *err, labse_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clear *err to LABSE_OK / "" (NULL is a no-op). */
void lb_err_clear(labse_error *err);

/* Prefix an existing message: "prefix: old message". Keeps the status. */
void lb_err_prefix(labse_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
