"""Model.encode_file(format=..., calibration=...): the quantised outputs (issue 12 §5) equal the
CLI's bytes (`labse encode --format`) and numpy applied to the float32 output of the same run
(bf16, ubinary, binary bit for bit; int8 = sentence-transformers' formula with the ranges of the
first window or of a calibration file); shards keep the format and the calibration."""
import numpy as np
import pytest

import labse

from conftest import CLI, TINY
from test_file_mine import cli_encode, corpus, write_lines

FORMATS = ["f32", "f16", "bf16", "int8", "ubinary", "binary"]


def reference(fmt, a, cal=None):
    """numpy's rows of format fmt from the float32 rows a (int8: ranges of cal, saturated)."""
    if fmt == "f32":
        return a
    if fmt == "f16":
        return a.astype(np.float16)
    if fmt == "bf16":
        u = a.view(np.uint32)
        return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")
    if fmt in ("ubinary", "binary"):
        u = np.packbits(a > 0, axis=-1)
        return u if fmt == "ubinary" else (u.astype(np.int16) - 128).astype(np.int8)
    ranges = np.vstack((np.min(cal, axis=0), np.max(cal, axis=0)))
    starts, steps = ranges[0, :], (ranges[1, :] - ranges[0, :]) / 255
    return np.clip((a - starts) / steps - 128, -128, 127).astype(np.int8)


@pytest.fixture(scope="module")
def run(tmp_path_factory, golden_sentences):
    """The input (several windows of 16 lines) and its float32 rows."""
    d = tmp_path_factory.mktemp("formats")
    inp = write_lines(d / "in.txt", corpus(golden_sentences) * 2)
    with labse.Model(TINY, device="cpu", threads=1, window=16) as m:
        m.encode_file(inp, d / "f32.npy")
    return d, inp, np.load(d / "f32.npy")


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_equals_numpy_and_cli(run, fmt):
    d, inp, a = run
    with labse.Model(TINY, device="cpu", threads=1, window=16) as m:
        st = m.encode_file(inp, d / f"{fmt}.npy", format=fmt)
    assert st["lines"] == a.shape[0]
    got = np.load(d / f"{fmt}.npy")
    want = reference(fmt, a, a[:16])  # int8: the first window's ranges
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()
    if CLI:
        cli_encode(CLI, TINY, inp, d / f"cli-{fmt}.npy", "--format", fmt, "--window", "16")
        assert (d / f"cli-{fmt}.npy").read_bytes() == (d / f"{fmt}.npy").read_bytes()


def test_int8_calibration_and_shards(run):
    d, inp, a = run
    cal = d / "cal.npy"
    np.save(cal, a[5:40].astype(np.float16))
    c16 = np.load(cal)
    ranges = np.vstack((c16.min(axis=0), c16.max(axis=0)))  # numpy: float16 steps
    starts, steps = ranges[0], (ranges[1] - ranges[0]) / 255
    want = np.clip((a - starts) / steps - 128, -128, 127).astype(np.int8)
    with labse.Model(TINY, device="cpu", threads=1, window=16) as m:
        m.encode_file(inp, d / "c.npy", format="int8", calibration=cal)
        assert np.load(d / "c.npy").tobytes() == want.tobytes()
        for k in range(2):
            m.encode_file(inp, str(d / "sh") + "/", format="int8", calibration=cal,
                          part_rows=16, shard=(k, 2))
        with pytest.raises(labse.LabseError) as e:  # shards share ranges only with a file
            m.encode_file(inp, str(d / "sh2") + "/", format="int8", shard=(0, 2))
        assert e.value.status == labse.E_INVALID and "calibration" in str(e.value)
        for bad in (dict(format="int4"), dict(format="f16", calibration=cal)):
            with pytest.raises(ValueError):
                m.encode_file(inp, d / "x.npy", **bad)
    parts = sorted((d / "sh").glob("shard-*/part-*.npy"))
    got = np.concatenate([np.load(p) for p in parts])
    assert len(parts) > 2 and got.tobytes() == want.tobytes()
