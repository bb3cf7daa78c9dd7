#!/usr/bin/env python3
"""Write a BERT-family sentence-transformers folder with deterministic random weights.

Needs numpy only (no torch). The bytes written are identical on every machine and every
numpy version: values come from a counter-based hash, never from numpy's RNG streams.

    value[i] of tensor T = splitmix64_finalise(key(seed, T) + (i + 1) * GAMMA)
    key(seed, T)         = splitmix64_finalise(seed * GAMMA ^ fnv1a64(T's name))
    u                    = top 24 bits of value / 2**24            (uniform in [0, 1))
    x                    = mean + (2u - 1) * sqrt(3) * std         (uniform, that mean and std)

computed in uint64 / float64 and rounded once to float32. Keying on the tensor name (not
its position) keeps a tensor's values fixed when other tensors are added or removed.

  weights, embeddings : mean 0, std 0.02
  biases              : mean 0, std 0.02
  LayerNorm weight    : mean 1, std 0.05   (non-trivial gamma)
  LayerNorm bias      : mean 0, std 0.02

Presets
  labse      LaBSE's exact layout and shapes (vocab 501153 from --vocab, 768 hidden, 12 layers,
             CLS pooling, 2_Dense 768->768 tanh, 3_Normalize). ~1.9 GB.
  tiny       2 layers, hidden 64, 4 heads, FFN 128, 128 positions, a ~2,000-piece cased
             vocabulary built here; CLS pooling, Dense 64->32 tanh, Normalize. < 1 MB.
  tiny-mean  the same encoder files as tiny (byte-identical), mean pooling, no Dense, no
             Normalize.
  like       random weights for a folder that has every file but its weights: --out must hold
             a BERT config.json (e.g. all-MiniLM-L6-v2's config, tokenizer and module files,
             as tools/gpu_suite.sh carries them); writes only --out/model.safetensors with its
             shapes (MiniLM: 22.7M parameters, ~90 MB, a few seconds). The folder's own
             tokenizer stays, so tokenisation is the real model's; only the maths is random.

Usage
  tools/make_random_model.py --preset labse --vocab cased_vocab.txt --out models/labse-random
  tools/make_random_model.py --preset tiny      --out tests/data/tiny-bert
  tools/make_random_model.py --preset tiny-mean --out tests/data/tiny-bert-mean
  tools/make_random_model.py --preset like --out DIR_WITH_CONFIG_JSON

A tokenizer.json is written too (with the `tokenizers` library, as the published LaBSE
checkpoint ships one), so that transformers / sentence-transformers tokenise these folders the
way they tokenise the real one. Its WordPiece vocabulary maps each vocab.txt line, exactly as
written (only the line end removed), to its line number: the reading of transformers' Python
load_vocab, of TF's lookup table that LaBSE was trained with, and of a tokenizer.json made by
transformers 4.x. (tokenizers' WordPiece.from_file instead trims trailing Unicode spaces, so
LaBSE's line 332924 "a\u00a0" would take "a" from id 170; we do not follow that.)

The safetensors files are written by hand: 8-byte little-endian header length, a JSON
header padded with spaces to a multiple of 8, then F32 little-endian data, tensors in
sorted-name order, keys without the "bert." prefix (as sentence-transformers saves them).
"""

import argparse
import json
import os
import shutil
import struct
import sys
import time

import numpy as np

GAMMA = 0x9E3779B97F4A7C15
M1 = 0xBF58476D1CE4E5B9
M2 = 0x94D049BB133111EB
MASK64 = (1 << 64) - 1
CHUNK = 1 << 22  # elements generated per step (32 MiB of uint64 scratch)


# ---------------------------------------------------------------------------------------------
# counter-based random numbers
# ---------------------------------------------------------------------------------------------

def _fin_int(z):
    """splitmix64 finaliser on a Python int (exact 64-bit arithmetic)."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * M1) & MASK64
    z = ((z ^ (z >> 27)) * M2) & MASK64
    return z ^ (z >> 31)


def _fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def tensor_key(seed, name):
    return _fin_int(((seed * GAMMA) & MASK64) ^ _fnv1a64(name))


def uniform_block(key, start, count):
    """float64 uniforms in [0,1) for element indices start .. start+count-1 of a tensor."""
    i = np.arange(start + 1, start + count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(key) + i * np.uint64(GAMMA)
        z ^= z >> np.uint64(30)
        z *= np.uint64(M1)
        z ^= z >> np.uint64(27)
        z *= np.uint64(M2)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(40)).astype(np.float64) * (1.0 / (1 << 24))


def tensor_chunks(seed, name, n, mean, std):
    """Yield the float32 little-endian values of one tensor, CHUNK elements at a time."""
    key = tensor_key(seed, name)
    half_width = np.sqrt(3.0) * std
    for start in range(0, n, CHUNK):
        count = min(CHUNK, n - start)
        u = uniform_block(key, start, count)
        x = mean + (2.0 * u - 1.0) * half_width
        yield x.astype("<f4")


def init_of(name):
    """(mean, std) for a tensor name."""
    if "LayerNorm" in name and name.endswith(".weight"):
        return 1.0, 0.05
    return 0.0, 0.02


# ---------------------------------------------------------------------------------------------
# safetensors writer
# ---------------------------------------------------------------------------------------------

def write_safetensors(path, specs, seed):
    """specs: list of (name, shape). Writes F32 tensors, streamed tensor by tensor."""
    specs = sorted(specs, key=lambda s: s[0])
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, shape in specs:
        nbytes = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for name, shape in specs:
            mean, std = init_of(name)
            for block in tensor_chunks(seed, name, int(np.prod(shape)), mean, std):
                f.write(block.tobytes())
    os.replace(tmp, path)
    return off + 8 + len(hj)


def bert_specs(c, with_pooler=True):
    H, I, V, P, T = c["hidden_size"], c["intermediate_size"], c["vocab_size"], \
        c["max_position_embeddings"], c["type_vocab_size"]
    s = [
        ("embeddings.word_embeddings.weight", (V, H)),
        ("embeddings.position_embeddings.weight", (P, H)),
        ("embeddings.token_type_embeddings.weight", (T, H)),
        ("embeddings.LayerNorm.weight", (H,)),
        ("embeddings.LayerNorm.bias", (H,)),
    ]
    for l in range(c["num_hidden_layers"]):
        p = "encoder.layer.%d." % l
        for m in ("query", "key", "value"):
            s += [(p + "attention.self.%s.weight" % m, (H, H)), (p + "attention.self.%s.bias" % m, (H,))]
        s += [
            (p + "attention.output.dense.weight", (H, H)),
            (p + "attention.output.dense.bias", (H,)),
            (p + "attention.output.LayerNorm.weight", (H,)),
            (p + "attention.output.LayerNorm.bias", (H,)),
            (p + "intermediate.dense.weight", (I, H)),
            (p + "intermediate.dense.bias", (I,)),
            (p + "output.dense.weight", (H, I)),
            (p + "output.dense.bias", (H,)),
            (p + "output.LayerNorm.weight", (H,)),
            (p + "output.LayerNorm.bias", (H,)),
        ]
    if with_pooler:
        s += [("pooler.dense.weight", (H, H)), ("pooler.dense.bias", (H,))]
    return s


# ---------------------------------------------------------------------------------------------
# the tiny vocabulary
# ---------------------------------------------------------------------------------------------

TINY_WORDS = """
the of and to in is was for on that with as by at from it be are this an or not which have
has had were but all can will one their they we there been more when who so if out would up
about into time only new some could them other than then its also after two over first
where most made these may many such like over between each through under world year years
people state city school part used known during before three life while found back well
work use name same called both several including later since number however world house
game day long make way under still film team season group until four high end family
government around end home against another series since small following because without
right left good great old place music war water book system during early week word words
language languages sentence sentences translation model data text file files line lines
open close window program error value default size show display set get user users color
hello world test testing tested tests token tokens unknown quick brown fox jumps lazy dog
run running runs ran walk walked walking play played playing player players read reading
write writing written encode encoder decoding embedding embeddings vector vectors
""".split()

TINY_CAPWORDS = """The A An In It This That We They He She I You On For When If What How
Hello World English French German Spanish Russian Chinese Japanese London Paris Berlin
GNOME KDE Linux Windows Firefox Google""".split()

TINY_SUFFIXES = """s es ed d ing ly er ers est tion tions sion ment ments ness ity ies ive al ally
able ible ful less ous ism ist ists ize ized ise ised ian ing's n't 's re ve ll th nd st rd
un re pre dis ent ant ence ance ic ical ure age ship hood""".split()

ACCENTED = "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßÀÁÂÄÅÆÇÈÉÊÖØÜÑčćđšžłńśźżőűăîşţ"
GREEK = "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΘΛΞΠΣΦΨΩ"
CYRILLIC = "абвгдежзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИКЛМНОПРСТУФХЦЧШЩЭЮЯ"
CYR_WORDS = "привет мир это и в не на я что он как по Москва".split()
CJK = "一二三四五六七八九十中国人日本语文大小我你他是的不了在有上下年月天学生"
KANA = "あいうえおかきくけこさしすせそたちつてとなにぬねのはまやらわをんアイウエオカキクケコ"
HANGUL = "한국어가나다라마"
OTHER = "€£¥©®°±×÷–—‘’“”…•→"


def tiny_vocab():
    v = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    seen = set(v)

    def add(t):
        if t and t not in seen:
            seen.add(t)
            v.append(t)

    ascii_punct = [chr(c) for c in range(33, 127) if not chr(c).isalnum()]
    for c in ascii_punct:
        add(c)
    for c in "0123456789":
        add(c)
    for c in "0123456789":
        add("##" + c)
    for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
        add(c)
    for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
        add("##" + c)
    for w in TINY_WORDS:
        add(w)
    for w in TINY_CAPWORDS:
        add(w)
    for s in TINY_SUFFIXES:
        add("##" + s)
    for n in range(10, 100):
        add(str(n))
    for n in (100, 1000, 2000, 2020, 2024):
        add(str(n))
    for ch in ACCENTED + GREEK + CYRILLIC:
        add(ch)
        add("##" + ch)
    for w in CYR_WORDS:
        add(w)
    for ch in CJK + KANA + HANGUL + OTHER:
        add(ch)
    for ch in KANA + HANGUL:
        add("##" + ch)
    # every lowercase bigram as a continuation piece: longest-match has real choices to make
    letters = "abcdefghijklmnopqrstuvwxyz"
    for a in letters:
        for b in letters:
            add("##" + a + b)
    return v


# ---------------------------------------------------------------------------------------------
# folder layout
# ---------------------------------------------------------------------------------------------

SPECIAL = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
           "cls_token": "[CLS]", "mask_token": "[MASK]"}


def bert_config(H, L, NH, I, P, V, name):
    return {
        "_name_or_path": name,
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "gradient_checkpointing": False,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": H,
        "initializer_range": 0.02,
        "intermediate_size": I,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": P,
        "model_type": "bert",
        "num_attention_heads": NH,
        "num_hidden_layers": L,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "transformers_version": "4.30.0",
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": V,
    }


def write_json(path, obj, indent=2):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False)
        f.write("\n")


def write_tokenizer_json(path, vocab_lines):
    """The HF fast tokenizer of a cased BERT folder, vocabulary = exact vocab.txt lines."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors, decoders
    from tokenizers.models import WordPiece

    vocab = {}
    for i, t in enumerate(vocab_lines):
        vocab[t] = i  # a later duplicate wins, as in transformers' load_vocab
    tk = Tokenizer(WordPiece(vocab=vocab, unk_token=SPECIAL["unk_token"],
                             max_input_chars_per_word=100, continuing_subword_prefix="##"))
    tk.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                               strip_accents=None, lowercase=False)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = SPECIAL["cls_token"], SPECIAL["sep_token"]
    tk.post_processor = processors.BertProcessing((sep, vocab[sep]), (cls, vocab[cls]))
    tk.decoder = decoders.WordPiece(prefix="##")
    tk.add_special_tokens([SPECIAL[k] for k in ("pad_token", "unk_token", "cls_token",
                                                "sep_token", "mask_token")])
    tk.save(path)


def write_folder(out, cfg, vocab_lines, vocab_src, pooling, dense, normalize, max_seq_length,
                 model_max_length, seed, name):
    """Lay out a sentence-transformers folder. Returns {relative path: bytes written}."""
    os.makedirs(out, exist_ok=True)
    written = {}

    write_json(os.path.join(out, "config.json"), cfg)
    if vocab_src is not None:
        shutil.copyfile(vocab_src, os.path.join(out, "vocab.txt"))
    else:
        with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(t + "\n" for t in vocab_lines))
    tok_cfg = {"do_lower_case": False, **SPECIAL, "tokenize_chinese_chars": True,
               "strip_accents": None, "model_max_length": model_max_length,
               "do_basic_tokenize": True, "never_split": None,
               "tokenizer_class": "BertTokenizer", "clean_up_tokenization_spaces": True}
    write_json(os.path.join(out, "tokenizer_config.json"), tok_cfg)
    write_tokenizer_json(os.path.join(out, "tokenizer.json"), vocab_lines)
    write_json(os.path.join(out, "special_tokens_map.json"), SPECIAL)
    write_json(os.path.join(out, "sentence_bert_config.json"),
               {"max_seq_length": max_seq_length, "do_lower_case": False})
    write_json(os.path.join(out, "config_sentence_transformers.json"),
               {"__version__": {"sentence_transformers": "2.2.2", "transformers": "4.30.0",
                                "pytorch": "2.0.1"},
                "prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine"})

    H = cfg["hidden_size"]
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    write_json(os.path.join(out, "1_Pooling", "config.json"), {
        "word_embedding_dimension": H,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
    idx = 2
    if dense is not None:
        d_in, d_out = dense
        path = "%d_Dense" % idx
        modules.append({"idx": idx, "name": str(idx), "path": path,
                        "type": "sentence_transformers.models.Dense"})
        os.makedirs(os.path.join(out, path), exist_ok=True)
        write_json(os.path.join(out, path, "config.json"), {
            "in_features": d_in, "out_features": d_out, "bias": True,
            "activation_function": "torch.nn.modules.activation.Tanh"})
        written[path + "/model.safetensors"] = write_safetensors(
            os.path.join(out, path, "model.safetensors"),
            [("linear.weight", (d_out, d_in)), ("linear.bias", (d_out,))], seed + 1)
        idx += 1
    if normalize:  # "dir": also create the (empty) folder; "nodir": modules.json only
        path = "%d_Normalize" % idx
        modules.append({"idx": idx, "name": str(idx), "path": path,
                        "type": "sentence_transformers.models.Normalize"})
        if normalize == "dir":
            os.makedirs(os.path.join(out, path), exist_ok=True)
        idx += 1
    write_json(os.path.join(out, "modules.json"), modules)

    written["model.safetensors"] = write_safetensors(
        os.path.join(out, "model.safetensors"), bert_specs(cfg), seed)
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", required=True, choices=["labse", "tiny", "tiny-mean", "like"])
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--vocab", help="vocab.txt to use (required for labse: LaBSE's cased_vocab.txt)")
    ap.add_argument("--seed", type=int, default=20200703)
    a = ap.parse_args(argv)

    t0 = time.time()
    if a.preset == "like":
        if a.vocab:
            ap.error("--vocab is not for --preset like (the folder's tokenizer stays)")
        with open(os.path.join(a.out, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
        n = write_safetensors(os.path.join(a.out, "model.safetensors"), bert_specs(cfg), a.seed)
        print("make_random_model: %s/model.safetensors  %d bytes" % (a.out, n))
        print("make_random_model: preset like (%s: %d layers x %d), %.1f s" %
              (cfg.get("_name_or_path", "?"), cfg["num_hidden_layers"], cfg["hidden_size"],
               time.time() - t0))
        return
    if a.preset == "labse":
        if not a.vocab:
            ap.error("--preset labse needs --vocab (LaBSE's cased_vocab.txt, 501153 lines)")
        with open(a.vocab, encoding="utf-8", newline="") as f:
            vocab = f.read().split("\n")
        if vocab and vocab[-1] == "":
            vocab.pop()
        vocab = [t.rstrip("\r") for t in vocab]
        cfg = bert_config(768, 12, 12, 3072, 512, len(vocab), "labse-random")
        if len(vocab) != 501153:
            print("warning: vocabulary has %d entries, LaBSE's has 501153" % len(vocab), file=sys.stderr)
        written = write_folder(a.out, cfg, vocab, a.vocab, "cls", (768, 768), "dir", 256, 512,
                               a.seed, "labse-random")
    else:
        vocab = tiny_vocab()
        if a.vocab:
            ap.error("--vocab is only for --preset labse")
        cfg = bert_config(64, 2, 4, 128, 128, len(vocab), "tiny-bert")
        if a.preset == "tiny":
            written = write_folder(a.out, cfg, vocab, None, "cls", (64, 32), "nodir", 128, 128,
                                   a.seed, "tiny-bert")
        else:
            written = write_folder(a.out, cfg, vocab, None, "mean", None, False, 128, 128,
                                   a.seed, "tiny-bert")
    dt = time.time() - t0
    for k, v in written.items():
        print("make_random_model: %s/%s  %d bytes" % (a.out, k, v))
    print("make_random_model: preset %s, vocab %d, %.1f s" % (a.preset, len(vocab), dt))


if __name__ == "__main__":
    main()
