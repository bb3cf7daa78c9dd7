#!/usr/bin/env bash
# test_python.sh install|run BUILD_DIR SRC_DIR [pytest args...]
#
# The Python package, tested as a user gets it: `pip install SRC_DIR` (scikit-build-core builds
# liblabse.so from the same tree) into a throwaway venv BUILD_DIR/pyenv (no system site
# packages), then pytest python/tests against the installed module.
#
#   install  create/refresh the venv (pinned numpy, pytest, scikit-build-core from PyPI, once;
#            idempotent) and (re)install the package from SRC_DIR. When the venv cannot get
#            its packages (no network, no python3-venv) it records why in BUILD_DIR/pyenv.skip
#            and exits 0, so that `run` skips (77) instead of failing.
#   run      pytest with the given args (e.g. -m "not model"); 77 when install recorded a skip.
#
# Environment passed to pytest: LABSE_CLI (the CLI built in BUILD_DIR, for the bitwise
# parity tests), LABSE_SRC_DIR, LABSE_MODELS_DIR, LABSE_SHARED_DIR (from the caller).
# LABSE_PY_SKIP=reason makes `install` record a skip (used for sanitizer builds, where the
# wheel's library would not be the instrumented one under test).
set -euo pipefail
MODE="$1" BUILD="$2" SRC="$3"
shift 3
VENV="$BUILD/pyenv"
SKIP="$BUILD/pyenv.skip"
PINS=(numpy==2.4.6 pytest==9.2.0 scikit-build-core==1.1.2)

case "$MODE" in
install)
  rm -f "$SKIP"
  if [ -n "${LABSE_PY_SKIP:-}" ]; then echo "$LABSE_PY_SKIP" >"$SKIP"; echo "SKIP: $LABSE_PY_SKIP"; exit 0; fi
  PY3="$(command -v python3 || true)"
  [ -n "$PY3" ] || { echo "no python3" >"$SKIP"; echo "SKIP: no python3"; exit 0; }
  if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.pins" 2>/dev/null)" != "${PINS[*]}" ]; then
    rm -rf "$VENV"
    if ! "$PY3" -m venv "$VENV" >/dev/null 2>&1; then
      rm -rf "$VENV"; echo "python3 -m venv failed (python3-venv missing)" >"$SKIP"; cat "$SKIP"; exit 0
    fi
    if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input "${PINS[@]}"; then
      rm -rf "$VENV"; echo "cannot pip install ${PINS[*]} (offline?)" >"$SKIP"; cat "$SKIP"; exit 0
    fi
    echo "${PINS[*]}" >"$VENV/.pins"
  fi
  # --no-build-isolation: build with the venv's pinned scikit-build-core (no download per
  # run); a persistent build dir in BUILD_DIR makes re-installs incremental.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input \
    --no-build-isolation --no-deps --force-reinstall -C build-dir="$BUILD/pywheel" "$SRC"
  "$VENV/bin/python" -c 'import labse, sys; print("installed labse", labse.__version__, "with", labse._lib.path)'
  ;;
run)
  if [ -f "$SKIP" ]; then echo "SKIP: $(cat "$SKIP")"; exit 77; fi
  [ -x "$VENV/bin/python" ] || { echo "FAIL: no venv at $VENV (run the python_install test first)"; exit 1; }
  export LABSE_CLI="$BUILD/labse" LABSE_SRC_DIR="$SRC"
  # run from outside the source tree so that `import labse` is the installed package
  cd "$BUILD"
  set +e
  "$VENV/bin/python" -m pytest -p no:cacheprovider -c "$SRC/pyproject.toml" --rootdir "$SRC" \
    "$SRC/python/tests" "$@"
  rc=$?
  set -e
  [ "$rc" -eq 5 ] && { echo "SKIP: no test selected"; exit 77; }  # pytest: no tests collected
  exit "$rc"
  ;;
*) echo "usage: test_python.sh install|run BUILD_DIR SRC_DIR [pytest args]" >&2; exit 2 ;;
esac
