#!/usr/bin/env python3
"""Reference outputs (goldens) from PyTorch / sentence-transformers for the C engine's tests.

Needs the torch stack, which tools/setup.sh does not install:

    python3 -m venv .venv-ref && .venv-ref/bin/pip install -r tools/requirements-ref.txt
    tools/setup.sh                                   # models/all-MiniLM-L6-v2, models/labse-random
    .venv-ref/bin/python tools/make_goldens.py       # all models found
    .venv-ref/bin/python tools/make_goldens.py --models tiny-bert tiny-bert-mean

For each model, tests/golden/<model>/ gets
    embeddings.npy  float32 [n, dim]: model.encode(sentences, normalize_embeddings=False);
                    the model's own Normalize module (if any) applies
    tokens.json     a JSON array with one array of input ids per sentence, exactly as the
                    SentenceTransformer tokenises it (its max_seq_length truncation, no padding)
    hidden.npy      tiny models only: float32 [total_tokens, hidden], the last layer's token
                    vectors (auto_model(...).last_hidden_state), each sentence run alone
                    (unpadded), rows in sentence order
    meta.json       model, sha256 of its files, library versions, n, dim, max_seq_length, ...

The sentences are tests/golden/sentences.txt, UTF-8, split on "\\n" only (not on U+2028,
U+0085 etc.), one sentence per line, the file's last "\\n" ends the last line.
`--write-sentences` regenerates that file from the list below plus lines drawn
deterministically from ../shared/data/bitext/.
"""

import argparse
import datetime
import glob
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "tests", "golden")
SENTENCES = os.path.join(GOLDEN, "sentences.txt")
BITEXT = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "bitext"))

MODELS = {
    "tiny-bert": os.path.join(ROOT, "tests", "data", "tiny-bert"),
    "tiny-bert-mean": os.path.join(ROOT, "tests", "data", "tiny-bert-mean"),
    "all-MiniLM-L6-v2": os.path.join(ROOT, "models", "all-MiniLM-L6-v2"),
    "labse-random": os.path.join(ROOT, "models", "labse-random"),
}
HIDDEN_FOR = {"tiny-bert", "tiny-bert-mean"}

# A 650-word line: truncates at 128 (tiny), 256 (LaBSE, MiniLM) and past 512 positions.
_LONG = " ".join(["The quick brown fox jumps over the lazy dog, again and again."] * 54)

HANDCRAFTED = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "HELLO WORLD, THIS IS AN ALL CAPS SENTENCE.",
    "Ça va très bien, merci ; où est la bibliothèque ?",
    "Größe, übermäßig, Straße — naïve café, déjà vu, São Paulo, Ångström.",
    "Zażółć gęślą jaźń; Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "Tiếng Việt có dấu rất đẹp, phải không?",
    "e\u0301cole vs école: decomposed and precomposed accents.",
    "Привет, мир! Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "I have a cat and a dog, i think; na na, на море, Ես է.",
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "שלום עולם! מה שלומך?",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "আমি বাংলায় গান গাই।",
    "யாமறிந்த மொழிகளிலே தமிழ்மொழி போல் இனிதாவது எங்கும் காணோம்.",
    "สวัสดีครับ ยินดีที่ได้รู้จัก",
    "გამარჯობა, მსოფლიო!",
    "Բարեւ աշխարհ։ Ինչպե՞ս ես։",
    "ሰላም ለዓለም። ជំរាបសួរ ສະບາຍດີ မင်္ဂလာပါ བཀྲ་ཤིས་བདེ་ལེགས།",
    "我爱自然语言处理。今天天气很好！",
    "東京は日本の首都です。カタカナとひらがな、ｶﾀｶﾅ（半角）。",
    "안녕하세요, 세계! 한국어 문장입니다.",
    "GPU计算速度very快，テストtest한국어mixed文字",
    "Rare CJK: \U00020000\U00020001 \U0002A700 \U0002B740 \uF900 \u3400 \U0002F800 and \u2F00 radicals.",
    "I \u2764\ufe0f NY \U0001F600\U0001F44D\U0001F3FD \U0001F468\u200D\U0001F469\u200D\U0001F467 \U0001F1EB\U0001F1F7!",
    "Email john.doe@example.com or visit https://example.org/a?b=c&d=e#frag now.",
    "!!!???...;;;:::((([[[{{{}}}]]])))\"'`~@#$%^&*-_=+|\\/<>",
    "«Guillemets» „Anführung“ “quotes” ‘single’ ‹›—–…·•¿¡",
    "In 2024, 3.14159 \u00d7 10^3 = 3141.59; \u221242 \u00b0C, 1,000,000 and \u00bd \u00be \u00b2 \u00b3.",
    "\u20ac100 \u00a350 \u00a51000 $5 \u20b920 \u2211\u222b\u221a\u221e\u2248\u2260\u2264\u2265",
    "",
    "   \t  ",
    "   leading and trailing spaces   ",
    "\ttabs\tinside\tand around\t",
    "no\u00a0break\u00a0spaces and\u3000ideographic\u2003em\u2009thin spaces",
    "zero\u200bwidth, joiner\u200dhere, soft\u00adhyphen, bidi\u202eoverride\u202c, bom\ufeffmark",
    "controls: bell\x07 esc\x1b del\x7f nul-free, private\ue000use, unassigned x\u0378y, replacement\ufffdchar",
    "This has [MASK] and [CLS] inside [SEP] it, plus [UNK] and [PAD].",
    "don't won't l'homme e-mail state-of-the-art U.S.A. 3:30pm",
    "a" * 100 + " exactly one hundred",
    "b" * 101 + " one hundred and one",
    "Supercalifragilisticexpialidocious" * 4 + " then normal words after a 136-char word",
    "Antidisestablishmentarianism floccinaucinihilipilification pneumonoultramicroscopicsilicovolcanoconiosis",
    _LONG,
]


def bitext_lines(n=40):
    """The translation side of the first line of n languages, evenly spaced in sorted order."""
    files = sorted(glob.glob(os.path.join(BITEXT, "*.tsv")))
    if not files:
        sys.exit("no bitext found under %s" % BITEXT)
    out = []
    for k in range(n):
        p = files[(k * len(files)) // n]
        with open(p, encoding="utf-8", newline="") as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if len(cols) >= 2 and cols[1].strip():
                    out.append(cols[1])
                    break
    return out


def write_sentences():
    lines = HANDCRAFTED + bitext_lines()
    for s in lines:
        bad = [c for c in s if c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"]
        assert not bad, "line breaks in a sentence: %r" % s[:40]
    os.makedirs(GOLDEN, exist_ok=True)
    with open(SENTENCES, "w", encoding="utf-8", newline="") as f:
        f.write("".join(s + "\n" for s in lines))
    print("wrote %s: %d lines" % (os.path.relpath(SENTENCES, ROOT), len(lines)))


def read_sentences():
    with open(SENTENCES, encoding="utf-8", newline="") as f:
        text = f.read()
    assert "\r" not in text, "sentences.txt must use \\n line ends only"
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def write_ids(path, ids):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("[\n" + ",\n".join(json.dumps(x, separators=(",", ":")) for x in ids) + "\n]\n")


def golden_for(name, path, sentences, versions):
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from tokenizers import BertWordPieceTokenizer, Tokenizer

    out = os.path.join(GOLDEN, name)
    os.makedirs(out, exist_ok=True)
    model = SentenceTransformer(path, device="cpu")
    model.eval()
    msl = model.max_seq_length

    def ids_of(s):
        f = model.preprocess([s])
        return f["input_ids"][0].tolist()

    ids = [ids_of(s) for s in sentences]
    stripped_differs = [i for i, s in enumerate(sentences) if ids_of(s.strip()) != ids[i]]

    # cross-checks with the tokenizers library alone (what CI has, see tests/tok_parity.py):
    # (a) BertWordPieceTokenizer over the folder's vocab.txt read line by line exactly (see
    #     tools/make_random_model.py on why not WordPiece.from_file) with its
    #     tokenizer_config.json settings, (b) the folder's tokenizer.json if it ships one; truncation set to
    #     max_seq_length, no padding. Both must give the SentenceTransformer's ids.
    with open(os.path.join(path, "tokenizer_config.json"), encoding="utf-8") as f:
        tcfg = json.load(f)
    with open(os.path.join(path, "vocab.txt"), encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    exact = {}
    for i, t in enumerate(lines):
        exact[t[:-1] if t.endswith("\r") else t] = i
    vt = BertWordPieceTokenizer(exact, clean_text=True,
                                handle_chinese_chars=tcfg.get("tokenize_chinese_chars", True),
                                strip_accents=tcfg.get("strip_accents"),
                                lowercase=tcfg.get("do_lower_case", True), wordpieces_prefix="##")
    vt.enable_truncation(msl)
    checks = {"vocab_txt": [e.ids for e in vt.encode_batch(sentences)]}
    tj = os.path.join(path, "tokenizer.json")
    if os.path.exists(tj):
        tk = Tokenizer.from_file(tj)
        tk.no_padding()
        tk.enable_truncation(msl)
        checks["tokenizer_json"] = [e.ids for e in tk.encode_batch(sentences)]
    agree = {}
    for k, got in checks.items():
        agree[k] = got == ids
        if not agree[k]:
            bad = [i for i in range(len(ids)) if got[i] != ids[i]]
            print("  WARNING %s: %s tokenizer differs from SentenceTransformer on lines %s"
                  % (name, k, bad[:10]), file=sys.stderr)

    with torch.no_grad():
        emb = model.encode(sentences, batch_size=16, convert_to_numpy=True,
                           normalize_embeddings=False, show_progress_bar=False)
    emb = np.ascontiguousarray(emb, dtype="<f4")
    np.save(os.path.join(out, "embeddings.npy"), emb)
    write_ids(os.path.join(out, "tokens.json"), ids)

    total_tokens = sum(len(x) for x in ids)
    hidden_shape = None
    if name in HIDDEN_FOR:
        am = model[0].auto_model
        rows = []
        with torch.no_grad():
            for s in sentences:
                f = model.preprocess([s])
                kw = {k: v for k, v in f.items()
                      if k in ("input_ids", "attention_mask", "token_type_ids")}
                rows.append(am(**kw).last_hidden_state[0].float().numpy())
        hid = np.ascontiguousarray(np.concatenate(rows, axis=0), dtype="<f4")
        assert hid.shape[0] == total_tokens
        np.save(os.path.join(out, "hidden.npy"), hid)
        hidden_shape = list(hid.shape)

    files = {}
    for rel in ("model.safetensors", "vocab.txt", "tokenizer.json", "config.json", "modules.json"):
        p = os.path.join(path, rel)
        if os.path.exists(p):
            files[rel] = sha256_file(p)
    for d in sorted(os.listdir(path)):
        p = os.path.join(path, d, "model.safetensors")
        if os.path.isfile(p):
            files[d + "/model.safetensors"] = sha256_file(p)
    norms = np.linalg.norm(emb.astype(np.float64), axis=1)
    meta = {
        "model": name,
        "model_path": os.path.relpath(path, ROOT),
        "modules": [type(m).__name__ for m in model],
        "files_sha256": files,
        "versions": versions,
        "sentences_sha256": sha256_file(SENTENCES),
        "n": len(sentences),
        "dim": int(emb.shape[1]),
        "max_seq_length": msl,
        "total_tokens": total_tokens,
        "hidden_shape": hidden_shape,
        "embedding_norm_min": float(norms.min()),
        "embedding_norm_max": float(norms.max()),
        "tokenizers_lib_agrees": agree,
        "lines_where_strip_changes_ids": stripped_differs,
        "encode": "model.encode(sentences, batch_size=16, convert_to_numpy=True, "
                  "normalize_embeddings=False), device cpu, float32",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    with open(os.path.join(out, "meta.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print("  %s: n=%d dim=%d max_seq_length=%s tokens=%d norms %.6f..%.6f tokenizers lib agrees %s"
          % (name, len(sentences), emb.shape[1], msl, total_tokens, norms.min(), norms.max(), agree))


def main():
    ap = argparse.ArgumentParser(description="write tests/golden/ from PyTorch references")
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--write-sentences", action="store_true",
                    help="regenerate tests/golden/sentences.txt first")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    a = ap.parse_args()

    if a.write_sentences:
        write_sentences()
    import numpy
    import sentence_transformers
    import tokenizers
    import torch
    import transformers
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    versions = {"python": sys.version.split()[0], "torch": torch.__version__,
                "transformers": transformers.__version__,
                "sentence-transformers": sentence_transformers.__version__,
                "tokenizers": tokenizers.__version__, "numpy": numpy.__version__}
    sentences = read_sentences()
    print("%d sentences, %s" % (len(sentences), versions))
    missing = []
    for name in a.models:
        path = MODELS[name]
        if not os.path.exists(os.path.join(path, "modules.json")):
            print("  skip %s: %s not found (tools/setup.sh or tools/make_random_model.py makes it)"
                  % (name, os.path.relpath(path, ROOT)), file=sys.stderr)
            missing.append(name)
            continue
        golden_for(name, path, sentences, versions)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
