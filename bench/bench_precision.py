#!/usr/bin/env python3
"""CPU precision benchmark (issue 15): labse fp32 vs labse bf16 on the same checkpoint and corpus,
in one process, the two sides interleaved round by round (the machine is shared; ratios within
a round are what to read), with the worst per-sentence cosine of bf16 against fp32.

    LABSE_LIBRARY=build/liblabse.so PYTHONPATH=python \\
        python bench/bench_precision.py MODEL_DIR [--n 1000] [--rounds 3] [--threads 0]

The corpus is N sentences taken evenly across both columns of every file of
../shared/data/bitext (bench/peer_cpu.py's corpus(), the same sentences as its peers). Every
round encodes all N in fp32 then in bf16 (odd rounds in the other order), all cores each.
Prints tokens/s of each side per round, the per-round ratio, the median ratio, and the worst
and mean cosine. ONNX Runtime is not measured here: no ORT script or package in this tree.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_cpu import corpus  # noqa: E402

import labse  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    sents = corpus(a.n)
    m = {p: labse.Model(a.model, device="cpu", threads=a.threads, precision=p)
         for p in ("fp32", "bf16")}
    tokens = sum(len(t) for t in m["fp32"].tokenize(sents))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"commit {commit}, {time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores, {cpu}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}")
    print(f"{a.model}: {len(sents)} sentences, {tokens} tokens, threads {a.threads or 'all'}")
    for p in m:  # warm-up: first-call allocations, oneDNN kernel generation
        m[p].encode(sents[:64])
    emb, ratios = {}, []
    for r in range(a.rounds):
        order = ("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")
        sec = {}
        for p in order:
            t0 = time.perf_counter()
            emb[p] = m[p].encode(sents)
            sec[p] = time.perf_counter() - t0
        ratios.append(sec["fp32"] / sec["bf16"])
        print(f"round {r + 1}: fp32 {tokens / sec['fp32']:8.0f} tokens/s  bf16 "
              f"{tokens / sec['bf16']:8.0f} tokens/s  bf16/fp32 {ratios[-1]:.2f}x")
    a32, a16 = emb["fp32"].astype(np.float64), emb["bf16"].astype(np.float64)
    cos = (a32 * a16).sum(1) / np.linalg.norm(a32, axis=1) / np.linalg.norm(a16, axis=1)
    print(f"median bf16/fp32 {statistics.median(ratios):.2f}x; cosine bf16 vs fp32: worst "
          f"{cos.min():.6f}, mean {cos.mean():.7f}")


if __name__ == "__main__":
    main()
