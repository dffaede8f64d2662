"""COCO as image datasets (``is_video`` False): a sequence's "frames" are objects of one image.

* :func:`coco`: COCO 2017 as distributed, ``root/annotations/instances_<split>.json`` and
  ``root/images/<split>/<file>``; every non-crowd annotation is a one-frame sequence (as ltr's ``MSCOCOSeq``),
  named by its annotation id.
* :func:`coco_tfds`: COCO via tensorflow-datasets (``coco/2017`` prepared with ``tfds build``; TensorFlow is not
  needed to read it): every image is a sequence whose frames are its objects, crowd objects not visible.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from atom_jax.data.files import as_rgb
from atom_jax.data.sequence import Dataset, Sequence
from atom_jax.errors import InputError


def coco(root, split: str = "train2017") -> Dataset:
    """COCO instance annotations, every non-crowd object a one-frame sequence."""
    root = pathlib.Path(root)
    path = root / "annotations" / f"instances_{split}.json"
    if not path.is_file():
        raise InputError(f"COCO annotations not found: {path}")
    with open(path) as f:
        data = json.load(f)
    files = {im["id"]: im["file_name"] for im in data["images"]}
    objects = {str(a.get("id", k)): (files[a["image_id"]], tuple(float(v) for v in a["bbox"]))
               for k, a in enumerate(data["annotations"]) if not a.get("iscrowd", 0)}
    del data

    def load(name):
        file_name, box = objects[name]
        return Sequence(name, "coco", (str(root / "images" / split / file_name),),
                        np.array([box], dtype=np.float64))

    return Dataset("coco", list(objects), load, is_video=False, root=root)


def coco_tfds(split: str = "train", data_dir: str | None = None, builder: str = "coco/2017") -> Dataset:
    """COCO 2017 through a tensorflow-datasets data source (``tfds build coco/2017`` first).

    Sequence ``i`` is image ``i``; its frames are its non-crowd objects (boxes converted from tfds's normalised
    ``(ymin, xmin, ymax, xmax)`` to pixel ``xywh``).
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise InputError("tensorflow-datasets is not installed (pip install -e '.[train]')") from err
    try:
        source = _tfds_source(tfds, builder, split, data_dir)
    except Exception as err:  # tfds raises several types for "not prepared"; all mean the same to the user
        first = str(err).splitlines()[0] if str(err) else ""
        raise InputError(f"tensorflow-datasets '{builder}' split '{split}' is not prepared"
                         f"{' in ' + str(data_dir) if data_dir else ''}; run `tfds build {builder}` first "
                         f"({type(err).__name__}: {first})") from err

    def load(name):
        rec = source[int(name)]
        image = as_rgb(np.asarray(rec["image"]))
        h, w = image.shape[:2]
        b = np.asarray(rec["objects"]["bbox"], dtype=np.float64).reshape(-1, 4)
        boxes = np.stack([b[:, 1] * w, b[:, 0] * h, (b[:, 3] - b[:, 1]) * w, (b[:, 2] - b[:, 0]) * h], axis=1)
        crowd = np.asarray(rec["objects"].get("is_crowd", np.zeros(len(b))), dtype=bool).reshape(-1)
        return Sequence(name, "coco", (), boxes, target_visible=~crowd, source=lambda t: image)

    return Dataset("coco_tfds", [str(i) for i in range(len(source))], load, is_video=False,
                   root=data_dir)


def _tfds_source(tfds, builder, split, data_dir):
    """A random-access source; a prepared folder is opened directly (its builder code may need TensorFlow)."""
    if data_dir:
        root = pathlib.Path(data_dir).joinpath(*builder.split("/"))
        versions = [p for p in root.iterdir() if (p / "dataset_info.json").is_file()] if root.is_dir() else []
        if versions:
            newest = max(versions, key=version_key)
            return tfds.builder_from_directory(str(newest)).as_data_source(split=split)
    return tfds.data_source(builder, split=split, data_dir=data_dir, download=False)


def version_key(path: pathlib.Path) -> tuple:
    """``1.10.0`` after ``1.9.0`` (a text sort would pick the older one); names that are not versions first."""
    parts = path.name.split(".")
    return (1, tuple(int(p) for p in parts)) if all(p.isdigit() for p in parts) else (0, (path.name,))


def image_list(root, annotations: str = "annotations.json") -> Dataset:
    """Static images with boxes, as an image dataset (every box a one-frame sequence, paired with itself as ltr
    pairs COCO): ``root/annotations.json`` is a list of ``{"file": NAME, "boxes": [[x, y, w, h], ...], ...}``
    with the image at ``root/NAME`` (0-based pixel boxes; the layout the extra-data recipe writes into
    ``OUT/images``). Boxes without positive area are skipped."""
    root = pathlib.Path(root)
    path = root / annotations
    if not path.is_file():
        raise InputError(f"image annotations not found: {path}")
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None
    objects = {}
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict) or "file" not in entry or "boxes" not in entry:
            raise InputError(f"{path}: entry {k} needs 'file' and 'boxes'")
        for j, box in enumerate(entry["boxes"]):
            box = tuple(float(v) for v in box)
            if len(box) != 4:
                raise InputError(f"{path}: entry {k} ({entry['file']}) box {j} has {len(box)} values, expected 4")
            if box[2] > 0 and box[3] > 0 and all(np.isfinite(box)):
                objects[f"{pathlib.Path(entry['file']).stem}_{j}"] = (entry["file"], box)

    def load(name):
        file_name, box = objects[name]
        return Sequence(name, "images", (str(root / file_name),), np.array([box], dtype=np.float64))

    return Dataset("images", list(objects), load, is_video=False, root=root)
