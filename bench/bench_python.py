#!/usr/bin/env python3
"""The Python binding's cost next to the CLI, and next to sentence-transformers, in one script.

    python bench/bench_python.py MODEL_DIR [--n 2000] [--threads 2] [--repeat 3]
                                 [--labse build/labse] [--no-st]

Corpus: N sentences taken evenly across both columns of every file of ../shared/data/bitext.
Measured on the same CPU, same model folder, same thread count:

  cli        `labse encode` on the corpus file, minus the same command on an empty file
             (process start + model load), i.e. the encode alone; the CLI runs the streaming
             pipeline (tokenizer threads, length-sorted batches).
  binding    labse.Model(...).encode(list_of_str) — tokenisation on the calling thread,
             batches in input order (labse_encode), rows written into the numpy array.
  st         sentence-transformers SentenceTransformer(MODEL_DIR, device="cpu").encode(...),
             batch_size 32 (its default; it sorts by length itself), torch threads = --threads.
             Only when sentence_transformers is importable (e.g. /work/refvenv); else skipped.

Each figure is the best of --repeat runs (after one warm-up). Tokens are counted with
model.tokenize ([CLS] and [SEP] included). Prints a table and a closeness check of the
binding's rows against the CLI's and sentence-transformers'.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import labse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def corpus(n):
    files = sorted(glob.glob(os.path.join(ROOT, "..", "shared", "data", "bitext", "*.tsv")))
    if not files:
        sys.exit("bench_python: no ../shared/data/bitext/*.tsv")
    s = []
    for p in files:
        with open(p, encoding="utf-8") as f:
            for line in f:
                s.extend(x for x in line.rstrip("\n").split("\t"))
    return [s[(i * len(s)) // n] for i in range(min(n, len(s)))]


def best_of(repeat, fn):
    fn()  # warm-up (page cache, thread pools, allocations)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--labse", default=os.path.join(ROOT, "build", "labse"))
    ap.add_argument("--no-st", action="store_true", help="skip sentence-transformers")
    a = ap.parse_args()

    texts = corpus(a.n)
    t0 = time.perf_counter()
    model = labse.Model(a.model, device="cpu", threads=a.threads)
    load_s = time.perf_counter() - t0
    tokens = sum(len(ids) for ids in model.tokenize(texts))
    print(f"model {a.model}: dim {model.dim}, {len(texts)} sentences, {tokens} tokens, "
          f"threads {a.threads}, labse {labse.__version__} ({labse._lib.path}); "
          f"Model() load {load_s:.3f} s")
    rows = []

    with tempfile.TemporaryDirectory() as tmp:
        inp, empty, out = (os.path.join(tmp, x) for x in ("in.txt", "empty.txt", "out.npy"))
        with open(inp, "w", encoding="utf-8") as f:
            f.writelines(t.replace("\n", " ") + "\n" for t in texts)
        open(empty, "w").close()
        cli_rows = None
        if os.access(a.labse, os.X_OK):
            def run(path):
                subprocess.run([a.labse, "encode", "-q", "--device", "cpu", "--threads",
                                str(a.threads), "--model", a.model, "--input", path,
                                "--output", out], check=True)
            fixed, _ = best_of(a.repeat, lambda: run(empty))
            total, _ = best_of(a.repeat, lambda: run(inp))
            cli_s = max(total - fixed, 1e-9)
            cli_rows = np.load(out)
            rows.append(("labse encode (CLI, minus start+load %.2f s)" % fixed, cli_s))
        else:
            print(f"(no CLI at {a.labse}: skipped the CLI figure)")

        bind_s, emb = best_of(a.repeat, lambda: model.encode(texts))
        rows.append(("labse.Model.encode (binding)", bind_s))

        st_emb = None
        if not a.no_st:
            try:
                import torch
                from sentence_transformers import SentenceTransformer
            except ImportError as e:
                print(f"(sentence-transformers not importable here: {e}; skipped)")
            else:
                torch.set_num_threads(a.threads)
                st = SentenceTransformer(a.model, device="cpu")
                st_s, st_emb = best_of(a.repeat, lambda: st.encode(
                    texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False))
                rows.append((f"sentence-transformers {__import__('sentence_transformers').__version__}"
                             f" (torch {torch.__version__}) encode", st_s))

    print()
    print(f"| what | seconds | sentences/s | tokens/s | vs CLI |")
    print(f"|---|---|---|---|---|")
    cli_s = rows[0][1] if cli_rows is not None else None
    for name, s in rows:
        rel = f"{s / cli_s:.2f}x time" if cli_s else "-"
        print(f"| {name} | {s:.3f} | {len(texts) / s:,.0f} | {tokens / s:,.0f} | {rel} |")
    print()
    if cli_rows is not None:
        print(f"binding vs CLI rows: max |diff| {np.abs(emb - cli_rows).max():.2e}")
    if st_emb is not None:
        st_emb = np.asarray(st_emb, dtype=np.float32)
        cos = np.sum(emb * st_emb, 1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(st_emb, axis=1))
        print(f"binding vs sentence-transformers: worst cosine {cos.min():.7f}")
    model.close()


if __name__ == "__main__":
    main()
