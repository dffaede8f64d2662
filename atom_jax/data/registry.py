"""Datasets by name: :func:`open_dataset` for config specs (training), :func:`load_dataset` for benchmarks
(evaluation). Both end in the readers of :mod:`atom_jax.data`; each layout has one reader.

A spec is a dict ``{"kind": KIND, **arguments of the reader}``, plus optional ``names`` (keep only these
sequences, in this order) and ``exclude`` (leave these out), e.g.::

    {"kind": "generic", "root": "data/my_sequences", "exclude": ["Biker", "Girl"]}
    {"kind": "lasot", "root": "/data/LaSOT", "split": "train"}
    {"kind": "synthetic", "num": 5000, "seed": 1, "config": {"num_frames": 120}}

Kinds (reader, main arguments): ``generic`` (folders of OTB- or VOT-style sequences, ``root``), ``vot``
(``root`` with ``list.txt``), ``video`` (``root`` = the file, ``init_box_xywh``), ``otb``, ``uav``,
``uav10fps``, ``nfs`` (``root``), ``lasot`` (``root``, ``split`` train/test/all), ``got10k`` (``root``,
``split`` train/val/test), ``trackingnet`` (``root``, ``split`` train/test, ``chunks``), ``coco`` (``root``,
``split``), ``coco_tfds`` (``split``, ``data_dir``), ``images`` (``root`` with ``annotations.json``: static
images with boxes), ``synthetic`` (``num``, ``seed``, ``config``,
``image_folder``).
"""

from __future__ import annotations

import inspect
import pathlib
from typing import Callable

from atom_jax.data import benchmarks, coco, folders, large, synthetic
from atom_jax.data.sequence import Dataset, Sequence, check_init_box
from atom_jax.errors import InputError

KINDS: dict[str, Callable[..., Dataset]] = {
    "generic": folders.generic, "vot": folders.vot, "video": folders.video,
    "otb": benchmarks.otb, "uav": benchmarks.uav123, "uav10fps": benchmarks.uav123_10fps, "nfs": benchmarks.nfs,
    "lasot": large.lasot, "got10k": large.got10k, "trackingnet": large.trackingnet,
    "coco": coco.coco, "coco_tfds": coco.coco_tfds, "images": coco.image_list, "synthetic": synthetic.dataset,
}

# The benchmark names of the evaluation CLI (``atom-jax eval --dataset NAME``) and the specs they stand for.
BENCHMARKS: dict[str, dict] = {
    "generic": {"kind": "generic"}, "otb": {"kind": "otb"}, "uav": {"kind": "uav"},
    "uav10fps": {"kind": "uav10fps"}, "nfs": {"kind": "nfs"}, "lasot": {"kind": "lasot", "split": "test"},
    "got10k_val": {"kind": "got10k", "split": "val"}, "got10k_test": {"kind": "got10k", "split": "test"},
    "trackingnet": {"kind": "trackingnet", "split": "test"}, "vot": {"kind": "vot"}, "video": {"kind": "video"},
}
DATASET_NAMES = tuple(BENCHMARKS)


def open_dataset(spec: dict) -> Dataset:
    """The dataset a spec names (see the module docstring); an empty selection is an :class:`InputError`."""
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in KINDS:
        raise InputError(f"unknown dataset kind {kind!r}; expected one of {', '.join(sorted(KINDS))}")
    names, exclude = spec.pop("names", None), spec.pop("exclude", None)
    try:
        inspect.signature(KINDS[kind]).bind(**spec)
    except TypeError as err:  # an argument the reader does not take: say which spec it came from
        raise InputError(f"dataset spec {dict(kind=kind, **spec)}: {err}") from None
    ds = KINDS[kind](**spec)
    if names or exclude:
        ds = ds.select(names, exclude)
    if not len(ds):
        where = f" in {spec['root']}" if spec.get("root") else ""
        raise InputError(f"no {kind} sequences found{where}")
    return ds


def open_datasets(specs) -> list[Dataset]:
    return [open_dataset(spec) for spec in specs]


def load_dataset(name: str, root, sequences: list[str] | None = None) -> list[Sequence]:
    """Benchmark ``name`` (one of :data:`DATASET_NAMES`) read from ``root``, optionally only ``sequences``, as
    a list of sequences whose first box can start a tracker."""
    root = pathlib.Path(root)
    if not root.exists():
        raise InputError(f"{root}: dataset root not found")
    if name not in BENCHMARKS:
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    ds = KINDS[BENCHMARKS[name]["kind"]](root, **{k: v for k, v in BENCHMARKS[name].items() if k != "kind"})
    if sequences:
        ds = ds.select(sequences)
    if not len(ds):
        raise InputError(f"no {name} sequences found in {root}")
    return [check_init_box(seq) for seq in ds]
