"""Fixtures of the labse package tests.

Environment (set by tests/test_python.sh; defaults suit a checkout with tools/setup.sh run):
  LABSE_SRC_DIR     the repository (tests/data, tests/golden)         default: ../.. from here
  LABSE_MODELS_DIR  models made by tools/setup.sh                      default: SRC/models
  LABSE_SHARED_DIR  the shared folder (data/bitext)                    default: SRC/../shared
  LABSE_CLI         the `labse` CLI built from the same tree (the CLI-parity tests skip without)
"""
import os
import pathlib

import pytest

SRC = pathlib.Path(os.environ.get("LABSE_SRC_DIR", pathlib.Path(__file__).resolve().parents[2]))
MODELS = pathlib.Path(os.environ.get("LABSE_MODELS_DIR", SRC / "models"))
SHARED = pathlib.Path(os.environ.get("LABSE_SHARED_DIR", SRC.parent / "shared"))
CLI = os.environ.get("LABSE_CLI", "")

TINY = SRC / "tests" / "data" / "tiny-bert"            # CLS -> Dense -> Normalize
TINY_MEAN = SRC / "tests" / "data" / "tiny-bert-mean"  # mean pooling, no Normalize
MINILM = MODELS / "all-MiniLM-L6-v2"


def _model_param(path, marks=()):
    return pytest.param(path, id=path.name, marks=list(marks))


MODEL_PARAMS = [
    _model_param(TINY),
    _model_param(TINY_MEAN),
    _model_param(MINILM, marks=[pytest.mark.model]),
]


@pytest.fixture(params=MODEL_PARAMS)
def model_dir(request):
    p = request.param
    if not (p / "config.json").exists():
        pytest.skip(f"{p} not found (tools/setup.sh installs it)")
    return p


@pytest.fixture(scope="session")
def golden_sentences():
    return (SRC / "tests" / "golden" / "sentences.txt").read_bytes().split(b"\n")[:-1]


@pytest.fixture(scope="session")
def bitext_lines():
    """Up to 6,000 lines (both sides) taken evenly across every language of the corpus."""
    d = SHARED / "data" / "bitext"
    files = sorted(d.glob("*.tsv")) if d.is_dir() else []
    if not files:
        pytest.skip(f"no bitext corpus in {d}")
    out = []
    for f in files:
        lines = f.read_bytes().split(b"\n")
        for line in lines[:: max(1, len(lines) // 28)][:28]:
            out.extend(line.split(b"\t"))
    return out[:6000]


@pytest.fixture
def cli():
    if not CLI or not os.access(CLI, os.X_OK):
        pytest.skip("LABSE_CLI not set to the labse CLI")
    return CLI
