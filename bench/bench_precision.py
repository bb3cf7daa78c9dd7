#!/usr/bin/env python3
"""CPU precision benchmark (issue 15): labse fp32 vs labse bf16 on the same checkpoint and corpus,
in one process, and with --ort ONNX Runtime fp32 and int8 (dynamic quantisation) beside them;
all sides interleaved round by round (the machine is shared; ratios within a round are what to
read), with the worst and mean per-sentence cosine of every side against labse fp32.

    LABSE_LIBRARY=build/liblabse.so PYTHONPATH=python \\
        python bench/bench_precision.py MODEL_DIR [--n 1000] [--rounds 3] [--threads 0] \\
        [--ort [--ort-sides fp32,int8,int8pc] [--ort-cache DIR]]

--ort needs onnx + onnxruntime (tools/requirements-ort.txt; run with that venv's python, e.g.
/work/venv-ort/bin/python): bench/peer_ort.py builds the checkpoint's ONNX graph from its
safetensors (no torch), runs ONNX Runtime's BERT optimiser on it, and quantises the optimised
graph with quantize_dynamic (QInt8 weights; int8 = per-tensor, int8pc = per-channel); the graphs
are cached in --ort-cache (default $LABSE_ORT_CACHE or ~/.cache/labse/ort; minutes to build
and ~5 GB for LaBSE). The ORT sides get labse's own token
ids (labse's tokenizer, inside the timed region as labse's is), sorted by length and run 32
sentences a batch, each padded to its longest (as sentence-transformers' encode()); labse
batches as it always does. The run stops with status 1 when ORT fp32's worst cosine is below
peer_ort.MIN_COS_FP32 (the graph would be wrong, and its timings meaningless).

The corpus is N sentences taken evenly across both columns of every file of
../shared/data/bitext (bench/peer_cpu.py's corpus(), the same sentences as its peers). Every
round encodes all N with each side, the order rotated by one side each round, all cores each.
Prints the load average and tokens/s of each side per round, each side's speed relative to
labse fp32 in that round, the medians, and the worst and mean cosine of each side.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_cpu import corpus  # noqa: E402
from peer_ort import MIN_COS_FP32, cosines  # noqa: E402  (numpy only until --ort)

import labse  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--ort", action="store_true", help="add the ONNX Runtime sides")
    ap.add_argument("--ort-sides", default="fp32,int8,int8pc")
    ap.add_argument("--ort-cache", default=None)
    a = ap.parse_args()
    sents = corpus(a.n)
    m = {p: labse.Model(a.model, device="cpu", threads=a.threads, precision=p)
         for p in ("fp32", "bf16")}
    tok = m["fp32"].tokenize
    tokens = sum(len(t) for t in tok(sents))
    # side name -> function encoding a list of str into float32 [n, dim]
    sides = {"labse-" + p: (lambda s, p=p: m[p].encode(s)) for p in m}
    ort_info = ""
    if a.ort:
        try:
            import onnx  # noqa: F401
            import onnxruntime
        except ImportError as e:
            sys.exit(f"--ort needs onnx and onnxruntime (tools/requirements-ort.txt): {e}")
        import peer_ort
        paths = peer_ort.export(a.model, a.ort_cache)
        for s in a.ort_sides.split(","):
            enc = peer_ort.OrtEncoder(paths[s], a.threads)
            sides["ort-" + s] = lambda x, enc=enc: enc.encode(tok(x))
        ort_info = (f"onnxruntime {onnxruntime.__version__}, graph {os.path.basename(paths['fp32'])}, "
                    f"optimiser fusions {paths['fusions']}")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"commit {commit}, {time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores, {cpu}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}; {labse.blas_info()}")
    if ort_info:
        print(ort_info)
    print(f"{a.model}: {len(sents)} sentences, {tokens} tokens, threads {a.threads or 'all'}")
    names = list(sides)
    for s in names:  # warm-up: first-call allocations, oneDNN kernel generation, ORT arenas
        sides[s](sents[:64])
    emb, rel = {}, {s: [] for s in names}
    for r in range(a.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        load = os.getloadavg()[0]
        sec = {}
        for s in order:
            t0 = time.perf_counter()
            emb[s] = sides[s](sents)
            sec[s] = time.perf_counter() - t0
        for s in names:
            rel[s].append(sec["labse-fp32"] / sec[s])
        print(f"round {r + 1} (load {load:.1f} -> {os.getloadavg()[0]:.1f}): " + "  ".join(
            f"{s} {tokens / sec[s]:.0f} tok/s ({rel[s][-1]:.2f}x)" for s in order))
    print("median speed vs labse-fp32: " + "  ".join(f"{s} {statistics.median(rel[s]):.2f}x" for s in names))
    for s in names:
        if s.startswith("ort-int8"):
            q = [b / o for b, o in zip(rel["labse-bf16"], rel[s])]
            f = [1 / o for o in rel[s]]
            print(f"labse-bf16 / {s}: per round {', '.join(f'{x:.2f}' for x in q)}, median "
                  f"{statistics.median(q):.2f}x; labse-fp32 / {s}: median {statistics.median(f):.2f}x")
    rc = 0
    for s in names[1:]:
        c = cosines(emb[s], emb["labse-fp32"])
        print(f"cosine {s} vs labse-fp32: worst {c.min():.7f}, mean {c.mean():.8f}")
        if s == "ort-fp32" and c.min() < MIN_COS_FP32:
            print(f"ort-fp32 below {MIN_COS_FP32}: the ONNX graph is wrong", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
