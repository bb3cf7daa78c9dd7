"""Model(device="null") (issue 12 §7): the benchmark device through Python. encode_file writes
one row of zeros per line (the shape of a real run: row i is line i), counts the tokens as a
real run does, and encode returns zero rows; labse.mine refuses "null" (no k-NN there)."""
import numpy as np
import pytest

import labse

from conftest import TINY


def test_null_device_rows_and_counts(tmp_path):
    lines = [f"sentence {i} " + "word " * (i % 13) for i in range(500)]
    (tmp_path / "in.txt").write_text("".join(s + "\n" for s in lines), encoding="utf-8")
    with labse.Model(TINY, device="cpu", threads=1) as cpu:
        ref = cpu.encode_file(tmp_path / "in.txt", tmp_path / "cpu.npy")
        dim = cpu.dim
    with labse.Model(TINY, device="null") as m:
        assert m.info()["device"] == "null"
        st = m.encode_file(tmp_path / "in.txt", tmp_path / "null.npy")
        rows = np.load(tmp_path / "null.npy")
        assert rows.shape == (500, dim) and not rows.any()
        # everything but the encoder ran: the same lines and tokens as the real run
        assert st["lines"] == ref["lines"] == 500 and st["tokens"] == ref["tokens"]
        assert not m.encode(["a", "b"]).any()


def test_null_device_not_for_mining():
    a = np.eye(4, 8, dtype=np.float32)
    with pytest.raises(ValueError):
        labse.mine(a, a, device="null")
