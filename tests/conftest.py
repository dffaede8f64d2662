"""Shared fixtures: where the shared data lives, and skipping when it is absent."""

from __future__ import annotations

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEQUENCES = SHARED / "data" / "sequences"
TRAIN_SEQUENCES = SHARED / "data" / "train"
REFERENCE = SHARED / "reference" / "pytracking_atom_seed0"


@pytest.fixture(scope="session")
def sequences_dir() -> pathlib.Path:
    """The five real sequences (OTB, UAV123 and VOT layouts); tests using them skip without ../shared."""
    if not (SEQUENCES / "Crossing" / "groundtruth_rect.txt").is_file():
        pytest.skip(f"real sequences not found at {SEQUENCES} (they come with ../shared beside the repo)")
    return SEQUENCES


@pytest.fixture(scope="session")
def train_sequences_dir() -> pathlib.Path:
    """The 49 training sequences (``NAME/img/00001.jpg``, ``NAME/groundtruth.txt``); skip without ../shared."""
    if not (TRAIN_SEQUENCES / "Biker" / "groundtruth.txt").is_file():
        pytest.skip(f"training sequences not found at {TRAIN_SEQUENCES} (they come with ../shared beside the repo)")
    return TRAIN_SEQUENCES


@pytest.fixture(scope="session")
def reference_dir() -> pathlib.Path:
    """pytracking's own checkpoint and recorded tensors on Crossing; skip without ../shared."""
    if not (REFERENCE / "crossing_frame1.npz").is_file():
        pytest.skip(f"pytracking reference outputs not found at {REFERENCE} (they come with ../shared)")
    return REFERENCE


@pytest.fixture(scope="session")
def torch():
    """PyTorch for parity tests; skipped when it is not installed (it is an optional extra)."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e '.[torch]')")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch
