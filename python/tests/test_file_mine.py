"""Model.encode_file and labse.mine against the CLI (`labse encode`, `labse mine`) and
Model.encode: same engine, same bytes."""
import subprocess

import numpy as np
import pytest

import labse

from conftest import TINY


def corpus(golden_sentences):
    return golden_sentences + [b"", b"   ", b"caf\xe9 \xff\xfe ok", b"a\x00b", b"long " * 400]


def write_lines(path, lines):
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def cli_encode(cli, model_dir, inp, out, *extra):
    subprocess.run([cli, "encode", "-q", "--device", "cpu", "--threads", "1", *extra,
                    "--model", str(model_dir), "--input", str(inp), "--output", str(out)],
                   check=True)


def bitwise_equal(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


# ---- encode_file ----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["f32", "f16"])
def test_encode_file_npy_equals_cli_and_encode(model_dir, cli, golden_sentences, tmp_path, fmt):
    lines = corpus(golden_sentences)
    inp = write_lines(tmp_path / "in.txt", lines)
    dtype = np.float32 if fmt == "f32" else np.float16
    cli_encode(cli, model_dir, inp, tmp_path / "cli.npy", "--format", fmt, "--window", "16")
    with labse.Model(model_dir, device="cpu", threads=1, window=16) as m:
        st = m.encode_file(inp, tmp_path / "lib.npy", dtype=dtype, tok_threads=2)
        assert st["lines"] == len(lines) and st["truncated"] >= 1 and st["repaired"] >= 1
        assert not st["already_complete"] and st["tokens"] > 0 and st["seconds"] >= 0
        assert (tmp_path / "lib.npy").read_bytes() == (tmp_path / "cli.npy").read_bytes()
        rows = m.encode(lines, normalize=False, dtype=dtype)
    assert bitwise_equal(np.load(tmp_path / "lib.npy"), rows)


def test_encode_file_folder_equals_cli(cli, golden_sentences, tmp_path):
    lines = corpus(golden_sentences)
    inp = write_lines(tmp_path / "in.txt", lines)
    cli_encode(cli, TINY, inp, str(tmp_path / "cli") + "/", "--part-rows", "25", "--window", "25")
    # windows are also cut at every part_rows-th line: window 25 makes Model.encode cut the same
    with labse.Model(TINY, device="cpu", threads=1, window=25) as m:
        st = m.encode_file(inp, str(tmp_path / "lib") + "/", part_rows=25)
        assert st["lines"] == len(lines)
        cli_parts = sorted(p.name for p in (tmp_path / "cli").glob("part-*.npy"))
        lib_parts = sorted(p.name for p in (tmp_path / "lib").glob("part-*.npy"))
        assert cli_parts == lib_parts and len(lib_parts) == (len(lines) + 24) // 25
        for name in lib_parts:
            assert (tmp_path / "lib" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()
        # an existing folder is a folder output too; a complete one is not redone
        st2 = m.encode_file(inp, tmp_path / "lib", part_rows=25)
        assert st2["already_complete"] and st2["lines"] == 0 and st2["lines_resumed"] == len(lines)
        rows = m.encode(lines)
    got = np.concatenate([np.load(tmp_path / "lib" / n) for n in lib_parts])
    assert bitwise_equal(got, rows)


def test_encode_file_shards_equal_cli(cli, golden_sentences, tmp_path):
    lines = corpus(golden_sentences) * 3
    inp = write_lines(tmp_path / "in.txt", lines)
    with labse.Model(TINY, device="cpu", threads=1) as m:
        for k in range(2):
            cli_encode(cli, TINY, inp, str(tmp_path / "cli") + "/", "--shard", f"{k}/2",
                       "--part-rows", "40")
            m.encode_file(inp, str(tmp_path / "lib") + "/", part_rows=40, shard=(k, 2))
    for d in sorted((tmp_path / "cli").iterdir()):
        for p in sorted(d.glob("part-*.npy")):
            assert (tmp_path / "lib" / d.name / p.name).read_bytes() == p.read_bytes()


def test_encode_file_errors(tmp_path):
    inp = write_lines(tmp_path / "in.txt", [b"hello"])
    with labse.Model(TINY, device="cpu", threads=1) as m:
        with pytest.raises(labse.LabseError) as e:
            m.encode_file(tmp_path / "missing.txt", tmp_path / "o.npy")
        assert "missing.txt" in str(e.value) and e.value.status == labse.E_IO
        with pytest.raises(labse.LabseError):
            m.encode_file(inp, tmp_path / "no" / "such" / "dir" / "o.npy")
        with pytest.raises(labse.LabseError) as e:
            m.encode_file(inp, tmp_path / "o.npy", shard=(0, 2))  # a shard needs a folder
        assert e.value.status == labse.E_INVALID
        for bad in (dict(dtype=np.float64), dict(tok_threads=-1), dict(part_rows=0),
                    dict(window=0), dict(shard=(2, 2)), dict(shard="x")):
            with pytest.raises(ValueError):
                m.encode_file(inp, tmp_path / "o.npy", **bad)
        assert not (tmp_path / "o.npy").exists()
    with pytest.raises(labse.LabseError):
        m.encode_file(inp, tmp_path / "o.npy")  # closed model


# ---- mine -----------------------------------------------------------------------------------

def cli_mine(cli, a_path, b_path, out, *extra):
    subprocess.run([cli, "mine", "-q", *extra, "--src-emb", str(a_path), "--tgt-emb", str(b_path),
                    "-o", str(out)], check=True)
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    return ([r[0] for r in rows], [int(r[1]) for r in rows], [int(r[2]) for r in rows])


@pytest.fixture(scope="module")
def mine_data():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((53, 24)).astype(np.float32)
    b = rng.standard_normal((41, 24)).astype(np.float32)
    b[::2] = a[1:42:2][: len(b[::2])] + 0.1 * rng.standard_normal((len(b[::2]), 24))
    return a, b.astype(np.float32)


@pytest.mark.parametrize("margin", ["ratio", "distance", "absolute"])
@pytest.mark.parametrize("retrieval", ["forward", "backward", "intersect", "max"])
def test_mine_equals_cli(cli, mine_data, tmp_path, margin, retrieval):
    a, b = mine_data
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    thr = {"ratio": 1.05, "distance": 0.05, "absolute": 0.3}[margin]
    for k, threshold in ((4, None), (3, thr)):
        # the same thread count and block size on both sides: the OpenBLAS kernels of other
        # tile shapes round the last bit of a cosine differently
        extra = ["-k", str(k), "-t", "2", "--block-rows", "16", "--margin", margin,
                 "--retrieval", retrieval]
        if threshold is not None:
            extra += ["--threshold", repr(threshold)]
        scores, src, tgt = cli_mine(cli, tmp_path / "a.npy", tmp_path / "b.npy",
                                    tmp_path / "p.tsv", *extra)
        res = labse.mine(a, b, k=k, margin=margin, retrieval=retrieval, threshold=threshold,
                         threads=2, block_rows=16)
        assert res.dtype == labse.PAIR_DTYPE
        assert res["src"].tolist() == src and res["tgt"].tolist() == tgt
        assert [f"{s:.8f}" for s in res["score"]] == scores
        if threshold is not None:
            assert (res["score"] >= threshold).all()
        if retrieval == "forward" and threshold is None:
            assert len(res) == len(a)


def test_mine_converts_input(mine_data):
    a, b = mine_data
    ref = labse.mine(a, b)
    # float64, Fortran order, lists: converted to C-contiguous float32
    got = labse.mine(np.asfortranarray(a.astype(np.float64)), b.tolist())
    assert got.tobytes() == ref.tobytes()
    assert len(labse.mine(a[:3], b, k=10)) > 0  # k lowered to min(ns, nt)
    assert len(labse.mine(a, b, threshold=1e9)) == 0


def test_mine_errors(mine_data):
    a, b = mine_data
    for args, kw in (((a[0], b), {}), ((a, b[:, :5]), {}), ((a[:0], b), {}),
                     ((a, b), dict(margin="cosine")), ((a, b), dict(retrieval="both")),
                     ((a, b), dict(k=0)), ((a, b), dict(threads=-1)),
                     ((a, b), dict(threshold=float("nan"))), ((a, b), dict(block_rows=0))):
        with pytest.raises(ValueError):
            labse.mine(*args, **kw)
    bad = a.copy()
    bad[5, 3] = np.nan
    with pytest.raises(labse.LabseError) as e:
        labse.mine(bad, b)
    assert "row 5" in str(e.value) and e.value.status == labse.E_FORMAT
    bad[5] = 0
    with pytest.raises(labse.LabseError) as e:
        labse.mine(bad, b)
    assert "zero norm" in str(e.value)


def test_encode_file_many_equals_cli(cli, golden_sentences, tmp_path):
    """A list of paths (issue 12 §2): the folder of `labse encode --input A --input B ...`,
    byte for byte; its shards + merge == the CLI's merge; a .npy output is refused."""
    lines = corpus(golden_sentences)
    paths = [write_lines(tmp_path / "a.txt", lines), write_lines(tmp_path / "e.txt", []),
             write_lines(tmp_path / "b.txt", lines * 4)]
    inputs = [a for p in paths for a in ("--input", str(p))]
    subprocess.run([cli, "encode", "-q", "--device", "cpu", "--threads", "1", "--part-rows", "30",
                    "--model", str(TINY), *inputs, "--output", str(tmp_path / "cli") + "/"],
                   check=True)
    with labse.Model(TINY, device="cpu", threads=1) as m:
        for k in range(2):
            st = m.encode_file(paths, str(tmp_path / "lib") + "/", part_rows=30, shard=(k, 2))
            assert st["output"] == str(tmp_path / "lib")
        st = m.encode_file(tuple(paths), tmp_path / "one", part_rows=30)  # no shard
        assert st["lines"] == 5 * len(lines)
        with pytest.raises(labse.LabseError, match="folder output"):
            m.encode_file(paths, tmp_path / "x.npy")
    subprocess.run([cli, "merge", "-q", "--npy", str(tmp_path / "cli.npy"), str(tmp_path / "cli")],
                   check=True)
    subprocess.run([cli, "merge", "-q", "--npy", str(tmp_path / "lib.npy"), str(tmp_path / "lib")],
                   check=True)
    ref = np.load(tmp_path / "cli.npy")
    assert ref.shape[0] == 5 * len(lines)
    assert bitwise_equal(np.load(tmp_path / "lib.npy"), ref)
    cli_files = sorted(p.relative_to(tmp_path / "cli") for p in (tmp_path / "cli").rglob("*"))
    one_files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*"))
    assert cli_files == one_files
    for p in cli_files:
        if (tmp_path / "cli" / p).is_file():
            assert (tmp_path / "one" / p).read_bytes() == (tmp_path / "cli" / p).read_bytes()
