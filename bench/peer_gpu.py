#!/usr/bin/env python3
"""The GPU peer: sentence-transformers in fp16 on CUDA, on the same model folder and corpus.

    python3 bench/peer_gpu.py MODEL_DIR CORPUS [--batch-size 1024] [--repeat 2]
                              [--labse-npy ROWS.npy] [--device cuda]

CORPUS: one sentence per line (bench/run_gpu.sh writes it). The model is loaded with
SentenceTransformer(MODEL_DIR, device), then model.half() (fp16 weights and activations, as
labse's GPU encoder stores them). The sentences are sorted by token length (longest first) and
handed to encode() in that order; encode() sorts by length again inside (its own length
bucketing) and cuts batches of --batch-size sentences, each padded to its longest sentence.
The default 1024 sentences is ~16k tokens on the bitext, labse's default token budget.

Tokens are counted with the model's own tokenizer, stripped inputs (sentence-transformers
strips) and its max_seq_length truncation, [CLS] and [SEP] included: the same count as
`labse bench`. sum_len2 (sum of squared lengths) is the attention-FLOP term bench/run_gpu.sh
needs.

Timing: one warm-up encode of 2 batches (CUDA context, cuBLAS handles, kernels), then --repeat
full passes, each between torch.cuda.synchronize() calls, tokenisation and the copy of the
rows to the host included (labse bench's timing includes its tokenisation and the rows' copy
too); the best pass is reported. With --labse-npy (labse's rows for the same corpus, in corpus
order) the worst per-sentence cosine between the two is printed as a sanity check (same
weights, both fp16: expect > 0.99).

Last line, machine-readable: PEER_GPU {json}. Needs torch with CUDA and sentence-transformers
(the GPU machine has both); not part of CI.
"""
import argparse
import json
import os
import sys
import time


def read_lines(path):
    with open(path, encoding="utf-8", newline="\n") as f:
        s = f.read().split("\n")
    if s and s[-1] == "":
        s.pop()
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("corpus")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--labse-npy", default=None)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()

    import numpy as np
    import torch
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("peer_gpu: torch sees no CUDA device", file=sys.stderr)
        return 1
    sents = read_lines(a.corpus)
    st = SentenceTransformer(a.model, device=a.device)
    st.half()
    st.eval()

    # token lengths with the model's tokenizer, truncation as the model does it
    tok = st.tokenizer
    msl = st.max_seq_length
    lens = np.zeros(len(sents), dtype=np.int64)
    step = 8192
    for i in range(0, len(sents), step):
        chunk = [s.strip() for s in sents[i:i + step]]
        ids = tok(chunk, truncation=True, max_length=msl, add_special_tokens=True,
                  return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        lens[i:i + len(chunk)] = [len(x) for x in ids]
    tokens = int(lens.sum())
    sum_len2 = int((lens * lens).sum())

    order = np.argsort(-lens, kind="stable")
    sorted_sents = [sents[i] for i in order]

    def run(texts):
        with torch.inference_mode():
            return st.encode(texts, batch_size=a.batch_size, convert_to_numpy=True,
                             show_progress_bar=False)

    run(sorted_sents[:2 * a.batch_size])  # warm-up
    torch.cuda.synchronize()
    best = float("inf")
    emb = None
    for r in range(a.repeat):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        emb = run(sorted_sents)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        print("peer_gpu: pass %d/%d: %.3f s" % (r + 1, a.repeat, dt), file=sys.stderr)
        best = min(best, dt)

    worst = None
    if a.labse_npy:
        got = np.load(a.labse_npy).astype(np.float64)
        ref = np.empty((len(sents), emb.shape[1]), dtype=np.float64)
        ref[order] = emb.astype(np.float64)
        if got.shape != ref.shape:
            print("peer_gpu: labse rows %s vs peer rows %s" % (got.shape, ref.shape), file=sys.stderr)
        else:
            cos = (got * ref).sum(1) / np.maximum(
                np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1), 1e-30)
            worst = float(cos.min())

    gpu = torch.cuda.get_device_name(0) if a.device.startswith("cuda") else a.device
    res = {
        "model": os.path.basename(a.model.rstrip("/")),
        "sentences": len(sents),
        "tokens": tokens,
        "sum_len2": sum_len2,
        "max_len": int(lens.max()) if len(lens) else 0,
        "seconds": best,
        "tokens_per_s": tokens / best,
        "sentences_per_s": len(sents) / best,
        "batch_size": a.batch_size,
        "dtype": "fp16",
        "gpu": gpu,
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "worst_cosine_vs_labse": worst,
    }
    print("sentence-transformers %s, torch %s, %s, fp16, batch %d: %d sentences, %d tokens, "
          "%.3f s: %.0f sentences/s, %.0f tokens/s%s" %
          (res["sentence_transformers"], res["torch"], gpu, a.batch_size, len(sents), tokens, best,
           res["sentences_per_s"], res["tokens_per_s"],
           "" if worst is None else ", worst cosine vs labse %.6f" % worst))
    print("PEER_GPU " + json.dumps(res, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
