#!/usr/bin/env python3
"""test_perf_model.py — bench/perf_model.py's measured-vs-predicted report, fed through
bench/gpu_measured.py from fake GPU suite logs (standard library only; ctest: perf_model).

The fake logs are written in the formats of build/tests/bench_gpu_kernels (its table row
format, fixed-width kernel column) and bench/run_gpu.sh (its GPU_BENCH line), with figures set
to known multiples of the model's own predictions (imported from perf_model.py), so the
printed measured/predicted must be exactly those multiples (to the 2 decimals printed):
kernels at 2.00 (1.25 for the L=128 attention case; the log's 0.1 us resolution moves the
ratio of the sub-microsecond kernels, and the expected value is computed from the rounded
figure), end to end 0.50 (encoder alone 0.80).
Also: the fused fp16 path's prediction for the bitext stays >= 3.0 M tokens/s on both cards
and is printed; a file marked emulated is listed and not compared; the self-test passes.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(os.path.dirname(HERE), "bench")
sys.path.insert(0, BENCH)
import perf_model as pm  # noqa: E402

CARD, GPU = "H200", "NVIDIA H200"
T = 16384
failures = []


def check(cond, what):
    print("  %s  %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        failures.append(what)


def run(*args):
    r = subprocess.run([sys.executable] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode != 0:
        print(r.stdout)
        sys.exit("test_perf_model: %s exited %d" % (" ".join(args), r.returncode))
    return r.stdout


def kernel_row(name, case, tokens, seqs, us):
    # bench_gpu_kernels.c row(): "%-18s %-16s %6d %5s %10.1f %9.1f %8s"
    return "%-18s %-16s %6d %5s %10.1f %9.1f %8s" % (name, case, tokens, seqs, us, 1000.0, "-")


def main():
    tmp = tempfile.mkdtemp(prefix="test_perf_model.")
    # --- fake bench_gpu_kernels output: measured = 2 x predicted (attention L=128: 1.25 x) ---
    # every name bench_gpu_kernels prints today ("attention" is an older name of "attention tiled")
    names = [(n, k) for n, k in sorted(pm_keys().items()) if n != "attention"]
    lines = ["device: NVIDIA H200 (sm_90, 132 SMs)",
             "%-18s %-16s %6s %5s %10s %9s %8s" % ("kernel", "case", "tokens", "seqs", "us",
                                                   "GB/s", "TFLOP/s")]
    want = {}
    for name, key in names:
        p = pm.predict_launch_us(CARD, "basic", key, T)
        att = name.startswith("attention")
        case = "mix 20-60" if att else "[T,768]"
        lines.append(kernel_row(name, case, T, "410" if att else "-", 2.0 * p))
        want[key] = "%.2f" % (round(2.0 * p, 1) / p)  # the log has 0.1 us resolution
    p128 = pm.predict_launch_us(CARD, "basic", "attention L=128", T)
    lines.append(kernel_row("attention tiled", "L=128", T, "128", 1.25 * p128))
    want["attention L=128"] = "%.2f" % (round(1.25 * p128, 1) / p128)
    lines.append("encoder estimate for one 16384-token batch: 1.0 us")
    klog = os.path.join(tmp, "kernels.log")
    open(klog, "w").write("\n".join(lines) + "\n")

    # --- fake bench/run_gpu.sh output: tokens/s = 0.5 x predicted basic, encoder 0.8 x ---
    doc, wins = pm.load_windows(pm.LENGTHS_FILE)
    pm.MAX_LENGTH, pm.WINDOW = doc["max_length"], doc["window"]
    batches = [b for w in wins for b in pm.pack_window(w, pm.BATCH_TOKENS, pm.MAX_LENGTH)]
    tokens = sum(pm.batch_stats(b)[0] for b in batches)
    _, tot = pm.model(CARD, "basic", batches)
    pred = tokens / tot
    elog = os.path.join(tmp, "e2e.log")
    open(elog, "w").write("== summary\nGPU_BENCH gpu=NVIDIA_H200 device=cuda:0_(NVIDIA_H200) "
                          "sentences=194676 tokens=%d seconds=1 tokens_per_s=%.0f "
                          "sentences_per_s=1 encoder_tokens_per_s=%.0f peer_tokens_per_s=NA "
                          "ratio=NA worst_cosine=NA\n" % (tokens, 0.5 * pred, 0.8 * pred))
    mlog = os.path.join(tmp, "e2e_minilm.log")
    open(mlog, "w").write("GPU_BENCH tokens_per_s=5000000 sentences_per_s=1\n")

    meas = os.path.join(tmp, "gpu_measured.json")
    out = run(os.path.join(BENCH, "gpu_measured.py"), "--out", meas, "--kernels", klog,
              "--e2e", "labse-random:basic:tiled=" + elog,
              "--e2e", "all-MiniLM-L6-v2:fused:short=" + mlog,
              "--e2e", "labse-random:fused:short=" + os.path.join(tmp, "missing.log"),
              "--gpu", GPU, "--commit", "abc1234")
    m = json.load(open(meas))
    print("gpu_measured.py:")
    check(m["format"] == "labse-gpu-measured/1" and m["gpu"] == GPU and not m["emulated"],
          "format, gpu, emulated false")
    check(sorted(r["kernel"] for r in m["kernels"]) == sorted(want),
          "every bench kernel name mapped to a model key (%d rows)" % len(m["kernels"]))
    check([(r["model"], r["path"], r["attn"]) for r in m["e2e"]] ==
          [("labse-random", "basic", "tiled"), ("all-MiniLM-L6-v2", "fused", "short")],
          "end-to-end runs labelled MODEL:PATH:ATTN; a missing log left out")
    check(m["e2e"][0]["peer_tokens_per_s"] is None, "NA -> null")

    rep = run(os.path.join(BENCH, "perf_model.py"), "--measured", meas)
    print("perf_model.py --measured:")
    sec = rep[rep.index("measured vs predicted (%s" % os.path.relpath(meas)):]
    print(sec)
    for key, r in want.items():
        row = [l for l in sec.splitlines() if l[4:22].strip() == key]
        check(len(row) == 1 and row[0].split()[-1] == r, "kernel %s: measured/predicted %s" % (key, r))
    check(want["attention L=128"] == "1.25" and want["gemm_qkv"] == "2.00",
          "the multiples survive the log's rounding where the times are large")
    check("measured/predicted 0.50 (encoder 0.80)" in sec, "end to end: 0.50, encoder alone 0.80")
    check("no prediction" in sec and "all-MiniLM-L6-v2" in sec, "MiniLM run listed, not predicted")
    fused = [l for l in rep.splitlines() if "fused fp16 prediction for the bitext" in l]
    check(len(fused) == 1 and fused[0].count(">= 3.0 M") == len(pm.CARDS),
          "fused fp16 >= 3.0 M tokens/s predicted for the bitext on every card, printed")

    m["emulated"] = True
    json.dump(m, open(meas, "w"))
    rep = run(os.path.join(BENCH, "perf_model.py"), "--measured", meas)
    check("not compared" in rep and "measured/predicted 0.50" not in rep,
          "an emulated file is listed, not compared")
    check("self-test: passed" in run(os.path.join(BENCH, "perf_model.py"), "--self-test"),
          "perf_model.py --self-test")
    print("test_perf_model: %s" % ("passed" if not failures else "%d FAILED" % len(failures)))
    return 1 if failures else 0


def pm_keys():
    sys.path.insert(0, BENCH)
    import gpu_measured
    return gpu_measured.KEYS


if __name__ == "__main__":
    sys.exit(main())
