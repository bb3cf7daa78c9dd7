"""ctypes declarations of liblabse's public C API (include/labse.h).

Internal module. The shared library is looked up, in order:

1. the file named by the environment variable ``LABSE_LIBRARY`` (a build tree's
   ``liblabse.so``, for development);
2. ``liblabse.so*`` next to this file (where ``pip install`` puts it).

ctypes releases the GIL for the duration of every foreign call, so long ``labse_encode``
calls from several Python threads run in parallel.
"""
from __future__ import annotations

import ctypes
import glob
import os
from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_int, c_int32, c_int64,
                    c_size_t, c_uint64, c_void_p)

# labse_status (include/labse.h)
OK = 0
E_IO = 1
E_FORMAT = 2
E_NOMEM = 3
E_CUDA = 4
E_INVALID = 5
E_UNSUPPORTED = 6

DEVICE_CPU = 0
DEVICE_CUDA = 1
DEVICE_AUTO = 2
DEVICE_NULL = 3  # benchmarks only: zero rows at once (labse.h, LABSE_DEVICE_NULL)

POOL_CLS = 0
POOL_MEAN = 1

ERRMSG_MAX = 1024


class Options(Structure):
    _fields_ = [("device", c_int), ("cuda_device", c_int), ("threads", c_int),
                ("batch_tokens", c_int), ("max_length", c_int), ("window", c_int),
                ("precision", c_int)]


# labse_precision
PRECISIONS = {"default": 0, "fp32": 1, "bf16": 2, "fp16": 3, "fp8": 4, "fp8-model": 5}


class Error(Structure):
    _fields_ = [("status", c_int), ("message", c_char * ERRMSG_MAX)]


class ModelInfo(Structure):
    _fields_ = [("layers", c_int), ("hidden", c_int), ("heads", c_int), ("intermediate", c_int),
                ("vocab_size", c_int), ("max_position", c_int), ("max_length", c_int),
                ("dim", c_int), ("pooling", c_int), ("n_dense", c_int), ("normalize", c_int),
                ("lowercase", c_int), ("parameters", c_int64), ("device", c_int),
                ("device_name", c_char * 128)]


class TokInfo(Structure):
    _fields_ = [("repaired", c_int), ("truncated", c_int)]


class Stats(Structure):
    _fields_ = [("texts", c_uint64), ("tokens", c_uint64), ("truncated", c_uint64),
                ("repaired", c_uint64), ("batches", c_uint64),
                ("gpu_split_batches", c_uint64), ("gpu_split_min", c_uint64),
                ("gpu_workspace_bytes", c_uint64), ("gpu_workspace_reduced", c_int)]


DTYPE_F32 = 0
DTYPE_F16 = 1
#: labse_dtype by --format name (issue 12 §5: quantised outputs)
FORMATS = {"f32": 0, "f16": 1, "bf16": 2, "int8": 3, "ubinary": 4, "binary": 5}

MARGINS = {"ratio": 0, "distance": 1, "absolute": 2}
RETRIEVALS = {"forward": 0, "backward": 1, "intersect": 2, "max": 3}


PATH_MAX = 4096  # LABSE_PATH_MAX


class FileOptions(Structure):
    # progress and should_stop are C function pointers; the binding leaves them NULL.
    _fields_ = [("dtype", c_int), ("tok_threads", c_int), ("part_rows", c_uint64),
                ("window", c_size_t), ("shard_index", c_int), ("shard_count", c_int),
                ("progress", c_void_p), ("progress_interval", c_double),
                ("should_stop", c_void_p), ("user", c_void_p),
                ("tsv_column", c_int), ("jsonl_field", c_char_p), ("on_bad_record", c_int),
                # quantised outputs (issue 12 §5)
                ("calibration", c_char_p),
                # deduplication (issue 12 section 4)
                ("dedup", c_int), ("dedup_table", c_uint64)]

BAD_RECORD_ERROR, BAD_RECORD_EMPTY = 0, 1


class FileStats(Structure):
    _fields_ = [("lines", c_uint64), ("lines_resumed", c_uint64), ("tokens", c_uint64),
                ("truncated", c_uint64), ("repaired", c_uint64), ("capped", c_uint64),
                ("batches", c_uint64), ("seconds", c_double), ("already_complete", c_int),
                ("stopped", c_int), ("tok_threads", c_int), ("tok_cpu_seconds", c_double),
                ("encode_seconds", c_double), ("wait_seconds", c_double),
                ("device_busy_seconds", c_double), ("device_span_seconds", c_double),
                ("gpu_split_batches", c_uint64), ("gpu_split_min", c_uint64),
                ("gpu_workspace_bytes", c_uint64), ("gpu_workspace_reduced", c_int),
                ("output", c_char * PATH_MAX), ("bad_records", c_uint64),
                ("duplicates", c_uint64)]  # deduplication (issue 12 section 4)


class MineOptions(Structure):
    _fields_ = [("k", c_int), ("margin", c_int), ("retrieval", c_int), ("threshold", c_double),
                ("threads", c_int), ("block_rows", c_size_t), ("device", c_int),
                ("cuda_device", c_int)]


class Pair(Structure):
    _fields_ = [("score", c_double), ("src", c_uint64), ("tgt", c_uint64)]


def _find_library() -> str:
    env = os.environ.get("LABSE_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    found = sorted(glob.glob(os.path.join(here, "liblabse.so*")), key=len)
    if not found:
        raise ImportError(
            f"labse: liblabse.so not found in {here} (was the package installed with pip? "
            "for a build tree, set LABSE_LIBRARY=/path/to/liblabse.so)")
    return found[0]


def _load() -> ctypes.CDLL:
    lib = ctypes.CDLL(_find_library())
    P = POINTER

    def fn(name, restype, *argtypes):
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = list(argtypes)

    fn("labse_status_str", c_char_p, c_int)
    fn("labse_blas_info", c_char_p)
    fn("labse_default_options", Options)
    fn("labse_model_load", c_int, c_char_p, P(Options), P(c_void_p), P(Error))
    fn("labse_model_free", None, c_void_p)
    fn("labse_model_get_info", None, c_void_p, P(ModelInfo))
    fn("labse_model_dim", c_int, c_void_p)
    fn("labse_model_max_length", c_int, c_void_p)
    fn("labse_tokenize", c_size_t, c_void_p, c_char_p, c_size_t, c_void_p, P(TokInfo), P(Error))
    fn("labse_session_new", c_int, c_void_p, P(c_void_p), P(Error))
    fn("labse_session_free", None, c_void_p)
    fn("labse_session_errmsg", c_char_p, c_void_p)
    # texts: an array of char pointers into the caller's bytes objects (no copy)
    fn("labse_encode", c_int, c_void_p, P(c_char_p), P(c_size_t), c_size_t, c_void_p, P(Error))
    fn("labse_session_stats", None, c_void_p, P(Stats))
    fn("labse_encode_ids", c_int, c_void_p, P(c_int32), P(c_int32), c_size_t, c_void_p, P(Error))
    fn("labse_default_file_options", FileOptions)
    fn("labse_encode_file", c_int, c_void_p, c_char_p, c_char_p, P(FileOptions), P(FileStats),
       P(Error))
    # many files (issue 12 §2): inputs is an array of char pointers
    fn("labse_encode_files", c_int, c_void_p, P(c_char_p), c_size_t, c_char_p, P(FileOptions),
       P(FileStats), P(Error))
    fn("labse_default_mine_options", MineOptions)
    fn("labse_mine", c_int, c_void_p, c_size_t, c_void_p, c_size_t, c_size_t, P(MineOptions),
       P(P(Pair)), P(c_size_t), P(Error))
    fn("labse_free", None, c_void_p)
    return lib


lib = _load()
path = lib._name


def blas_info() -> str:
    """One line on the CPU BLAS kernels in use (include/labse.h, labse_blas_info)."""
    return lib.labse_blas_info().decode("utf-8", "replace")


def status_str(status: int) -> str:
    """The library's one-line name of a status code."""
    s = lib.labse_status_str(status)
    return s.decode("utf-8", "replace") if s else f"status {status}"
