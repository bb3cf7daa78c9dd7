#!/usr/bin/env python3
"""gpu_measured.py — gather the GPU suite's measured figures into one JSON file, the input of
bench/perf_model.py's "measured vs predicted" (--measured). Standard library only.

    bench/gpu_measured.py --out FILE [--kernels LOG] [--e2e LABEL=LOG ...] [--gpu NAME]
                          [--commit C] [--emulated]

  --kernels LOG      the output of build/tests/bench_gpu_kernels (its table: kernel, case,
                     tokens, seqs, us, GB/s, TFLOP/s; the kernel column is 18 characters wide,
                     names may hold a space)
  --e2e LABEL=LOG    the output of bench/run_gpu.sh (its last GPU_BENCH key=value line), once
                     per run; LABEL is MODEL:PATH:ATTN, e.g. labse-random:basic:tiled (the
                     LABSE_GPU_PATH and LABSE_GPU_ATTN the suite set for that run; "default"
                     when unset)

The file (format "labse-gpu-measured/1"):

    {"format": "labse-gpu-measured/1", "date": "2026-12-10", "commit": "83f242b",
     "gpu": "NVIDIA H200", "emulated": false,
     "kernels": [{"kernel": "gemm_qkv", "bench_name": "gemm qkv", "case": "768x2304",
                  "tokens": 16384, "seqs": null, "us_per_launch": 61.2}, ...],
     "e2e": [{"model": "labse-random", "path": "basic", "attn": "tiled",
              "tokens_per_s": 2300000, "sentences_per_s": 165000, "encoder_tokens_per_s": ...,
              "peer_tokens_per_s": ..., "ratio": ..., "worst_cosine": ...,
              "sentences": 194676, "tokens": 2708363}, ...]}

"kernel" is perf_model.py's key for the bench's name (gemm qkv -> gemm_qkv, bias_act gelu ->
bias_act, ...; "attention tiled" -> attention (the basic path's kernel), "attention short" ->
attention_short (the fused path's, kernels/attention_short.cu); an attention row is the bench's "mix 20-60" case, the one of the packed bitext;
its L=128 / L=512 cases keep their name with the case appended). Values the log lacks (NA) are
null. A missing or unreadable log leaves its part empty; the file is always written.
"""
import argparse
import datetime
import json
import sys

FORMAT = "labse-gpu-measured/1"

# bench_gpu_kernels' names -> perf_model.py's kernel keys (the basic path's kernels)
KEYS = {
    "embed_layernorm": "embed_ln", "attention": "attention", "attention tiled": "attention",
    "attention short": "attention_short", "add_layernorm": "add_layernorm",
    "bias_act gelu": "bias_act", "pool": "pool", "l2norm_out": "l2norm", "gemm qkv": "gemm_qkv",
    "gemm attn-out": "gemm_out", "gemm ffn-up": "gemm_up", "gemm ffn-down": "gemm_down",
}


def num(s):
    try:
        v = float(s)
    except (TypeError, ValueError):
        return None
    return v if v == v else None  # NaN -> None


def parse_kernels(text):
    """Rows of bench_gpu_kernels' table: [{kernel, bench_name, case, tokens, seqs, us}]."""
    rows, in_table = [], False
    for line in text.splitlines():
        if line.startswith("kernel ") and "TFLOP/s" in line:
            in_table = True
            continue
        if not in_table or len(line) < 20:
            continue
        name, rest = line[:18].strip(), line[19:].split()
        if name not in KEYS or len(rest) < 5:
            continue
        # case may hold spaces ("mix 20-60"): the last five fields are the numbers
        case = " ".join(rest[:-5])
        tokens, seqs, us = rest[-5], rest[-4], rest[-3]
        key = KEYS[name]
        if name.startswith("attention") and case != "mix 20-60":
            key = "attention %s" % case
        rows.append({"kernel": key, "bench_name": name, "case": case,
                     "tokens": int(num(tokens) or 0), "seqs": None if seqs == "-" else int(seqs),
                     "us_per_launch": num(us)})
    return rows


def parse_e2e(label, text):
    """The last GPU_BENCH line of a bench/run_gpu.sh log, labelled MODEL:PATH:ATTN."""
    kv = {}
    for line in text.splitlines():
        if line.startswith("GPU_BENCH "):
            kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
    if not kv:
        return None
    model, path, attn = (label.split(":") + ["default", "default"])[:3]
    out = {"model": model, "path": path or "default", "attn": attn or "default"}
    for k in ("tokens_per_s", "sentences_per_s", "encoder_tokens_per_s", "peer_tokens_per_s",
              "ratio", "worst_cosine", "peak_fraction", "sentences", "tokens", "seconds"):
        out[k] = num(kv.get(k))
    out["device"] = kv.get("device", "").replace("_", " ")
    return out


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        print("gpu_measured: %s" % e, file=sys.stderr)
        return ""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--kernels")
    ap.add_argument("--e2e", action="append", default=[], metavar="LABEL=LOG")
    ap.add_argument("--gpu", default="")
    ap.add_argument("--commit", default="")
    ap.add_argument("--emulated", action="store_true")
    a = ap.parse_args(argv)
    doc = {"format": FORMAT, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
           "commit": a.commit, "gpu": a.gpu, "emulated": a.emulated, "kernels": [], "e2e": []}
    if a.kernels:
        doc["kernels"] = parse_kernels(read(a.kernels))
    for spec in a.e2e:
        label, _, log = spec.partition("=")
        row = parse_e2e(label, read(log)) if log else None
        if row:
            doc["e2e"].append(row)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("gpu_measured: %d kernel rows, %d end-to-end runs -> %s" %
          (len(doc["kernels"]), len(doc["e2e"]), a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
