"""labse.Model: a loaded model and its encode / tokenize methods (over liblabse via ctypes)."""
from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from collections import abc
from contextlib import contextmanager
from typing import Iterator, List, Sequence, Union

import numpy as np

from . import _lib
from ._lib import lib

Text = Union[str, bytes, bytearray, memoryview]

#: Texts sorted by length together (labse_options.window; ``labse encode --window``). Each
#: labse_encode call gets a whole number of windows when ``batch_size`` is not given, so the
#: library packs the same batches as the ``labse encode`` CLI and the rows are bitwise equal
#: on the CPU (for up to a million texts; see labse.h). The C library's default
#: (labse_default_options()), not a copy.
DEFAULT_WINDOW = lib.labse_default_options().window

_DEVICES = {"auto": _lib.DEVICE_AUTO, "cpu": _lib.DEVICE_CPU, "cuda": _lib.DEVICE_CUDA}
# Model also takes "null": the host's feeding rate (benchmarks only: every row is zeros).
_MODEL_DEVICES = dict(_DEVICES, null=_lib.DEVICE_NULL)
_DEVICE_NAMES = {v: k for k, v in _MODEL_DEVICES.items()}
_POOLING_NAMES = {_lib.POOL_CLS: "cls", _lib.POOL_MEAN: "mean"}


class LabseError(RuntimeError):
    """An error reported by liblabse.

    Attributes:
        status: the library's ``labse_status`` code (``labse.E_IO``, ``labse.E_FORMAT``, ...).
        status_name: its one-line name ("I/O error", "format error", ...).
        message: the library's message (names the file, tensor or option at fault).
    """

    def __init__(self, status: int, message: str):
        self.status = int(status)
        self.status_name = _lib.status_str(self.status)
        self.message = message or self.status_name
        super().__init__(self.message)

    @classmethod
    def _from(cls, status: int, err: _lib.Error) -> "LabseError":
        return cls(status, err.message.decode("utf-8", "replace"))


def _as_bytes(t: Text, i: int) -> bytes:
    if isinstance(t, str):
        # Lone surrogates (e.g. from os.fsdecode of undecodable bytes) pass through as their
        # 3-byte forms, which are invalid UTF-8: the library repairs them exactly as it
        # repairs any invalid byte (U+FFFD, which the tokenizer then drops) and counts them.
        return t.encode("utf-8", "surrogatepass")
    if isinstance(t, bytes):
        return t
    if isinstance(t, (bytearray, memoryview)):
        return bytes(t)
    raise TypeError(f"labse: text {i} is {type(t).__name__}, expected str or bytes")


class Model:
    """A sentence-transformers BERT model loaded by liblabse (LaBSE, all-MiniLM-L6-v2, ...).

    Args:
        path: model folder in the sentence-transformers layout (str or os.PathLike).
        device: ``"auto"`` (the GPU when the library has a GPU backend and a GPU is present,
            else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (GPU ordinal N) or
            ``"cuda:all"`` (every GPU; each session runs on one, round-robin), or ``"null"``
            (benchmarks only: no encoder, every row zeros, so that ``encode_file`` measures
            what the host does: read, tokenise, pack, write; README, "The host's feeding
            rate").
        batch_tokens: token budget of one packed batch (memory bound of one forward pass);
            None = the C library's default (labse_default_options().batch_tokens, 16384).
        threads: CPU threads per encode call; 0 = all cores. Use 1 when several Python
            threads encode at once (each call then runs on its own core).
        max_length: max tokens per text incl. [CLS] and [SEP]; None = the model's
            ``max_seq_length``. Longer texts are truncated (the first max_length - 2 pieces
            are kept, then [SEP]).
        window: texts sorted by length together before batches are cut (as ``labse encode
            --window``; default 32768).
        precision: ``"default"`` (the device's: fp32 on the CPU, fp16 on the GPU),
            ``"fp32"`` or ``"bf16"`` on the CPU (bf16: GEMM inputs in bfloat16, fp32
            accumulation; needs AVX512-BF16) or ``"fp8-model"`` (the GPU's fp8 arithmetic on
            the CPU, for accuracy studies; no speed-up), ``"fp16"`` or ``"fp8"`` on the GPU
            (fp8: the encoder's four GEMMs in FP8 E4M3; as ``--precision``).

    Raises:
        LabseError: the folder is missing, a file is malformed or inconsistent, the device
            is not available, an option is out of range, the device cannot do the precision.

    Thread safety: a Model may be shared by any number of threads. The weights are loaded
    once; each concurrent ``encode`` call borrows its own native session (working buffers)
    from a pool, and the GIL is released while the library runs.

    Lifetime: ``close()`` (or leaving a ``with`` block) frees the native model; calls made
    after it raise LabseError. Calls still running in other threads finish first: the memory
    is freed when the last one returns.
    """

    def __init__(self, path: Union[str, os.PathLike], device: str = "auto",
                 batch_tokens: int | None = None, threads: int = 0, max_length: int | None = None,
                 window: int = DEFAULT_WINDOW, precision: str = "default"):
        self._m = None  # so that __del__ works on a failed __init__
        self._lock = threading.Lock()
        self._idle: List[ctypes.c_void_p] = []
        self._active = 0
        self._closed = False
        cuda_device = 0
        if device == "cuda:all":
            device, cuda_device = "cuda", -1  # LABSE_CUDA_ALL
        elif isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit():
            device, cuda_device = "cuda", int(device[5:])
        if device not in _MODEL_DEVICES:
            raise ValueError(f"labse: device must be one of {sorted(_MODEL_DEVICES)} or "
                             f"'cuda:N', got {device!r}")
        if precision not in _lib.PRECISIONS:
            raise ValueError(f"labse: precision must be one of {sorted(_lib.PRECISIONS)}, "
                             f"got {precision!r}")
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise ValueError(f"labse: max_length must be a positive int or None, got {max_length!r}")
        opt = lib.labse_default_options()
        opt.device = _MODEL_DEVICES[device]
        opt.cuda_device = cuda_device
        opt.threads = int(threads)
        if batch_tokens is not None:
            opt.batch_tokens = int(batch_tokens)
        opt.max_length = 0 if max_length is None else int(max_length)
        opt.window = int(window)
        opt.precision = _lib.PRECISIONS[precision]
        self.path = os.fspath(path)
        err = _lib.Error()
        m = ctypes.c_void_p()
        st = lib.labse_model_load(os.fsencode(self.path), ctypes.byref(opt), ctypes.byref(m),
                                  ctypes.byref(err))
        if st != _lib.OK:
            raise LabseError._from(st, err)
        self._m = m
        info = _lib.ModelInfo()
        lib.labse_model_get_info(m, ctypes.byref(info))
        self._info = {name: getattr(info, name) for name, _ in _lib.ModelInfo._fields_}
        self._info["pooling"] = _POOLING_NAMES.get(info.pooling, str(info.pooling))
        self._info["device"] = _DEVICE_NAMES.get(info.device, str(info.device))
        self._info["device_name"] = info.device_name.decode("utf-8", "replace")
        for k in ("normalize", "lowercase"):
            self._info[k] = bool(self._info[k])
        self._info["path"] = self.path
        self._info["library"] = _lib.path
        self.threads = opt.threads
        self.batch_tokens = opt.batch_tokens
        self.window = opt.window
        self.precision = precision

    # ---- properties ---------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Output embedding dimension (LaBSE: 768)."""
        return self._info["dim"]

    @property
    def max_length(self) -> int:
        """Effective max tokens per text, [CLS] and [SEP] included."""
        return self._info["max_length"]

    def info(self) -> dict:
        """What was loaded: layers, hidden, heads, intermediate, vocab_size, max_position,
        max_length, dim, pooling ("cls"/"mean"), n_dense, normalize (a Normalize module ends
        the pipeline), lowercase, parameters, device ("cpu"/"cuda"), path, library (the
        liblabse file in use). A new dict each call."""
        return dict(self._info)

    def __repr__(self) -> str:
        state = "closed" if self._closed else self._info["device"]
        return f"labse.Model({self.path!r}, dim={self.dim}, {state})"

    # ---- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Free the native model and its sessions. Idempotent. Encode calls running in
        other threads complete; the memory is freed when the last of them returns."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            free_model = self._active == 0
        for s in idle:
            lib.labse_session_free(s)
        if free_model:
            self._free_model()

    def _free_model(self) -> None:
        m, self._m = self._m, None
        if m:
            lib.labse_model_free(m)

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_m", None) is not None:
            try:
                self.close()
            except Exception:
                pass

    @contextmanager
    def _use(self, session: bool) -> Iterator[ctypes.c_void_p | None]:
        """Keep the model alive for the block; with session=True lend a native session."""
        with self._lock:
            if self._closed:
                raise LabseError(_lib.E_INVALID, "labse: the model is closed")
            self._active += 1
            s = self._idle.pop() if (session and self._idle) else None
        try:
            if session and s is None:
                s = ctypes.c_void_p()
                err = _lib.Error()
                st = lib.labse_session_new(self._m, ctypes.byref(s), ctypes.byref(err))
                if st != _lib.OK:
                    s = None
                    raise LabseError._from(st, err)
            yield s
        finally:
            with self._lock:
                self._active -= 1
                keep = s is not None and not self._closed
                if keep:
                    self._idle.append(s)
                last = self._closed and self._active == 0
            if s is not None and not keep:
                lib.labse_session_free(s)
            if last:
                self._free_model()

    # ---- tokenize -----------------------------------------------------------------------

    def tokenize(self, texts: Union[Text, Sequence[Text]]) -> Union[List[int], List[List[int]]]:
        """Token ids, [CLS] and [SEP] included, truncated to max_length: exactly the ids of
        the HuggingFace fast tokenizer (after sentence-transformers' ``str.strip()``).

        ``texts``: one str/bytes (returns list[int]) or a sequence of them (list[list[int]]).
        Thread-safe; the GIL is released during each text's tokenisation.
        """
        single = isinstance(texts, (str, bytes, bytearray, memoryview))
        items = [texts] if single else list(texts)
        out: List[List[int]] = []
        with self._use(session=False):
            ids = np.empty(self.max_length, dtype=np.int32)
            err = _lib.Error()
            for i, t in enumerate(items):
                b = _as_bytes(t, i)
                n = lib.labse_tokenize(self._m, b, len(b), ids.ctypes.data, None, ctypes.byref(err))
                if n == 0:
                    raise LabseError._from(err.status or _lib.E_NOMEM, err)
                out.append(ids[:n].tolist())
        return out[0] if single else out

    # ---- encode -------------------------------------------------------------------------

    def encode(self, texts: Union[Text, Sequence[Text]], normalize: bool = True,
               dtype=np.float32, show_progress: bool = False,
               batch_size: int | None = None) -> np.ndarray:
        """Sentence embeddings.

        Args:
            texts: one text (str or bytes) → an array of shape (dim,); a sequence of texts
                → shape (n, dim), row i = texts[i]; an empty sequence → shape (0, dim).
                str is encoded as UTF-8 (lone surrogates become invalid bytes, which the
                library replaces by U+FFFD and the tokenizer drops); bytes are passed as they
                are (invalid UTF-8 is repaired the same way). Surrounding whitespace yields
                no token, as with sentence-transformers' ``str.strip()``.
            normalize: L2-normalise the rows. For models whose pipeline ends with a Normalize
                module (LaBSE, all-MiniLM-L6-v2) the library's rows already have norm 1 and
                are returned unchanged, bit for bit; ``normalize=False`` returns the model's
                own output, so it does NOT undo such a Normalize module. For models without
                one, ``normalize=True`` divides each row by max(norm, 1e-12).
            dtype: numpy.float32 (the library's output, written in place into the result)
                or numpy.float16 (converted from float32 per chunk).
            show_progress: print "labse: i / n texts" on stderr after each chunk.
            batch_size: texts per native call (default: the model's ``window``). Inside a
                call the library sorts each window of texts by length and packs batches of at
                most ``batch_tokens`` tokens; with the default, the batches are those of the
                ``labse encode`` CLI, so the rows are bitwise equal to its rows on the CPU.

        Returns:
            numpy.ndarray of ``dtype``; C-contiguous.

        Raises:
            LabseError: the library failed (out of memory, device error, closed model).
            TypeError / ValueError: a text is not str/bytes; a bad dtype or batch_size.

        Thread-safe: concurrent calls from several threads each use their own native session
        and run in parallel (the GIL is released while the library encodes).
        """
        single = isinstance(texts, (str, bytes, bytearray, memoryview))
        items = [texts] if single else texts
        if not isinstance(items, abc.Sequence):
            items = list(items)
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float16)):
            raise ValueError(f"labse: dtype must be float32 or float16, got {dt}")
        chunk = self.window if batch_size is None else int(batch_size)
        if chunk < 1:
            raise ValueError(f"labse: batch_size must be >= 1, got {batch_size!r}")
        n, dim = len(items), self.dim
        out = np.empty((n, dim), dtype=dt)
        renorm = normalize and not self._info["normalize"]
        f32 = dt == np.dtype(np.float32)
        t0 = time.perf_counter()
        if n:
            with self._use(session=True) as s:
                buf = None if f32 else np.empty((min(chunk, n), dim), dtype=np.float32)
                err = _lib.Error()
                for start in range(0, n, chunk):
                    part = items[start:start + chunk]
                    k = len(part)
                    data = [_as_bytes(t, start + j) for j, t in enumerate(part)]
                    ptrs = (ctypes.c_char_p * k)(*data)
                    lens = (ctypes.c_size_t * k)(*map(len, data))
                    rows = out[start:start + k] if f32 else buf[:k]
                    st = lib.labse_encode(s, ptrs, lens, k, rows.ctypes.data, ctypes.byref(err))
                    if st != _lib.OK:
                        raise LabseError._from(st, err)
                    if renorm:
                        norms = np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float64))
                        rows /= np.maximum(norms, 1e-12).astype(np.float32)[:, None]
                    if not f32:
                        out[start:start + k] = rows
                    if show_progress:
                        done = start + k
                        rate = done / max(time.perf_counter() - t0, 1e-9)
                        print(f"\rlabse: {done} / {n} texts ({rate:.0f}/s)", end="",
                              file=sys.stderr, flush=True)
                if show_progress:
                    print(file=sys.stderr)
        return out[0] if single else out

    # ---- encode_file ----------------------------------------------------------------------

    def encode_file(self, input_path: Union[str, os.PathLike, list, tuple],
                    output_path: Union[str, os.PathLike],
                    dtype=np.float32, tok_threads: int = 0, part_rows: int = 1_000_000,
                    window: int | None = None, shard=None, tsv_column: int | None = None,
                    jsonl_field: str | None = None, on_bad_record: str = "error",
                    format: str | None = None,
                    calibration: Union[str, os.PathLike, None] = None,
                    dedup: bool = False, dedup_table: int = 0) -> dict:
        """Embed every line of a text file through the streaming pipeline of ``labse encode``
        (liblabse's ``labse_encode_file``): constant memory, multi-threaded tokenisation, and
        the very bytes the CLI writes for the same options.

        Args:
            input_path: the text, one sentence per line (``\\n``; a ``\\r`` before it is
                dropped; an empty line gets its row; invalid UTF-8 is repaired); a gzip, zstd
                or xz file (known by its first bytes) is decompressed on the fly. A list (or
                tuple) of paths: many files (``labse encode --input A --input B ...``, README
                "Many files"): output_path must be a folder; it gets ``files.json`` and one
                subfolder per input, ``shard`` deals whole inputs to the tasks; join with
                ``labse merge --npy OUT.npy OUT/`` or read it with ``labse.mine``.
            output_path: ``OUT.npy`` (one array (lines, dim), written atomically) or a folder
                (a str ending in ``/``, or an existing folder not named ``*.npy``): part files
                of ``part_rows`` rows + ``manifest.json``; an incomplete folder of the same
                input and settings is resumed.
            dtype: numpy.float32 or numpy.float16 (``--format f16``); ignored when
                ``format`` is given.
            format: None (``dtype`` decides), or the output format as ``--format`` names it:
                ``"f32"``, ``"f16"``, ``"bf16"`` (stored as ``'<u2'`` bits: recover the
                values with ``(x.astype('<u4') << 16).view('<f4')``), ``"int8"``,
                ``"ubinary"`` or ``"binary"`` (sentence-transformers' quantize_embeddings;
                README, "Output formats").
            calibration: int8 only: a float32/float16 ``.npy`` of embeddings whose
                per-dimension min and max are the ranges (``--calibration``); None: the
                first window's rows. Required with ``shard``.
            tok_threads: tokenizer threads; 0 = cores - 1 (at least 1).
            part_rows: rows per part file (folder output).
            window: lines sorted by length together; None = the model's ``window``.
            shard: None, or (K, N) / "K/N": encode shard K (0-based) of N into
                ``OUT/shard-KKKKK-of-NNNNN/`` (folder output only; join with ``labse merge``).
            tsv_column: None, or N >= 1: each line is a tab-separated record and its column N
                (1-based, as ``cut -f N``) is the text.
            jsonl_field: None, or a name: each line is a JSON object and its string field of
                that name is the text (dots walk nested objects: ``"meta.text"``).
            on_bad_record: ``"error"`` (a record without the column or field, or JSON that
                does not parse, raises LabseError naming the file and line) or ``"empty"``
                (it is encoded as an empty line and counted in ``bad_records``).
            dedup: True: identical lines (after the line rules and record extraction) are
                encoded once, every duplicate gets a byte-identical copy of the first one's
                row (``--dedup``); within a part and the last ``dedup_table`` distinct lines.
            dedup_table: distinct lines remembered (1..2**24; 0 = 65,536); with dedup only.

        Returns:
            dict: lines, lines_resumed, tokens, truncated, repaired, capped, batches,
            seconds (float), already_complete (bool), tok_threads, tok_cpu_seconds,
            encode_seconds, wait_seconds, device_busy_seconds, device_span_seconds (floats;
            the device figures are 0 on the CPU), gpu_split_batches and gpu_split_min
            (batches the GPU encoded in pieces for want of memory, the fewest lines in a
            piece), gpu_workspace_bytes and gpu_workspace_reduced (the cuBLASLt workspace,
            1 when below 32 MiB; 0 on the CPU), output (str: the file or folder written),
            bad_records (records encoded as empty lines), duplicates (rows copied from an
            identical earlier line, with dedup).

        Raises:
            LabseError: unreadable input, unwritable output, a folder of other settings.
            ValueError / TypeError: a bad dtype, format, calibration, tok_threads, part_rows,
                window or shard.

        The batch token budget, max_length and encoder threads are the model's. The GIL is
        released while the library runs; the call prints nothing.
        """
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float16)):
            raise ValueError(f"labse: dtype must be float32 or float16, got {dt}")
        opt = lib.labse_default_file_options()
        opt.dtype = _lib.DTYPE_F32 if dt == np.dtype(np.float32) else _lib.DTYPE_F16
        if format is not None:
            if format not in _lib.FORMATS:
                raise ValueError(f"labse: format must be one of {', '.join(_lib.FORMATS)}, "
                                 f"got {format!r}")
            opt.dtype = _lib.FORMATS[format]
        calib = None
        if calibration is not None:
            if opt.dtype != _lib.FORMATS["int8"]:
                raise ValueError("labse: calibration is for format='int8'")
            calib = os.fsencode(os.fspath(calibration))
            opt.calibration = calib  # kept alive by `calib` until the call returns
        if not isinstance(tok_threads, int) or not 0 <= tok_threads <= 4096:
            raise ValueError(f"labse: tok_threads must be an int in 0..4096, got {tok_threads!r}")
        if not isinstance(part_rows, int) or not 1 <= part_rows <= 1 << 40:
            raise ValueError(f"labse: part_rows must be an int in 1..2**40, got {part_rows!r}")
        if window is not None and (not isinstance(window, int) or not 1 <= window <= 1 << 24):
            raise ValueError(f"labse: window must be None or an int in 1..2**24, got {window!r}")
        opt.tok_threads = tok_threads
        opt.part_rows = part_rows
        opt.window = 0 if window is None else window
        if shard is not None:
            try:
                k, n = (map(int, shard.split("/")) if isinstance(shard, str) else map(int, shard))
            except (TypeError, ValueError):
                raise ValueError(f"labse: shard must be (K, N) or 'K/N', got {shard!r}") from None
            if not (n >= 1 and 0 <= k < n):
                raise ValueError(f"labse: shard {k}/{n} is not K/N with 0 <= K < N")
            opt.shard_index, opt.shard_count = k, n
        if tsv_column is not None and jsonl_field is not None:
            raise ValueError("labse: give tsv_column or jsonl_field, not both")
        if tsv_column is not None:
            if not isinstance(tsv_column, int) or not 1 <= tsv_column <= 1_000_000:
                raise ValueError(f"labse: tsv_column must be an int in 1..1000000, got {tsv_column!r}")
            opt.tsv_column = tsv_column
        field = None
        if jsonl_field is not None:
            if not isinstance(jsonl_field, str) or not 1 <= len(jsonl_field.encode()) <= 200:
                raise ValueError(f"labse: jsonl_field must be a name of 1..200 bytes, got {jsonl_field!r}")
            field = jsonl_field.encode()
            opt.jsonl_field = field  # kept alive by `field` until the call returns
        if on_bad_record not in ("error", "empty"):
            raise ValueError(f"labse: on_bad_record must be 'error' or 'empty', got {on_bad_record!r}")
        opt.on_bad_record = _lib.BAD_RECORD_EMPTY if on_bad_record == "empty" else _lib.BAD_RECORD_ERROR
        if not isinstance(dedup_table, int) or not 0 <= dedup_table <= 1 << 24:
            raise ValueError(f"labse: dedup_table must be an int in 0..2**24, got {dedup_table!r}")
        opt.dedup = 1 if dedup else 0
        opt.dedup_table = dedup_table
        many = isinstance(input_path, (list, tuple))
        inps = [os.fspath(p) for p in input_path] if many else [os.fspath(input_path)]
        out = os.fspath(output_path)
        if any(isinstance(p, str) and p == "-" for p in inps):
            raise ValueError("labse: encode_file reads a file, not '-' (stdin)")
        if many and not inps:
            raise ValueError("labse: encode_file got an empty list of inputs")
        st = _lib.FileStats()
        err = _lib.Error()
        with self._use(session=False):
            if many:
                arr = (ctypes.c_char_p * len(inps))(*[os.fsencode(p) for p in inps])
                rc = lib.labse_encode_files(self._m, arr, len(inps), os.fsencode(out),
                                            ctypes.byref(opt), ctypes.byref(st),
                                            ctypes.byref(err))
            else:
                rc = lib.labse_encode_file(self._m, os.fsencode(inps[0]), os.fsencode(out),
                                           ctypes.byref(opt), ctypes.byref(st),
                                           ctypes.byref(err))
        if rc != _lib.OK:
            raise LabseError._from(rc, err)
        res = {name: getattr(st, name) for name, _ in _lib.FileStats._fields_
               if name != "stopped"}  # nothing stops a Python call (no should_stop)
        res["already_complete"] = bool(res["already_complete"])
        res["gpu_workspace_reduced"] = bool(res["gpu_workspace_reduced"])
        res["output"] = os.fsdecode(res["output"])
        return res


#: The dtype of labse.mine's result.
PAIR_DTYPE = np.dtype([("score", np.float64), ("src", np.int64), ("tgt", np.int64)])


def mine(src_emb, tgt_emb, k: int = 4, margin: str = "ratio", retrieval: str = "max",
         threshold: float | None = None, threads: int = 0, block_rows: int = 2048,
         device: str = "cpu") -> np.ndarray:
    """Bitext mining between two embedding matrices (liblabse's ``labse_mine``: the engine of
    ``labse mine --src-emb --tgt-emb``, same pairs, same scores, same order).

    Exact k-nearest-neighbour search by cosine both ways (rows are L2-normalised inside),
    then margin scoring (Artetxe & Schwenk 2019): with a = cos(x, y) and
    b = mean cos of x's k neighbours / 2 + mean cos of y's k neighbours / 2,
    ``"ratio"``: a / b, ``"distance"``: a - b, ``"absolute"``: a.

    Args:
        src_emb: (ns, dim) array-like of floats (converted to C-contiguous float32).
        tgt_emb: (nt, dim), the same dim.
        k: neighbours (lowered to min(ns, nt)).
        margin: "ratio" | "distance" | "absolute".
        retrieval: "forward" (each source with its best target) | "backward" (each target
            with its best source) | "intersect" (forward pairs confirmed backward) | "max"
            (forward + backward by score, each source and target used at most once).
        threshold: keep pairs with score >= threshold; None keeps all.
        threads: CPU threads; 0 = all cores.
        block_rows: rows per similarity block (memory ~ threads x block_rows x
            (block_rows + dim) x 4 bytes).
        device: where the k-NN search runs: "cpu" (default), "cuda", "cuda:N" (fp32 tiles on
            the GPU; same pairs up to near-ties closer than fp32 rounding; k <= 64) or "auto".

    Returns:
        numpy structured array of dtype ``labse.PAIR_DTYPE``: fields ``score`` (float64),
        ``src`` and ``tgt`` (int64 row indices, 0-based), one element per pair, sorted by
        score descending, ties by src then tgt ascending. ``res["src"]`` etc. give the
        columns.

    Raises:
        ValueError: not 2-D, dims differ, an empty matrix, an unknown margin/retrieval, a bad
            k, threads or block_rows.
        LabseError: a row with NaN/inf or zero norm (the message names it), out of memory.

    The GIL is released while the library runs.
    """
    a = np.ascontiguousarray(src_emb, dtype=np.float32)
    b = np.ascontiguousarray(tgt_emb, dtype=np.float32)
    for name, x in (("src_emb", a), ("tgt_emb", b)):
        if x.ndim != 2:
            raise ValueError(f"labse.mine: {name} must be 2-D (rows, dim), got shape {x.shape}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"labse.mine: {name} is empty (shape {x.shape})")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"labse.mine: dimension mismatch: src_emb has dim {a.shape[1]}, "
                         f"tgt_emb has dim {b.shape[1]}")
    if margin not in _lib.MARGINS:
        raise ValueError(f"labse.mine: margin must be one of {list(_lib.MARGINS)}, got {margin!r}")
    if retrieval not in _lib.RETRIEVALS:
        raise ValueError(f"labse.mine: retrieval must be one of {list(_lib.RETRIEVALS)}, "
                         f"got {retrieval!r}")
    if not isinstance(k, int) or not 1 <= k <= 1 << 20:
        raise ValueError(f"labse.mine: k must be an int in 1..2**20, got {k!r}")
    if not isinstance(threads, int) or threads < 0:
        raise ValueError(f"labse.mine: threads must be an int >= 0, got {threads!r}")
    if not isinstance(block_rows, int) or not 1 <= block_rows <= 1 << 20:
        raise ValueError(f"labse.mine: block_rows must be an int in 1..2**20, got {block_rows!r}")
    cuda_device = 0
    if isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit():
        device, cuda_device = "cuda", int(device[5:])
    if device not in _DEVICES:
        raise ValueError(f"labse.mine: device must be one of {sorted(_DEVICES)} or 'cuda:N', "
                         f"got {device!r}")
    opt = lib.labse_default_mine_options()
    opt.device = _DEVICES[device]
    opt.cuda_device = cuda_device
    opt.k = k
    opt.margin = _lib.MARGINS[margin]
    opt.retrieval = _lib.RETRIEVALS[retrieval]
    if threshold is not None:
        t = float(threshold)
        if t != t:
            raise ValueError("labse.mine: threshold is NaN (use None to keep all pairs)")
        opt.threshold = t
    opt.threads = threads
    opt.block_rows = block_rows
    pairs = ctypes.POINTER(_lib.Pair)()
    n = ctypes.c_size_t(0)
    err = _lib.Error()
    rc = lib.labse_mine(a.ctypes.data, a.shape[0], b.ctypes.data, b.shape[0], a.shape[1],
                        ctypes.byref(opt), ctypes.byref(pairs), ctypes.byref(n), ctypes.byref(err))
    if rc != _lib.OK:
        raise LabseError._from(rc, err)
    try:
        if n.value == 0:
            return np.empty(0, dtype=PAIR_DTYPE)
        raw = np.ctypeslib.as_array(ctypes.cast(pairs, ctypes.POINTER(ctypes.c_uint8)),
                                    shape=(n.value * ctypes.sizeof(_lib.Pair),))
        view = raw.view(np.dtype([("score", "<f8"), ("src", "<u8"), ("tgt", "<u8")]))
        return view.astype(PAIR_DTYPE)
    finally:
        lib.labse_free(pairs)
