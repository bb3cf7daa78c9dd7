/* error.c — labse_error helpers and status names. */
#include <stdio.h>
#include <string.h>

#include "base/common.h"

labse_status lb_err(labse_error *err, labse_status s, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = s;
    }
    return s;
}

void lb_err_clear(labse_error *err) {
    if (err) {
        err->status = LABSE_OK;
        err->message[0] = '\0';
    }
}

void lb_err_prefix(labse_error *err, const char *fmt, ...) {
    if (!err) return;
    char pre[LABSE_ERRMSG_MAX], old[LABSE_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    size_t n = strlen(pre);
    if (n > sizeof err->message - 3) n = sizeof err->message - 3;
    memcpy(err->message, pre, n);
    memcpy(err->message + n, ": ", 2);
    size_t room = sizeof err->message - n - 3, k = strlen(old);
    if (k > room) k = room;
    memcpy(err->message + n + 2, old, k);
    err->message[n + 2 + k] = '\0';
}

const char *labse_status_str(labse_status s) {
    switch (s) {
    case LABSE_OK: return "ok";
    case LABSE_E_IO: return "I/O error";
    case LABSE_E_FORMAT: return "format error";
    case LABSE_E_NOMEM: return "out of memory";
    case LABSE_E_CUDA: return "CUDA error";
    case LABSE_E_INVALID: return "invalid argument";
    case LABSE_E_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}
