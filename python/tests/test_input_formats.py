"""Model.encode_file on compressed and structured input (issue 12 §1, §3): the rows of a
gzip / xz file equal those of the plain text, bit for bit; a TSV column and a JSONL field give
the rows of the plain text of that column / field; a bad record raises LabseError naming the
file and line, or is an empty line with on_bad_record="empty"."""
import gzip
import json
import lzma

import numpy as np
import pytest

import labse

from conftest import TINY


def lines_of(golden_sentences):
    return golden_sentences + [b"", b"caf\xc3\xa9 ok", b"tab\\tless"]


def encode(m, inp, out, **kw):
    st = m.encode_file(inp, out, tok_threads=2, **kw)
    return st, np.load(out)


def test_compressed_equals_plain(golden_sentences, tmp_path):
    text = b"".join(s + b"\n" for s in lines_of(golden_sentences))
    (tmp_path / "in.txt").write_bytes(text)
    (tmp_path / "in.gz").write_bytes(gzip.compress(text))
    (tmp_path / "in.xz").write_bytes(lzma.compress(text))
    with labse.Model(TINY, device="cpu", threads=1) as m:
        _, ref = encode(m, tmp_path / "in.txt", tmp_path / "ref.npy")
        for name in ("in.gz", "in.xz"):
            st, got = encode(m, tmp_path / name, tmp_path / (name + ".npy"))
            assert st["lines"] == ref.shape[0] and got.tobytes() == ref.tobytes(), name


def test_tsv_and_jsonl_fields(golden_sentences, tmp_path):
    # no tab inside a TSV field: the golden sentences' tabs become spaces
    texts = [s.decode("utf-8", "replace").replace("\t", " ") for s in lines_of(golden_sentences)]
    (tmp_path / "plain.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    (tmp_path / "in.tsv").write_text("".join(f"id{i}\t{t}\tx\n" for i, t in enumerate(texts)),
                                     encoding="utf-8")
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps({"id": i, "meta": {"text": t}}) + "\n" for i, t in enumerate(texts)),
        encoding="utf-8")
    with labse.Model(TINY, device="cpu", threads=1) as m:
        _, ref = encode(m, tmp_path / "plain.txt", tmp_path / "ref.npy")
        _, tsv = encode(m, tmp_path / "in.tsv", tmp_path / "tsv.npy", tsv_column=2)
        _, js = encode(m, tmp_path / "in.jsonl", tmp_path / "js.npy", jsonl_field="meta.text")
        assert tsv.tobytes() == ref.tobytes() and js.tobytes() == ref.tobytes()
        with pytest.raises(labse.LabseError) as e:
            m.encode_file(tmp_path / "in.jsonl", tmp_path / "bad.npy", jsonl_field="meta.nope")
        assert "in.jsonl: line 1:" in str(e.value) and "meta.nope" in str(e.value)
        st, rows = encode(m, tmp_path / "in.tsv", tmp_path / "bad.npy", tsv_column=4,
                          on_bad_record="empty")
        assert st["bad_records"] == len(texts)
        assert np.array_equal(rows, np.repeat(rows[:1], len(texts), axis=0))  # all empty lines
        for bad in (dict(tsv_column=0), dict(jsonl_field=""), dict(on_bad_record="skip"),
                    dict(tsv_column=1, jsonl_field="a")):
            with pytest.raises(ValueError):
                m.encode_file(tmp_path / "in.tsv", tmp_path / "o.npy", **bad)
