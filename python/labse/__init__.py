"""labse — LaBSE / BERT sentence embeddings from liblabse (C, OpenBLAS; CUDA when built).

    import labse
    with labse.Model("models/LaBSE") as model:
        emb = model.encode(["Hello, world!", "Bonjour le monde !"])   # (2, 768) float32

The package is a thin ctypes layer over the C library built from the same source tree
(include/labse.h documents the engine). ``labse.compat.LaBSE2Vec`` mimics vectorhub's class.
"""
from ._lib import (E_CUDA, E_FORMAT, E_INVALID, E_IO, E_NOMEM, E_UNSUPPORTED, OK, blas_info)
from ._model import DEFAULT_WINDOW, PAIR_DTYPE, LabseError, Model, mine

try:
    from importlib.metadata import version as _version
    __version__ = _version("labse")
except Exception:  # running from a source tree (LABSE_LIBRARY=...), not installed
    __version__ = "0+unknown"

__all__ = ["Model", "LabseError", "mine", "PAIR_DTYPE", "DEFAULT_WINDOW", "OK", "E_IO", "E_FORMAT", "E_NOMEM",
           "E_CUDA", "E_INVALID", "E_UNSUPPORTED", "blas_info", "__version__"]
