"""The labse Python package against the CLI and its own contract (python/labse)."""
import concurrent.futures
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import labse
from labse.compat import LaBSE2Vec

from conftest import MINILM, SRC, TINY, TINY_MEAN


def cli_encode(cli, model_dir, lines, tmp_path, *extra):
    inp, out = tmp_path / "in.txt", tmp_path / "out.npy"
    inp.write_bytes(b"".join(line + b"\n" for line in lines))
    subprocess.run([cli, "encode", "-q", "--device", "cpu", "--threads", "1", *extra,
                    "--model", str(model_dir), "--input", str(inp), "--output", str(out)],
                   check=True)
    return np.load(out)


def assert_bitwise(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    same = a.view(np.uint32) == b.view(np.uint32)
    if not same.all():
        r, c = np.argwhere(~same)[0]
        raise AssertionError(f"{(~same).sum()} values differ; first at row {r} col {c}: "
                             f"{a[r, c]!r} vs {b[r, c]!r}")


# ---- CLI parity ------------------------------------------------------------------------------

# `labse encode` (the streaming pipeline) and labse_encode (Model.encode) cut the same windows
# and sort and pack them with the same functions (src/pipeline/pack.c), so on the same options
# and thread count they run the very same batches and the rows are bitwise equal: with the
# defaults, with one text per batch, and with a smaller token budget and window.


def parity_lines(model_dir, golden_sentences, bitext_lines):
    n_bitext = len(bitext_lines) if model_dir != MINILM else 400
    return golden_sentences + [b"", b"   ", b"caf\xe9 \xff\xfe ok", b"a\x00b",
                               b"long " * 400] + bitext_lines[:n_bitext]


def test_encode_equals_cli_one_per_batch_bitwise(model_dir, cli, golden_sentences, tmp_path):
    lines = golden_sentences + [b"", b"   ", b"caf\xe9 \xff\xfe ok", b"a\x00b", b"long " * 400]
    ref = cli_encode(cli, model_dir, lines, tmp_path, "--window", "1")
    with labse.Model(model_dir, device="cpu", threads=1) as m:
        assert_bitwise(m.encode(lines, normalize=False, batch_size=1), ref)
        if m.info()["normalize"]:  # normalize=True is then a no-op, bit for bit
            assert_bitwise(m.encode(lines, normalize=True, batch_size=1), ref)


def test_encode_equals_cli_same_batches_bitwise(model_dir, cli, golden_sentences, bitext_lines,
                                                tmp_path):
    with labse.Model(model_dir, device="cpu", threads=1) as m:
        lines = parity_lines(model_dir, golden_sentences, bitext_lines)
        ntok = [len(ids) for ids in m.tokenize(lines)]
        keep = sorted((n, i) for i, n in enumerate(ntok) if n <= m.max_length // 2)
        lines = [lines[i] for _, i in keep]
        assert len(lines) > 300 and len(set(n for n, _ in keep)) > 10
        ref = cli_encode(cli, model_dir, lines, tmp_path, "--batch-tokens", "2048")
    with labse.Model(model_dir, device="cpu", threads=1, batch_tokens=2048) as m:
        assert_bitwise(m.encode(lines, normalize=False, batch_size=len(lines)), ref)


def test_encode_equals_cli_default_bitwise(model_dir, cli, golden_sentences, bitext_lines,
                                           tmp_path):
    lines = parity_lines(model_dir, golden_sentences, bitext_lines)  # any order, any length
    ref = cli_encode(cli, model_dir, lines, tmp_path)
    with labse.Model(model_dir, device="cpu", threads=1) as m:
        assert_bitwise(m.encode(lines, normalize=False), ref)


def test_encode_equals_cli_small_windows_bitwise(model_dir, cli, golden_sentences,
                                                 bitext_lines, tmp_path):
    lines = parity_lines(model_dir, golden_sentences, bitext_lines)
    ref = cli_encode(cli, model_dir, lines, tmp_path, "--window", "100", "--batch-tokens", "1000")
    with labse.Model(model_dir, device="cpu", threads=1, window=100, batch_tokens=1000) as m:
        assert_bitwise(m.encode(lines, normalize=False), ref)


def test_tokenize_equals_cli(model_dir, cli, golden_sentences, tmp_path):
    inp = tmp_path / "in.txt"
    inp.write_bytes(b"".join(s + b"\n" for s in golden_sentences))
    out = subprocess.run([cli, "tokenize", "--model", str(model_dir), "--input", str(inp)],
                         check=True, capture_output=True).stdout.decode()
    ref = [[int(x) for x in line.split()] for line in out.splitlines()]
    with labse.Model(model_dir, device="cpu") as m:
        assert m.tokenize(golden_sentences) == ref
        assert m.tokenize([s.decode() for s in golden_sentences]) == ref
        assert m.tokenize(golden_sentences[0]) == ref[0]


# ---- shapes, dtypes, inputs -----------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    with labse.Model(TINY, device="cpu", threads=1) as m:
        yield m


def test_shapes_and_dtypes(tiny):
    texts = ["Hello, world!", "Bonjour le monde !", "Hallo Welt!"]
    e = tiny.encode(texts)
    assert e.shape == (3, tiny.dim) and e.dtype == np.float32 and e.flags.c_contiguous
    one = tiny.encode("Hello, world!")
    assert one.shape == (tiny.dim,) and one.dtype == np.float32
    assert_bitwise(one[None], tiny.encode(["Hello, world!"]))
    # alone vs packed with others: other batch shapes, equal within fp32 rounding
    np.testing.assert_allclose(one, e[0], rtol=0, atol=1e-6)
    h = tiny.encode(texts, dtype=np.float16)
    assert h.dtype == np.float16 and h.shape == e.shape
    assert np.array_equal(h, e.astype(np.float16))
    assert tiny.encode("x", dtype="float16").shape == (tiny.dim,)
    for empty in ([], (), np.array([], dtype=str)):
        z = tiny.encode(empty)
        assert z.shape == (0, tiny.dim) and z.dtype == np.float32
    assert tiny.encode([], dtype=np.float16).dtype == np.float16
    assert tiny.encode(t for t in texts).shape == (3, tiny.dim)  # any iterable
    with pytest.raises(ValueError):
        tiny.encode(texts, dtype=np.float64)
    with pytest.raises(ValueError):
        tiny.encode(texts, batch_size=0)
    with pytest.raises(TypeError):
        tiny.encode(["ok", 3])
    with pytest.raises(TypeError):
        tiny.encode([None])


def test_batch_size_and_progress(tiny, capsys):
    texts = [f"sentence number {i}" for i in range(50)]
    whole = tiny.encode(texts)
    # other chunkings pack other batches: equal within fp32 rounding, not necessarily bitwise
    for bs in (1, 7, 50, 10_000):
        np.testing.assert_allclose(tiny.encode(texts, batch_size=bs), whole, rtol=0, atol=1e-5)
    tiny.encode(texts, batch_size=20, show_progress=True)
    assert "50 / 50 texts" in capsys.readouterr().err


def test_bytes_and_str_agree(tiny):
    s = "Ça va très bien, merci ; où est la bibliothèque ?"
    ref = tiny.encode([s])
    for b in (s.encode(), bytearray(s.encode()), memoryview(s.encode())):
        assert_bitwise(tiny.encode([b]), ref)
    assert_bitwise(tiny.encode(s.encode())[None], ref)
    # lone surrogates are invalid UTF-8 once encoded: repaired to U+FFFD, which is dropped
    assert_bitwise(tiny.encode(["a\udc80b"]), tiny.encode(["ab"]))
    assert tiny.tokenize("a\udc80b") == tiny.tokenize("ab")
    # surrounding whitespace yields no token (sentence-transformers strips)
    assert_bitwise(tiny.encode(["  " + s + "\t\n"]), ref)


def test_normalize_without_normalize_module():
    with labse.Model(TINY_MEAN, device="cpu", threads=1) as m:
        assert m.info()["normalize"] is False
        texts = ["Hello, world!", "Größe, übermäßig", ""]
        raw = m.encode(texts, normalize=False)
        unit = m.encode(texts)
        norms = np.linalg.norm(raw.astype(np.float64), axis=1)
        assert np.all(np.abs(norms - 1) > 1e-3)  # raw really is not unit length
        np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1, atol=1e-6)
        np.testing.assert_allclose(unit, raw / norms[:, None], rtol=0, atol=1e-6)


def test_info_dim_max_length(tiny):
    info = tiny.info()
    assert info["dim"] == tiny.dim == 32
    assert info["max_length"] == tiny.max_length == 128
    assert info["pooling"] == "cls" and info["device"] == "cpu" and info["normalize"] is True
    assert info["layers"] == 2 and info["hidden"] == 64 and info["parameters"] > 0
    assert os.path.exists(info["library"])
    info["dim"] = 0
    assert tiny.dim == 32  # info() returns a copy
    with labse.Model(TINY, device="cpu", max_length=8) as m:
        ids = m.tokenize("word " * 50)
        assert m.max_length == 8 and len(ids) == 8
        assert ids[-1] == m.tokenize("")[-1]  # [SEP] kept on truncation


# ---- errors ---------------------------------------------------------------------------------

def test_errors_raise_labse_error(tmp_path):
    with pytest.raises(labse.LabseError) as e:
        labse.Model(tmp_path / "no-such-model")
    assert e.value.status == labse.E_IO and "no-such-model" in str(e.value)
    assert e.value.status_name and e.value.message == str(e.value)

    broken = tmp_path / "broken"
    shutil.copytree(TINY, broken)
    (broken / "config.json").write_text('{"hidden_size": 64, "num_hidden_layers": ')
    with pytest.raises(labse.LabseError) as e:
        labse.Model(broken)
    assert e.value.status == labse.E_FORMAT and "config.json" in str(e.value)

    (broken / "config.json").write_bytes((TINY / "config.json").read_bytes())
    st = broken / "model.safetensors"
    st.write_bytes(st.read_bytes()[: st.stat().st_size // 2])
    with pytest.raises(labse.LabseError) as e:
        labse.Model(broken)
    assert e.value.status == labse.E_FORMAT

    with pytest.raises(labse.LabseError) as e:
        labse.Model(TINY, threads=-1)
    assert e.value.status == labse.E_INVALID
    with pytest.raises(labse.LabseError) as e:
        labse.Model(TINY, batch_tokens=0)
    assert e.value.status == labse.E_INVALID
    with pytest.raises(ValueError):
        labse.Model(TINY, device="tpu")
    with pytest.raises(ValueError):
        labse.Model(TINY, max_length=0)
    try:
        labse.Model(TINY, device="cuda").close()
    except labse.LabseError as ex:  # a build without the GPU backend, or no GPU
        assert ex.status in (labse.E_UNSUPPORTED, labse.E_CUDA)


def test_closed_model_raises():
    m = labse.Model(TINY, device="cpu")
    m.encode(["a"])
    m.close()
    m.close()  # idempotent
    with pytest.raises(labse.LabseError):
        m.encode(["a"])
    with pytest.raises(labse.LabseError):
        m.tokenize("a")
    assert m.dim == 32  # cached facts stay readable
    with labse.Model(TINY, device="cpu") as m2:
        pass
    with pytest.raises(labse.LabseError):
        m2.encode("a")


# ---- threads --------------------------------------------------------------------------------

def test_concurrent_threads_equal_serial(golden_sentences, bitext_lines):
    texts = golden_sentences + bitext_lines[:400]
    with labse.Model(TINY, device="cpu", threads=1) as m:
        serial = m.encode(texts)
        parts = [texts[i::4] for i in range(4)]
        serial_parts = [m.encode(p) for p in parts]
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            for _ in range(3):
                whole = list(ex.map(lambda _: m.encode(texts), range(4)))
                split = list(ex.map(m.encode, parts))
                toks = list(ex.map(m.tokenize, parts))
                for w in whole:
                    assert_bitwise(w, serial)
                for s, r in zip(split, serial_parts):
                    assert_bitwise(s, r)
                assert toks == [m.tokenize(p) for p in parts]
        assert 1 <= len(m._idle) <= 4  # sessions are pooled, at most one per concurrent call


def test_close_while_encoding_in_other_threads(bitext_lines):
    m = labse.Model(TINY, device="cpu", threads=1)
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        futs = [ex.submit(m.encode, bitext_lines[:2000]) for _ in range(3)]
        m.close()  # running calls finish; the model is freed after the last one
        results = []
        for f in futs:
            try:
                results.append(f.result())
            except labse.LabseError:  # a call that started after close()
                pass
    for r in results:
        assert r.shape == (2000, 32) and np.isfinite(r).all()


# ---- vectorhub compatibility ----------------------------------------------------------------

@pytest.mark.parametrize("path", [pytest.param(TINY, id="tiny-bert"),
                                  pytest.param(MINILM, id="all-MiniLM-L6-v2",
                                               marks=pytest.mark.model)])
def test_labse2vec(path, golden_sentences):
    if not (path / "config.json").exists():
        pytest.skip(f"{path} not found")
    texts = [s.decode() for s in golden_sentences[:20]]
    enc = LaBSE2Vec(str(path))
    v = enc.encode(texts[0])
    assert isinstance(v, list) and len(v) == enc.vector_length and all(type(x) is float for x in v)
    bulk = enc.bulk_encode(texts)
    assert isinstance(bulk, list) and len(bulk) == len(texts)
    assert all(isinstance(r, list) and len(r) == enc.vector_length for r in bulk)
    arr = np.array(bulk, dtype=np.float32)
    np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1, atol=1e-6)
    with labse.Model(path) as m:
        assert_bitwise(arr, m.encode(texts))
        assert_bitwise(np.array([v], dtype=np.float32), m.encode(texts[:1]))
    with pytest.raises(TypeError):
        enc.bulk_encode("one string")
    short = LaBSE2Vec(str(path), max_seq_length=8)
    assert short.max_seq_length == 8
    ids = short.model.tokenize("word " * 50)
    assert len(ids) == 8 and ids[-1] == short.model.tokenize("")[-1]  # keeps [SEP]
    enc.close()
    short.close()


def test_labse2vec_normalizes_without_normalize_module():
    enc = LaBSE2Vec(str(TINY_MEAN))
    v = np.array(enc.bulk_encode(["Hello, world!", "x"]))
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, atol=1e-6)


def test_precision(cli, golden_sentences, tmp_path):
    """precision=: the CPU's values, the clear errors, and bf16 equal to `labse encode
    --precision bf16` bitwise (same batches, one thread) and close to fp32 (the tolerance of
    tests/test_precision.c: bf16 GEMM inputs keep 8 significant bits)."""
    with pytest.raises(ValueError, match="precision"):
        labse.Model(TINY, device="cpu", precision="fp4")
    with pytest.raises(labse.LabseError, match="precision fp16 is not available on device cpu"):
        labse.Model(TINY, device="cpu", precision="fp16")
    with pytest.raises(labse.LabseError, match="precision fp8 is not available on device cpu"):
        labse.Model(TINY, device="cpu", precision="fp8")
    try:
        m16 = labse.Model(TINY, device="cpu", threads=1, precision="bf16")
    except labse.LabseError as e:  # no oneDNN in this build, or no AVX512-BF16 here
        pytest.skip(str(e))
    with m16, labse.Model(TINY, device="cpu", threads=1, precision="fp32") as m32:
        assert m16.precision == "bf16"
        e16, e32 = m16.encode(golden_sentences), m32.encode(golden_sentences)
    assert (e16 * e32).sum(axis=1).min() >= 0.9995
    assert not np.array_equal(e16, e32)  # bf16 really ran
    ref = cli_encode(cli, TINY, golden_sentences, tmp_path, "--precision", "bf16")
    assert e16.tobytes() == ref.tobytes()


def test_blas_info_names_the_kernels_the_cli_names(cli):
    # the same process-wide choice as `labse info` (src/cpu/blas_core.c): under ctypes the
    # library finds its own OpenBLAS (loaded RTLD_LOCAL, beside numpy's), not another one
    with labse.Model(str(TINY), device="cpu") as model:
        model.encode(["hello"])
    info = labse.blas_info()
    assert info.startswith(("OpenBLAS core", "not OpenBLAS")), info
    out = subprocess.run([cli, "info", "-m", str(TINY), "--device", "cpu"], check=True,
                         capture_output=True, text=True).stdout
    assert f"blas: {info}" in out.splitlines()
