#!/usr/bin/env python3
"""gen_tok_exceptions.py — generate src/model/tok_exceptions.h, the per-code-point exceptions that make
the C tokenizer's character classes (computed from utf8proc at run time) equal to those of the
HuggingFace `tokenizers` reference (Rust: `unicode_categories` for is_other / is_punctuation /
is_mark_nonspacing, unicode-normalization-alignments for NFD, std char::to_lowercase and
char::is_whitespace), whose Unicode versions differ from utf8proc's.

Usage:  python tools/gen_tok_exceptions.py [OUT.h]     (default: src/model/tok_exceptions.h)
Needs:  the `tokenizers` package and libutf8proc.so (ctypes). Deterministic output.

The model the C side implements (src/model/tokenizer.c, build_classes), per code point cp:
  drop(cp)  = cp == 0 || cp == 0xFFFD || (utf8proc category in Cc Cf Co Cs, cp not \\t \\n \\r)
              (NOT Cn: the reference keeps unassigned code points), xor other_* exceptions
  ws(cp)    = White_Space (Rust char::is_whitespace), xor ws_* exceptions
  punct(cp) = ASCII 33-47 58-64 91-96 123-126 or utf8proc category P*, xor punct_* exceptions
  mn(cp)    = utf8proc category Mn, xor mn_* exceptions
  nfd(cp)   = exception map, else utf8proc_decompose_char(UTF8PROC_DECOMPOSE)
  lower(cp) = exception map (full mappings, 1..3 code points), else utf8proc_tolower
Each is checked here against the reference for every scalar value before writing.
"""
import ctypes
import ctypes.util
import os
import sys

from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer

WS = set([*range(9, 14), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
          0x202F, 0x205F, 0x3000])
CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
       (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
CN, MN, PC, PO, CC, CF, CS, CO = 0, 6, 12, 18, 26, 27, 28, 29
DECOMPOSE = 1 << 4


def load_utf8proc():
    name = ctypes.util.find_library("utf8proc") or "libutf8proc.so.2"
    u = ctypes.CDLL(name)
    u.utf8proc_category.restype = ctypes.c_int
    u.utf8proc_category.argtypes = [ctypes.c_int32]
    u.utf8proc_tolower.restype = ctypes.c_int32
    u.utf8proc_tolower.argtypes = [ctypes.c_int32]
    u.utf8proc_decompose_char.restype = ctypes.c_ssize_t
    u.utf8proc_decompose_char.argtypes = [ctypes.c_int32, ctypes.POINTER(ctypes.c_int32),
                                          ctypes.c_ssize_t, ctypes.c_int,
                                          ctypes.POINTER(ctypes.c_int)]
    u.utf8proc_version.restype = ctypes.c_char_p
    u.utf8proc_unicode_version.restype = ctypes.c_char_p
    return u


def scalars():
    return [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]


def ranges(cps):
    out = []
    for c in sorted(cps):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "src", "model", "tok_exceptions.h")
    u = load_utf8proc()
    buf = (ctypes.c_int32 * 8)()
    bound = ctypes.c_int(0)

    def nfd_u(cp):
        n = u.utf8proc_decompose_char(cp, buf, 8, DECOMPOSE, ctypes.byref(bound))
        assert 1 <= n <= 8
        return [buf[i] for i in range(n)]

    clean = BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False,
                           lowercase=False)
    chin = BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False,
                          lowercase=False)
    strip = BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True,
                           lowercase=False)
    low = BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=False,
                         lowercase=True)
    pre = BertPreTokenizer()

    cat = {}
    other_keep, other_drop, ws_on, ws_off, punct_on, punct_off = [], [], [], [], [], []
    ref_strip, ref_lower = {}, {}
    for cp in scalars():
        c = chr(cp)
        k = u.utf8proc_category(cp)
        cat[cp] = k
        # clean: '' dropped, ' ' whitespace, c kept
        r = clean.normalize_str(c)
        base_drop = cp == 0 or cp == 0xFFFD or (k in (CC, CF, CS, CO) and cp not in (9, 10, 13))
        ref_drop = r == ""
        if base_drop and not ref_drop:
            other_keep.append(cp)
        if ref_drop and not base_drop:
            other_drop.append(cp)
        base_ws = cp in WS
        # whitespace as seen by the pre-tokenizer (clean_text off there)
        p = [w for w, _ in pre.pre_tokenize_str("a" + c + "b")]
        ref_ws = p == ["a", "b"]
        if ref_drop is False and (r == " ") != ref_ws and cp not in (9, 10, 13):
            raise SystemExit(f"U+{cp:04X}: cleaner and pre-tokenizer disagree on whitespace")
        if base_ws and not ref_ws:
            ws_off.append(cp)
        if ref_ws and not base_ws:
            ws_on.append(cp)
        base_p = (33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126
                  or PC <= k <= PO)
        if not ref_ws:
            ref_p = p == ["a", c, "b"]
            if not ref_p and p != ["a" + c + "b"]:
                raise SystemExit(f"U+{cp:04X}: unexpected pre-tokenization {p!r}")
            if base_p and not ref_p:
                punct_off.append(cp)
            if ref_p and not base_p:
                punct_on.append(cp)
        # CJK ranges are fixed; check them
        in_cjk = any(lo <= cp <= hi for lo, hi in CJK)
        if (chin.normalize_str(c) == f" {c} ") != in_cjk:
            raise SystemExit(f"U+{cp:04X}: CJK range mismatch")
        ref_strip[cp] = [ord(x) for x in strip.normalize_str(c)]
        ref_lower[cp] = [ord(x) for x in low.normalize_str(c)]

    # Mn: from code points that decompose to themselves (in utf8proc), stripped == removed.
    mn_on, mn_off = [], []
    nfd = {}
    for cp in scalars():
        d = nfd_u(cp)
        nfd[cp] = d
        if d == [cp]:
            ref_mn = ref_strip[cp] == []
            base_mn = cat[cp] == MN
            if ref_mn and not base_mn:
                mn_on.append(cp)
            if base_mn and not ref_mn:
                mn_off.append(cp)
    mn_on_s, mn_off_s = set(mn_on), set(mn_off)

    def is_mn(cp):
        return (cat[cp] == MN or cp in mn_on_s) and cp not in mn_off_s

    nfd_exc = {}
    for cp in scalars():
        got = [x for x in nfd[cp] if not is_mn(x)]
        if got != ref_strip[cp]:
            nfd_exc[cp] = ref_strip[cp]
    for cp, seq in nfd_exc.items():  # the override must survive the Mn filter unchanged
        assert all(not is_mn(x) for x in seq), hex(cp)
        assert len(seq) <= 4, hex(cp)

    lower_exc = {}
    for cp in scalars():
        if [u.utf8proc_tolower(cp)] != ref_lower[cp]:
            lower_exc[cp] = ref_lower[cp]
            assert 1 <= len(ref_lower[cp]) <= 3, hex(cp)

    def emit_ranges(f, name, cps, what):
        f.write(f"/* {what}: {len(cps)} code points */\n")
        f.write(f"static const uint32_t {name}[][2] = {{\n")
        rs = ranges(cps)
        for i in range(0, len(rs), 4):
            f.write("    " + " ".join(f"{{0x{a:05X}, 0x{b:05X}}}," for a, b in rs[i:i + 4]) + "\n")
        f.write("    {0xFFFFFFFFu, 0}  /* end */\n};\n\n")

    def emit_map(f, name, m, what):
        f.write(f"/* {what}: {len(m)} entries, sorted by cp */\n")
        f.write(f"static const lb_tokx_map {name}[] = {{\n")
        for cp in sorted(m):
            seq = m[cp]
            vals = ", ".join(f"0x{x:05X}" for x in seq + [0] * (4 - len(seq)))
            f.write(f"    {{0x{cp:05X}, {len(seq)}, {{{vals}}}}},\n")
        f.write("    {0xFFFFFFFFu, 0, {0, 0, 0, 0}}  /* end */\n};\n\n")

    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        import tokenizers
        f.write(f"""/* tok_exceptions.h — GENERATED by tools/gen_tok_exceptions.py; do not edit.
 * Regenerate: python tools/gen_tok_exceptions.py src/model/tok_exceptions.h
 *   (needs the `tokenizers` package, the reference; libutf8proc via ctypes).
 * Made with tokenizers {tokenizers.__version__}, utf8proc {u.utf8proc_version().decode()}
 * (Unicode {u.utf8proc_unicode_version().decode()}).
 * Where the reference's character classes differ from utf8proc's, these tables say what the
 * reference does; src/model/tokenizer.c applies them on top of utf8proc (see the generator's
 * docstring for the exact model). Ranges are inclusive [lo, hi] and end with lo = 0xFFFFFFFF;
 * maps are sorted by cp and end with cp = 0xFFFFFFFF. Included by src/model/tokenizer.c only. */
#ifndef LB_TOK_EXCEPTIONS_H
#define LB_TOK_EXCEPTIONS_H

#include <stdint.h>

typedef struct lb_tokx_map {{
    uint32_t cp;     /* the code point */
    uint32_t n;      /* number of code points it maps to (0..4) */
    uint32_t to[4];  /* the mapping */
}} lb_tokx_map;

""")
        emit_ranges(f, "lb_tokx_other_keep", other_keep,
                    "utf8proc says Cc/Cf/Co/Cs, the reference keeps them (newer Cf)")
        emit_ranges(f, "lb_tokx_other_drop", other_drop,
                    "the reference drops them as control/format, utf8proc does not")
        emit_ranges(f, "lb_tokx_ws_on", ws_on, "whitespace in the reference, not White_Space")
        emit_ranges(f, "lb_tokx_ws_off", ws_off, "White_Space, not whitespace in the reference")
        emit_ranges(f, "lb_tokx_punct_on", punct_on,
                    "punctuation in the reference (older P* tables), not in utf8proc")
        emit_ranges(f, "lb_tokx_punct_off", punct_off,
                    "utf8proc P* (newer Unicode), not punctuation in the reference")
        emit_ranges(f, "lb_tokx_mn_on", mn_on, "Mn in the reference, not in utf8proc")
        emit_ranges(f, "lb_tokx_mn_off", mn_off, "utf8proc Mn (newer), not Mn in the reference")
        emit_map(f, "lb_tokx_nfd", nfd_exc,
                 "NFD in the reference (already free of reference-Mn) where utf8proc differs")
        emit_map(f, "lb_tokx_lower", lower_exc,
                 "full lower-case mapping of the reference (Rust char::to_lowercase) where "
                 "utf8proc_tolower differs")
        f.write("#endif\n")
    os.replace(tmp, out_path)
    print(f"wrote {out_path}: other_keep {len(other_keep)} other_drop {len(other_drop)} "
          f"ws_on {len(ws_on)} ws_off {len(ws_off)} punct_on {len(punct_on)} "
          f"punct_off {len(punct_off)} mn_on {len(mn_on)} mn_off {len(mn_off)} "
          f"nfd {len(nfd_exc)} lower {len(lower_exc)}")


if __name__ == "__main__":
    main()
