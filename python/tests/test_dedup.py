"""Model.encode_file(dedup=True) (issue 12 §4): on lines that are mostly duplicates, the rows
are byte-identical to those without dedup, and the duplicates are counted. One line per batch
(batch_tokens=1): a duplicate's first occurrence is encoded in other batches than without
dedup, and the CPU GEMMs are not batch-invariant to the last bit; with one line per batch no
row depends on its batch, so any wrong copy shows (tests/test_dedup.sh explains more)."""
import numpy as np
import pytest

import labse

from conftest import TINY


def test_dedup_rows_equal_plain(tmp_path):
    # 1500 lines, text (7 i) mod 29: 29 distinct lines, each first seen in lines 0..28
    lines = [f"line {(7 * i) % 29} " + "w" * ((7 * i) % 29 % 11) for i in range(1500)]
    (tmp_path / "in.txt").write_text("".join(s + "\n" for s in lines), encoding="utf-8")
    with labse.Model(TINY, device="cpu", threads=1, batch_tokens=1) as m:
        st0 = m.encode_file(tmp_path / "in.txt", tmp_path / "plain.npy", window=200)
        st1 = m.encode_file(tmp_path / "in.txt", tmp_path / "dd.npy", window=200, dedup=True)
        st2 = m.encode_file(tmp_path / "in.txt", tmp_path / "dd5.npy", window=200, dedup=True,
                            dedup_table=5)
        plain = np.load(tmp_path / "plain.npy")
        assert st0["duplicates"] == 0
        assert st1["duplicates"] == 1500 - 29 and st1["lines"] == 1500
        assert np.load(tmp_path / "dd.npy").tobytes() == plain.tobytes()
        # the texts come round every 29 lines: a table of 5 forgets each before it is back
        assert st2["duplicates"] == 0
        assert np.load(tmp_path / "dd5.npy").tobytes() == plain.tobytes()
        with pytest.raises(ValueError):
            m.encode_file(tmp_path / "in.txt", tmp_path / "x.npy", dedup=True, dedup_table=-1)
