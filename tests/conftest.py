"""Shared fixtures: where the shared data lives, and skipping when it is absent; one JAX compilation cache
for the test session and its subprocesses, kept between runs."""

from __future__ import annotations

import os
import pathlib
import shutil
import sys
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEQUENCES = SHARED / "data" / "sequences"
TRAIN_SEQUENCES = SHARED / "data" / "train"
REFERENCE = SHARED / "reference" / "pytracking_atom_seed0"

CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"
# Where the test suite keeps compiled programs between runs: a folder, or "temp" for one removed at the end.
TEST_CACHE_ENV = "ATOM_JAX_TEST_CACHE"
TEST_CACHE_MAX_BYTES = 1024**3  # beyond this at the start of a run, the oldest programs go (down to half)
_CACHE_KEY = pytest.StashKey[str]()


def default_cache_folder() -> str:
    """The default folder of the suite's compilation cache: ``$XDG_CACHE_HOME/atom_jax/test_jax_cache``
    (``~/.cache/...`` without ``XDG_CACHE_HOME``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "atom_jax", "test_jax_cache")


def prune_cache(folder: str, max_bytes: int = TEST_CACHE_MAX_BYTES) -> int:
    """If the files in ``folder`` hold more than ``max_bytes``, remove the oldest written until they hold
    half of it; returns the number removed. (JAX's own size cap, ``jax_compilation_cache_max_size``, lists
    the whole folder on every write: with the suite's ~2,000 programs that cost minutes.)"""
    entries = []
    for entry in os.scandir(folder):
        if entry.is_file():
            st = entry.stat()
            entries.append((st.st_mtime, st.st_size, entry.path))
    total = sum(size for _, size, _ in entries)
    removed = 0
    if total > max_bytes:
        for _, size, path in sorted(entries):
            if total <= max_bytes // 2:
                break
            try:
                os.remove(path)
            except OSError:
                continue
            total -= size
            removed += 1
    return removed


def pytest_configure(config):
    """One persistent JAX compilation cache for the session: a program compiled by one pytest-xdist worker or
    test subprocess (they inherit the environment) is loaded by the others instead of compiled again. Every
    program is cached, however quick its compilation. Tests that count compilations count loads from this
    cache too.

    The folder outlives the session (:func:`default_cache_folder`), so that a later run loads the programs
    that no change since has touched; JAX keys each program by its HLO, compile options, flags and the JAX
    version, so a changed program is compiled again, never taken stale. At the start of a run a folder above
    ``TEST_CACHE_MAX_BYTES`` loses its oldest programs (:func:`prune_cache`). ``ATOM_JAX_TEST_CACHE=FOLDER``
    puts it elsewhere; ``ATOM_JAX_TEST_CACHE=temp`` gives a temporary folder removed at the end (every run
    compiles everything, as on a fresh machine). A ``JAX_COMPILATION_CACHE_DIR`` set by the user is used as
    it is."""
    if hasattr(config, "workerinput") or os.environ.get(CACHE_ENV):
        return  # a worker inherits the controller's folder
    choice = os.environ.get(TEST_CACHE_ENV, "")
    folder = None
    if choice != "temp":
        folder = choice or default_cache_folder()
        try:
            os.makedirs(folder, exist_ok=True)
            prune_cache(folder)
        except OSError as err:  # e.g. a read-only home: this run gets a temporary cache
            print(f"tests/conftest.py: compilation cache {folder} not usable ({err}); using a temporary one",
                  file=sys.stderr)
            folder = None
    if folder is None:
        folder = tempfile.mkdtemp(prefix="atom_jax_test_jax_cache_")
        config.stash[_CACHE_KEY] = folder
    os.environ[CACHE_ENV] = folder
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    if "jax" in sys.modules:  # imported before this hook (a plugin): its configuration was read already
        import jax

        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_unconfigure(config):
    folder = config.stash.get(_CACHE_KEY, None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


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
