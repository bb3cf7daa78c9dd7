#!/usr/bin/env python3
"""labse encode vs sentence-transformers on the same CPU, corpus and checkpoint, in one script.

    python bench/peer_cpu.py MODEL_DIR [--n 2000] [--labse build/labse] [--repeat 2]

Needs the reference stack (torch + sentence-transformers: see tools/requirements-ref.txt);
not part of CI. The corpus is N sentences taken evenly across both columns of every file of
../shared/data/bitext. Both sides use all cores; sentence-transformers sorts by length inside
encode() (its own length bucketing) with batch_size 32. Prints sentences/s and tokens/s of
each, the ratio, and the worst per-sentence cosine between the two outputs as a sanity check.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def corpus(n):
    files = sorted(glob.glob(os.path.join(ROOT, "..", "shared", "data", "bitext", "*.tsv")))
    s = []
    for p in files:
        with open(p, encoding="utf-8") as f:
            for line in f:
                s.extend(line.rstrip("\n").split("\t"))
    return [s[(i * len(s)) // n] for i in range(min(n, len(s)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--labse", default=os.path.join(ROOT, "build", "labse"))
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    sents = corpus(a.n)
    torch.set_num_threads(os.cpu_count())
    st = SentenceTransformer(a.model, device="cpu")
    tokens = int(st.preprocess(sents)["attention_mask"].sum())
    best_st = 1e9
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        ref = st.encode(sents, batch_size=32, convert_to_numpy=True)
        best_st = min(best_st, time.perf_counter() - t0)

    with tempfile.TemporaryDirectory() as d:
        inp, out = os.path.join(d, "in.txt"), os.path.join(d, "out.npy")
        with open(inp, "w", encoding="utf-8") as f:
            f.write("".join(x + "\n" for x in sents))
        best_lb = 1e9
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            subprocess.run([a.labse, "encode", "--model", a.model, "--device", "cpu", "--input",
                            inp, "--output", out, "--quiet"], check=True)
            best_lb = min(best_lb, time.perf_counter() - t0)
        got = np.load(out)
    cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
    print("model %s, %d sentences, %d tokens, %d cores, torch %s" %
          (os.path.basename(a.model.rstrip("/")), len(sents), tokens, os.cpu_count(), torch.__version__))
    print("sentence-transformers: %.2f s  %.1f sentences/s  %.0f tokens/s" %
          (best_st, len(sents) / best_st, tokens / best_st))
    print("labse encode (CLI, incl. model load): %.2f s  %.1f sentences/s  %.0f tokens/s" %
          (best_lb, len(sents) / best_lb, tokens / best_lb))
    print("ratio labse / sentence-transformers: %.2fx   worst cosine %.7f" %
          (best_st / best_lb, cos.min()))


if __name__ == "__main__":
    sys.exit(main())
