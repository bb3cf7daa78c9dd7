#!/usr/bin/env python3
"""tok_parity.py — the C tokenizer (through tests/tok_dump) against the HuggingFace
`tokenizers` reference (BertWordPieceTokenizer: BertNormalizer, BertPreTokenizer, WordPiece
with max_input_chars_per_word 100 and [UNK], [CLS] $A [SEP], the added special tokens,
truncation to max_len).

  tok_parity.py --tok-dump EXE --vocab FILE [--lower] [--strip-accents -1|0|1]
                --suite bitext|codepoints|special [--bitext DIR] [--max-len N]

Suites:
  bitext      every column of every line of every DIR/*.tsv (raw bytes to C, the same bytes
              decoded with errors="replace" to the reference);
  codepoints  every Unicode scalar value (surrogates excluded) as "<cp>", "a<cp>b", "<cp>x"
              and "x <cp><cp>";
  special     hand-picked edge cases (empty, spaces, long words, truncation, NUL, invalid
              UTF-8 of each kind, scripts, special tokens in the text).
Exit 0 when every text gives the same ids, 1 with a diff report otherwise, 77 (skip) when
tokenizers or the vocabulary is missing. Needs only `tokenizers` and the standard library.
"""
import argparse
import glob
import os
import subprocess
import sys


def read_vocab(path):
    """vocab.txt as the published checkpoints' tokenizer.json has it (transformers' Python
    load_vocab): line i is piece i verbatim, '\n' or '\r\n' ends a line, a later duplicate
    wins. (tokenizers' WordPiece.from_file would also trim trailing whitespace.)"""
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    vocab = {}
    for i, line in enumerate(lines):
        vocab[line[:-1] if line.endswith("\r") else line] = i
    return vocab


def load_reference(vocab, lower, strip, max_len):
    from tokenizers import BertWordPieceTokenizer
    tok = BertWordPieceTokenizer(read_vocab(vocab), clean_text=True, handle_chinese_chars=True,
                                 strip_accents=None if strip < 0 else bool(strip),
                                 lowercase=lower, wordpieces_prefix="##")
    if max_len:
        tok.enable_truncation(max_len)
    else:
        tok.no_truncation()
    return tok


def run_c(args, texts, hexmode):
    """texts: list of bytes (no b'\\n' unless hexmode). Returns list of id lists."""
    cmd = [args.tok_dump, "--vocab", args.vocab, "--max-len", str(args.max_len),
           "--strip-accents", str(args.strip_accents)]
    if args.lower:
        cmd.append("--lower")
    if hexmode:
        cmd.append("--hex")
        data = b"".join(t.hex().encode() + b"\n" for t in texts)
    else:
        for t in texts:
            assert b"\n" not in t and not t.endswith(b"\r")
        data = b"".join(t + b"\n" for t in texts)
    p = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace"))
        raise SystemExit(f"tok_dump failed with exit code {p.returncode}")
    out = p.stdout.decode().split("\n")
    assert out[-1] == ""
    out = out[:-1]
    if len(out) != len(texts):
        raise SystemExit(f"tok_dump printed {len(out)} lines for {len(texts)} texts")
    return [[int(x) for x in line.split()] for line in out]


def run_ref(tok, texts):
    strs = [t.decode("utf-8", errors="replace") for t in texts]
    out = []
    step = 1 << 16
    for i in range(0, len(strs), step):
        out.extend(e.ids for e in tok.encode_batch(strs[i:i + step]))
    return out


def compare(args, tok, texts, labels, hexmode=False, chunk=1 << 18):
    """Compare C and reference on texts (list of bytes); labels[i] names text i. Works in
    chunks of `chunk` texts to bound memory. Returns (texts compared, texts differing)."""
    inv = {i: s for s, i in tok.get_vocab().items()}
    bad = 0
    for c0 in range(0, len(texts), chunk):
        part = texts[c0:c0 + chunk]
        bad = compare_part(args, tok, inv, part, labels[c0:c0 + chunk], hexmode, bad)
    return len(texts), bad


def compare_part(args, tok, inv, texts, labels, hexmode, bad):
    got = run_c(args, texts, hexmode)
    want = run_ref(tok, texts)
    for i, (g, w) in enumerate(zip(got, want)):
        if g == w:
            continue
        bad += 1
        if bad <= args.show:
            k = next((j for j in range(min(len(g), len(w))) if g[j] != w[j]), min(len(g), len(w)))
            lo = max(0, k - 3)
            print(f"DIFF {labels[i]}: text {texts[i][:200]!r}")
            print(f"  first difference at id #{k} (C {len(g)} ids, HF {len(w)} ids)")
            print(f"  C : {g[lo:k + 5]}  {[inv.get(x, '?') for x in g[lo:k + 5]]}")
            print(f"  HF: {w[lo:k + 5]}  {[inv.get(x, '?') for x in w[lo:k + 5]]}")
    return bad


def suite_bitext(args, tok):
    files = sorted(glob.glob(os.path.join(args.bitext, "*.tsv")))
    if not files:
        print(f"no *.tsv under {args.bitext}")
        return 0, 1
    texts, labels = [], []
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for ln, line in enumerate(lines, 1):
            if line.endswith(b"\r"):
                line = line[:-1]
            for col, text in enumerate(line.split(b"\t"), 1):
                if text.endswith(b"\r"):
                    continue  # only a line's trailing '\r' is removed; keep the C input exact
                texts.append(text)
                labels.append(f"{os.path.basename(f)}:{ln} column {col}")
    n, bad = compare(args, tok, texts, labels)
    print(f"bitext: {len(files)} files, {n} texts, {bad} differ")
    return n, bad


def suite_codepoints(args, tok):
    texts, labels = [], []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp).encode("utf-8")
        for form in (c, b"a" + c + b"b", c + b"x", b"x " + c + c):
            texts.append(form)
            labels.append(f"U+{cp:04X}")
    n, bad = compare(args, tok, texts, labels, hexmode=True)
    print(f"codepoints: {n} texts ({n // 4} scalar values x 4 forms), {bad} differ")
    return n, bad


def special_cases():
    t = []
    t += [b"", b" ", b"   ", b"\t\t", b"\r", b"\n", b" \n \r\n ", b"\x00", b"a\x00b", b"\x00\x00x"]
    t += [b"a" * 99, b"a" * 100, b"a" * 101, b"\xc3\xa9" * 100, b"\xc3\xa9" * 101,
          b"x " + b"b" * 100 + b" y", b"x " + b"b" * 101 + b" y", ("ab" * 60).encode(),
          ("\u00e9" * 50 + "e\u0301" * 25).encode(), b"ab" * 50 + b"!" + b"c" * 100]
    # truncation inside words at 256 and 512, and exactly at the limit
    word = "internationalization "
    for n in (100, 200, 254, 255, 256, 300, 510, 511, 512, 600):
        t.append(("x " * n).encode())
        t.append((word * (n // 5)).encode())
    t.append(("antidisestablishmentarianism" * 3 + " ") .encode() * 60)
    # invalid UTF-8 of each kind
    t += [b"\x80", b"\xbf", b"a\x80b", b"\xc0\xaf", b"\xc1\xbf", b"\xc2", b"a\xc2", b"\xc2a",
          b"\xe0\x80\x80", b"\xe0\xa0", b"\xe0\xa0a", b"\xe1\x80", b"\xed\xa0\x80", b"\xed\xbf\xbf",
          b"\xed\x9f\xbf", b"\xef\xbf\xbf", b"\xf0\x80\x80\x80", b"\xf0\x90\x80", b"\xf0\x90",
          b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\xfe\xff",
          b"caf\xe9 au lait", b"na\xefve", b"\xe2\x82", b"\xe2\x82\xac", b"x\xe2\x82y\xe2\x82\xacz",
          b"\xf0\x9f\x98", b"\xf0\x9f\x98\x80", b"ab\xf0\x9f\x98cd", b"\xc3\x28", b"\xa0\xa1",
          b"\xe2\x28\xa1", b"\xe2\x82\x28", b"\xf0\x28\x8c\xbc", b"\xf0\x90\x28\xbc",
          b"\xf0\x28\x8c\x28", b"\xf8\xa1\xa1\xa1\xa1", b"\xfc\xa1\xa1\xa1\xa1\xa1",
          b"\xef\xbf\xbd", b"a\xef\xbf\xbdb", b"Hello \xff world \xc3"]
    # scripts, CJK, emoji, combining marks
    t += [s.encode() for s in [
        "Hello, world!", "don't stop-believing...", "$100.00 (approx.) #1 @home ~x^y|z`",
        "你好世界，我爱北京天安门。", "日本語のテキストです", "한국어 텍스트 입니다", "𠀀𠀁𪜀𫝀𫠠𬺰丽",
        "㐀㐁 䶵 〇 ㆒ ㇀ 々", "emoji 😀😃 👍🏽 👨‍👩‍👧 🇫🇷 ❤️", "e\u0301 a\u0300 o\u0308 n\u0303",
        "ภาษาไทยเป็นภาษาที่ไม่มีการเว้นวรรค", "العربية لغة جميلة، أليس كذلك؟", "हिन्दी भाषा — देवनागरी।",
        "עברית ﬠ", "Ελληνικά ΐ ΰ", "Русский язык, ёлка", "İstanbul ıi İI", "Straße ß ẞ",
        "ǅ ǈ ǋ ǲ", "ﬁ ﬂ ﬀ", "Ⅻ ⅻ ①", "½ ² ³", "\u00a0nbsp\u2009thin\u3000ideo\u200bzw\u200d\ufeff",
        "\u2028line\u2029para\u0085nel", "soft\u00adhyphen", "\ue000private\U000f0000",
        "\u0378unassigned\U000e0001tag", "a\u1fefb", "\u1e9b\u0323", "a\U0001D16D\U0001D165b",
        "\u0f73\u0f75\u0f81", "\u0344", "Å Å Å", "\u212b", "\u0130\u0307", "ΣΑΣ σας",
        "Ꭰ ꭰ", "\U00010400 \U00010428", "A\u0308\u0304b", "\u00c5\u0327", "\u1100\u1161\u11a8",
        "각 \uac01", "[MASK] [CLS] [SEP] [PAD] [UNK]", "x[MASK]y", "[mask] [MAS K] [[MASK]]",
        "[CLS][SEP][PAD]", "a[UNK]b", "[\x00MASK]", "  [MASK]  ",
    ]]
    return t


def suite_special(args, tok):
    texts = special_cases()
    labels = [f"special #{i}" for i in range(len(texts))]
    n, bad = compare(args, tok, texts, labels, hexmode=True)
    print(f"special: {n} texts, {bad} differ")
    return n, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tok-dump", required=True)
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--lower", action="store_true")
    ap.add_argument("--strip-accents", type=int, default=-1)
    ap.add_argument("--suite", choices=["bitext", "codepoints", "special"], required=True)
    ap.add_argument("--bitext", default="")
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--show", type=int, default=20, help="differences to print")
    args = ap.parse_args()
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        print("SKIP: the tokenizers package is not installed")
        return 77
    if not os.path.isfile(args.vocab):
        print(f"SKIP: no vocabulary at {args.vocab}")
        return 77
    if not os.access(args.tok_dump, os.X_OK):
        print(f"tok_dump not found at {args.tok_dump}")
        return 1
    tok = load_reference(args.vocab, args.lower, args.strip_accents, args.max_len)
    cfg = f"lower={args.lower} strip_accents={args.strip_accents} max_len={args.max_len}"
    print(f"vocab {args.vocab} ({tok.get_vocab_size()} pieces), {cfg}")
    if args.suite == "bitext":
        n, bad = suite_bitext(args, tok)
    elif args.suite == "codepoints":
        n, bad = suite_codepoints(args, tok)
    else:
        n, bad = suite_special(args, tok)
    if bad:
        print(f"FAIL: {bad} of {n} texts differ")
        return 1
    print(f"OK: {n} texts identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
