#!/usr/bin/env python3
"""ONNX Runtime peer for the CPU precision benchmark (issue 15): the checkpoint's ONNX graph,
built here from safetensors + config.json with the `onnx` helper API and numpy (no torch), ONNX
Runtime's BERT optimiser on it, and int8 dynamic quantisation of the optimised graph.

    /work/venv-ort/bin/python bench/peer_ort.py MODEL_DIR [--cache DIR] [--check N]

needs tools/requirements-ort.txt (onnx, onnxruntime, numpy; not CI's .venv: benchmarks are
not tests). With --check N it builds (or reuses) the graphs, encodes N bitext sentences with
labse fp32 (LABSE_LIBRARY, PYTHONPATH=python) and with each ORT graph, and prints the worst and
mean cosine of each against labse; exit status 1 when ORT fp32 is below MIN_COS_FP32 (the graph
is wrong). bench/bench_precision.py --ort imports this module to time the ORT sides.

What the graph computes (sentence-transformers' modules.json order):
  embeddings: word[input_ids] + token_type[token_type_ids] + position[0..S-1], LayerNorm;
  L encoder layers as HF BertLayer (erf GELU, additive mask -10000 on padded keys, post-LN);
  Pooling (CLS or masked mean, from 1_Pooling/config.json), Dense (+Tanh) when a Dense module
  is listed, L2 Normalize (x / max(|x|, 1e-12)) when a Normalize module is listed.
Its node layout follows what torch.onnx exports for HF BERT (Reshape [0,0,heads,head_dim],
K transposed [0,2,3,1], Div by sqrt(head_dim), mask Unsqueeze-Unsqueeze-Cast-Sub-Mul,
position ids sliced from a [1, max_pos] constant by Shape(input_ids)[1]) because that is the
layout onnxruntime.transformers' fusion patterns match.
"""
import argparse
import hashlib
import json
import os
import struct
import sys
import time

import numpy as np

BUILDER_VERSION = "1"       # bump when the graph changes: invalidates the cached .onnx files
OPSET = 17                  # first opset with LayerNormalization
BATCH = 32                  # sentences per ORT run, as sentence-transformers' encode() default
# ORT fp32 against labse fp32 differs only by summation order and the erf/exp implementations
# (measured: 1.0000000 to 7 places on MiniLM and labse-random); below 0.9999 the graph is wrong.
# The check has teeth on trained weights only: with the mask value planted as -1 instead of
# -10000, MiniLM falls to 0.36 (exit 1), but tiny-bert stays at 0.99994 and an untransposed
# query weight leaves it at 0.9999999 (its random attention is near uniform): check on MiniLM.
MIN_COS_FP32 = 0.9999
# int8 sides: (file suffix, per_channel) for quantize_dynamic, weight type QInt8.
INT8_SIDES = (("int8", False), ("int8pc", True))


def read_safetensors(path):
    """Tensors of one .safetensors file: {name: numpy array (C-contiguous copy)}.

    Reads the 8-byte little-endian header length, the JSON header and the raw little-endian
    data (F32, I64, and F16 widened to float32). The caller owns the arrays.
    """
    dtypes = {"F32": np.float32, "I64": np.int64, "F16": np.float16}
    out = {}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        raw = np.memmap(path, dtype=np.uint8, mode="r")
        for name, t in header.items():
            if name == "__metadata__":
                continue
            if t["dtype"] not in dtypes:
                raise ValueError(f"{path}: {name}: dtype {t['dtype']} not supported")
            a, b = t["data_offsets"]
            arr = np.frombuffer(raw[base + a:base + b], dtype=dtypes[t["dtype"]])
            widen = np.float32 if t["dtype"] == "F16" else dtypes[t["dtype"]]
            out[name] = np.array(arr.reshape(t["shape"]), dtype=widen)
        del raw
    return out


def st_modules(model_dir):
    """sentence-transformers modules of MODEL_DIR: (pooling 'cls'|'mean', dense dir or None,
    normalize bool, dense activation 'tanh'|'identity'). Without modules.json: mean, no Dense,
    no Normalize (sentence-transformers' default for a bare HF checkpoint)."""
    pooling, dense, normalize, act = "mean", None, False, "identity"
    mj = os.path.join(model_dir, "modules.json")
    if not os.path.exists(mj):
        return pooling, dense, normalize, act
    for m in json.load(open(mj)):
        kind = m["type"].rsplit(".", 1)[-1]
        d = os.path.join(model_dir, m.get("path", ""))
        if kind == "Pooling":
            c = json.load(open(os.path.join(d, "config.json")))
            if c.get("pooling_mode_cls_token"):
                pooling = "cls"
            elif c.get("pooling_mode_mean_tokens"):
                pooling = "mean"
            else:
                raise ValueError(f"{d}: only CLS and mean pooling are built")
        elif kind == "Dense":
            dense = d
            c = json.load(open(os.path.join(d, "config.json")))
            a = c.get("activation_function", "torch.nn.modules.linear.Identity")
            if a.endswith("Tanh"):
                act = "tanh"
            elif not a.endswith("Identity"):
                raise ValueError(f"{d}: activation {a} not built")
        elif kind == "Normalize":
            normalize = True
        elif kind != "Transformer":
            raise ValueError(f"{model_dir}: module {kind} not built")
    return pooling, dense, normalize, act


class _G:
    """Graph under construction: nodes and initializers, with unique names. Not thread-safe."""

    def __init__(self):
        from onnx import helper, numpy_helper
        self.h, self.nh = helper, numpy_helper
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, name, arr):
        """Adds initializer NAME (a numpy array, copied into the graph); returns NAME."""
        self.inits.append(self.nh.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type, inputs, **attrs):
        """Adds one node; returns its single output's name."""
        self.n += 1
        out = f"{op_type.lower()}_{self.n}"
        self.nodes.append(self.h.make_node(op_type, list(inputs), [out], name=f"{op_type}_{self.n}",
                                           **attrs))
        return out


def build_graph(model_dir):
    """ONNX ModelProto of MODEL_DIR's full sentence-transformers pipeline (the module docstring
    says which). Inputs input_ids, attention_mask, token_type_ids: int64 [batch, seq]; output
    sentence_embedding: float32 [batch, dim]. Weights are copied into the proto (~4 bytes a
    parameter: 1.9 GB for LaBSE), so save it with external data. Returns (model, config dict).
    """
    from onnx import TensorProto, helper
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    if cfg.get("hidden_act", "gelu") != "gelu" or cfg.get("position_embedding_type",
                                                          "absolute") != "absolute":
        raise ValueError(f"{model_dir}: only BERT with erf GELU and absolute positions is built")
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    w = {k[5:] if k.startswith("bert.") else k: v for k, v in w.items()}
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    dh, eps = H // nh, float(cfg.get("layer_norm_eps", 1e-12))
    g = _G()
    f32 = np.float32

    def linear(x, prefix):  # x [.., in] @ W^T + b; torch's [out, in] weight stored transposed
        m = g.op("MatMul", [x, g.const(prefix + ".weight.T", np.ascontiguousarray(w[prefix + ".weight"].T))])
        return g.op("Add", [m, g.const(prefix + ".bias", w[prefix + ".bias"])])

    def layernorm(x, prefix):
        return g.op("LayerNormalization", [x, g.const(prefix + ".weight", w[prefix + ".weight"]),
                                           g.const(prefix + ".bias", w[prefix + ".bias"])],
                    axis=-1, epsilon=eps)

    # embeddings
    max_pos = w["embeddings.position_embeddings.weight"].shape[0]
    we = g.op("Gather", [g.const("word_embeddings", w["embeddings.word_embeddings.weight"]), "input_ids"])
    te = g.op("Gather", [g.const("token_type_embeddings", w["embeddings.token_type_embeddings.weight"]),
                         "token_type_ids"])
    seq = g.op("Gather", [g.op("Shape", ["input_ids"]), g.const("one_scalar", np.array(1, np.int64))], axis=0)
    seq1 = g.op("Unsqueeze", [seq, g.const("axes0", np.array([0], np.int64))])
    pos_ids = g.op("Slice", [g.const("position_ids", np.arange(max_pos, dtype=np.int64)[None, :]),
                             g.const("zero_1d", np.array([0], np.int64)), seq1,
                             g.const("axes1", np.array([1], np.int64)),
                             g.const("step1", np.array([1], np.int64))])
    pe = g.op("Gather", [g.const("position_embeddings", w["embeddings.position_embeddings.weight"]), pos_ids])
    x = layernorm(g.op("Add", [g.op("Add", [we, te]), pe]), "embeddings.LayerNorm")

    # additive mask [B, 1, 1, S]: 0 on tokens, -10000 on padding
    m4 = g.op("Unsqueeze", [g.op("Unsqueeze", ["attention_mask", "axes1"]),
                            g.const("axes2", np.array([2], np.int64))])
    mask_add = g.op("Mul", [g.op("Sub", [g.const("one_f", np.array(1.0, f32)),
                                         g.op("Cast", [m4], to=TensorProto.FLOAT)]),
                            g.const("mask_value", np.array(-10000.0, f32))])
    heads = g.const("shape_heads", np.array([0, 0, nh, dh], np.int64))
    merge = g.const("shape_merge", np.array([0, 0, H], np.int64))
    scale = g.const("sqrt_head_dim", np.array(np.sqrt(dh), f32))
    sqrt2 = g.const("sqrt2", np.array(np.sqrt(2.0), f32))
    half = g.const("half", np.array(0.5, f32))
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (g.op("Reshape", [linear(x, p + "attention.self." + n), heads])
                   for n in ("query", "key", "value"))
        q = g.op("Transpose", [q], perm=[0, 2, 1, 3])
        k = g.op("Transpose", [k], perm=[0, 2, 3, 1])
        v = g.op("Transpose", [v], perm=[0, 2, 1, 3])
        s = g.op("Add", [g.op("Div", [g.op("MatMul", [q, k]), scale]), mask_add])
        ctx = g.op("MatMul", [g.op("Softmax", [s], axis=-1), v])
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merge])
        x = layernorm(g.op("Add", [linear(ctx, p + "attention.output.dense"), x]),
                      p + "attention.output.LayerNorm")
        u = linear(x, p + "intermediate.dense")
        erf1 = g.op("Add", [g.op("Erf", [g.op("Div", [u, sqrt2])]), "one_f"])
        gelu = g.op("Mul", [g.op("Mul", [u, erf1]), half])
        x = layernorm(g.op("Add", [linear(gelu, p + "output.dense"), x]), p + "output.LayerNorm")

    pooling, dense, normalize, act = st_modules(model_dir)
    if pooling == "cls":
        y = g.op("Gather", [x, g.const("zero_scalar", np.array(0, np.int64))], axis=1)
    else:
        mf = g.op("Cast", [g.op("Unsqueeze", ["attention_mask", "axes2"])], to=TensorProto.FLOAT)
        tot = g.op("ReduceSum", [g.op("Mul", [x, mf]), "axes1"], keepdims=0)
        cnt = g.op("Max", [g.op("ReduceSum", [mf, "axes1"], keepdims=0),
                           g.const("min_count", np.array(1e-9, f32))])
        y = g.op("Div", [tot, cnt])
    dim = H
    if dense:
        dw = read_safetensors(os.path.join(dense, "model.safetensors"))
        w.update({"dense.weight": dw["linear.weight"], "dense.bias": dw["linear.bias"]})
        y = linear(y, "dense")
        dim = dw["linear.weight"].shape[0]
        if act == "tanh":
            y = g.op("Tanh", [y])
    if normalize:
        n = g.op("ReduceL2", [y], axes=[-1], keepdims=1)  # opset 17: axes an attribute
        y = g.op("Div", [y, g.op("Max", [n, g.const("min_norm", np.array(1e-12, f32))])])
    g.nodes.append(helper.make_node("Identity", [y], ["sentence_embedding"], name="output"))

    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
           for n in ("input_ids", "attention_mask", "token_type_ids")]
    outs = [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", dim])]
    graph = helper.make_graph(g.nodes, os.path.basename(os.path.abspath(model_dir)), ins, outs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="labse bench/peer_ort.py")
    return model, cfg


def _stamp(model_dir):
    """Cache key: builder version, ORT/onnx versions, and size + mtime of the weight files."""
    import onnx
    import onnxruntime
    parts = [BUILDER_VERSION, onnx.__version__, onnxruntime.__version__]
    for root, _, files in sorted(os.walk(model_dir)):
        for f in sorted(files):
            if f.endswith((".safetensors", ".json")):
                st = os.stat(os.path.join(root, f))
                parts.append(f"{os.path.relpath(os.path.join(root, f), model_dir)}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def default_cache():
    """$LABSE_ORT_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/labse/ort: derived files, outside the
    tree (LaBSE's graphs take ~5 GB)."""
    return os.environ.get("LABSE_ORT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "labse", "ort")


def export(model_dir, cache=None, log=print):
    """Builds (or reuses from CACHE) MODEL_DIR's graphs; returns {side: path} for sides
    'fp32' (the optimised graph when the optimiser fused Attention, else the plain one),
    'fp32-plain', and the INT8_SIDES (quantize_dynamic of the 'fp32' graph), plus
    'fusions': the optimiser's fused-operator counts. Writes
    CACHE/<model>-<stamp>/{plain,opt,int8,int8pc}.onnx (+ .data external weights, + .ok markers).
    Minutes for LaBSE (1.9 GB written 3 - 4 times); not thread-safe for one CACHE.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    import onnx
    name = os.path.basename(os.path.abspath(model_dir))
    cache = cache or default_cache()
    d = os.path.join(cache, f"{name}-{_stamp(model_dir)}")
    os.makedirs(d, exist_ok=True)
    paths = {s: os.path.join(d, f + ".onnx") for s, f in
             [("fp32-plain", "plain"), ("opt", "opt")] + [(s, s) for s, _ in INT8_SIDES]}

    def save(model, path):
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(path) + ".data", size_threshold=1024)

    def step(marker, what, fn):
        """Runs fn() unless MARKER exists (a step killed half-way leaves no marker and is redone);
        the marker holds fn's JSON result."""
        if not os.path.exists(marker):
            t0 = time.perf_counter()
            res = fn()
            with open(marker + ".tmp", "w") as f:
                json.dump(res, f)
            os.replace(marker + ".tmp", marker)
            log(f"ort: {what} {res or ''} ({time.perf_counter() - t0:.0f} s)")
        return json.load(open(marker))

    def build():
        save(build_graph(model_dir)[0], paths["fp32-plain"])

    cfg = json.load(open(os.path.join(model_dir, "config.json")))

    def optimise():
        # opt_level 0: only the Python fusions, no ORT session on the 1.9 GB graph here; the
        # session that runs the graph applies ORT's own C++ optimisations at load anyway.
        opt = optimize_model(paths["fp32-plain"], model_type="bert", num_heads=cfg["num_attention_heads"],
                             hidden_size=cfg["hidden_size"], opt_level=0)
        fusions = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
        if fusions.get("Attention", 0) == cfg["num_hidden_layers"]:
            opt.save_model_to_file(paths["opt"], use_external_data_format=True)
        return fusions

    step(os.path.join(d, "plain.ok"), "built " + paths["fp32-plain"], build)
    fusions = step(os.path.join(d, "opt.ok"), "optimiser fused", optimise)
    src = paths["opt"] if os.path.exists(paths["opt"]) else paths["fp32-plain"]
    for side, per_channel in INT8_SIDES:
        # onnx's shape inference does not type com.microsoft ops' outputs (Attention, ...):
        # every activation here is float32, which DefaultTensorType says.
        step(os.path.join(d, side + ".ok"), "quantised " + side,
             lambda side=side, pc=per_channel: quantize_dynamic(
                 src, paths[side], weight_type=QuantType.QInt8, per_channel=pc,
                 use_external_data_format=True,
                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT}))
    out = {"fp32": src, "fp32-plain": paths["fp32-plain"], "fusions": fusions}
    out.update({s: paths[s] for s, _ in INT8_SIDES})
    return out


class OrtEncoder:
    """One ONNX Runtime session of one graph, encoding token-id lists.

    threads: intra-op threads (0 = os.cpu_count()); inter-op 1 (the graph is a chain).
    encode(ids) takes list[list[int]] (labse's tokenize(): [CLS] .. [SEP], truncated) and
    returns float32 [n, dim], row i for ids[i]. Batching as sentence-transformers' encode():
    sentences sorted by length (longest first), BATCH a run, each batch padded with id 0 to its
    longest; the mask is 1 on tokens, token_type_ids 0. Not thread-safe (one caller a session).
    """

    def __init__(self, path, threads=0):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or os.cpu_count()
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        # the optimiser may turn int64 inputs into int32 ones, or drop unused ones
        tmap = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
        self.inputs = {i.name: tmap[i.type] for i in self.sess.get_inputs()}

    def encode(self, ids):
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        out = None
        for b in range(0, len(order), BATCH):
            idx = order[b:b + BATCH]
            S = max(len(ids[i]) for i in idx)
            tok = np.zeros((len(idx), S), np.int64)
            mask = np.zeros((len(idx), S), np.int64)
            for r, i in enumerate(idx):
                tok[r, :len(ids[i])] = ids[i]
                mask[r, :len(ids[i])] = 1
            feed = {"input_ids": tok, "attention_mask": mask, "token_type_ids": np.zeros_like(tok)}
            y = self.sess.run(None, {n: feed[n].astype(t) for n, t in self.inputs.items()})[0]
            if out is None:
                out = np.empty((len(ids), y.shape[1]), np.float32)
            out[idx] = y
        return out


def cosines(a, b):
    """Per-row cosine of two [n, d] arrays, in float64: float64 [n]."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--cache", default=None, help="where the graphs go (default: default_cache())")
    ap.add_argument("--check", type=int, default=0, metavar="N",
                    help="compare each graph with labse fp32 on N bitext sentences")
    a = ap.parse_args()
    paths = export(a.model, a.cache)
    print(f"{a.model}: fp32 graph {paths['fp32']}; fusions {paths['fusions']}")
    if not a.check:
        return 0
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from peer_cpu import corpus
    import labse
    sents = corpus(a.check)
    m = labse.Model(a.model, device="cpu", precision="fp32")
    ref = m.encode(sents)
    ids = m.tokenize(sents)
    rc = 0
    for side in ["fp32-plain", "fp32"] + [s for s, _ in INT8_SIDES]:
        c = cosines(OrtEncoder(paths[side]).encode(ids), ref)
        print(f"ORT {side:10s} vs labse fp32: worst cosine {c.min():.7f}, mean {c.mean():.8f}")
        if side.startswith("fp32") and c.min() < MIN_COS_FP32:
            print(f"ORT {side} below {MIN_COS_FP32}: the graph is wrong", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
