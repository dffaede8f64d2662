"""Training datasets behind one small interface, read lazily from their usual on-disk layouts.

Every dataset offers::

    name: str                      # for logs
    is_video: bool                 # False: an image dataset; a training pair uses one frame twice
    num_sequences() -> int
    sequence(i) -> SequenceInfo    # boxes_xywh (T, 4) float64 and visible (T,) bool, 0-based frames
    frame(i, t) -> np.ndarray      # RGB uint8 (H, W, 3)

For an image dataset each "frame" ``t`` of sequence ``i`` is the same image with object ``t`` annotated (the
COCO readers), so sampling a visible ``t`` samples an object.

Layouts (as the datasets ship them):
  * LaSOT: ``root/<class>/<class>-<k>/{groundtruth.txt, full_occlusion.txt, out_of_view.txt, img/00000001.jpg}``.
  * GOT-10k train: ``root/list.txt``, ``root/<seq>/{groundtruth.txt, absence.label, cover.label, 00000001.jpg}``.
  * TrackingNet: ``root/TRAIN_<k>/anno/<name>.txt`` and ``root/TRAIN_<k>/frames/<name>/0.jpg`` (0-based).
  * COCO 2017: ``root/annotations/instances_train2017.json`` and ``root/images/train2017/<file>``; every
    non-crowd annotation is a one-frame sequence (as ltr's ``MSCOCOSeq``).
  * COCO via tensorflow-datasets (``coco/2017`` prepared with ``tfds build``): every image is a sequence whose
    frames are its non-crowd objects; read through ``tfds.data_source`` (TensorFlow not needed).
  * :class:`SyntheticDataset`: sequences of :mod:`train.synthetic`, nothing on disk.

Visibility follows ltr: LaSOT = not fully occluded and not out of view; GOT-10k = not absent and cover > 0;
every dataset additionally needs a box with positive width and height.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
from typing import NamedTuple, Protocol, Sequence

import cv2
import numpy as np

from atom_jax.errors import InputError
from train import synthetic


class SequenceInfo(NamedTuple):
    boxes_xywh: np.ndarray  # (T, 4) float64
    visible: np.ndarray  # (T,) bool


class Dataset(Protocol):
    name: str
    is_video: bool

    def num_sequences(self) -> int: ...
    def sequence(self, i: int) -> SequenceInfo: ...
    def frame(self, i: int, t: int) -> np.ndarray: ...


def read_image(path: pathlib.Path) -> np.ndarray:
    """An image file as RGB uint8; a missing or unreadable file is an :class:`InputError` naming it."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_boxes(path: pathlib.Path) -> np.ndarray:
    """A box file with one ``x,y,w,h`` per line (commas, tabs or spaces; NaN allowed) as ``(T, 4)`` float64."""
    try:
        text = path.read_text()
    except OSError as err:
        raise InputError(f"cannot read box file {path}: {err.strerror}") from err
    rows = [line.replace(",", " ").replace("\t", " ").split() for line in text.splitlines() if line.strip()]
    try:
        boxes = np.array([[float(v) for v in r] for r in rows], dtype=np.float64)
    except ValueError as err:
        raise InputError(f"malformed box file {path}: {err}") from err
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise InputError(f"box file {path} must hold 4 numbers per line")
    return boxes


def _read_flags(path: pathlib.Path) -> np.ndarray:
    """0/1 flags, one per line or comma-separated on one line."""
    try:
        text = path.read_text()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from err
    return np.array([int(float(v)) for v in text.replace(",", " ").split()], dtype=np.int64)


def _valid(boxes: np.ndarray) -> np.ndarray:
    return np.isfinite(boxes).all(1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def _require_dir(path: pathlib.Path, what: str) -> pathlib.Path:
    if not path.is_dir():
        raise InputError(f"{what} not found: {path} is not a folder")
    return path


@dataclasses.dataclass(frozen=True)
class Lasot:
    """LaSOT sequences under ``root``; ``names`` restricts them (e.g. to the official training split)."""

    root: pathlib.Path
    names: tuple[str, ...] = ()
    name: str = "lasot"
    is_video: bool = True

    def __post_init__(self):
        root = _require_dir(pathlib.Path(self.root), "LaSOT root")
        object.__setattr__(self, "root", root)
        if not self.names:
            found = sorted(p.name for c in root.iterdir() if c.is_dir() for p in c.iterdir()
                           if (p / "groundtruth.txt").is_file())
            object.__setattr__(self, "names", tuple(found))
        if not self.names:
            raise InputError(f"no LaSOT sequences (<class>/<class>-<k>/groundtruth.txt) under {root}")

    def _path(self, i):
        name = self.names[i]
        return self.root / name.rsplit("-", 1)[0] / name

    def num_sequences(self):
        return len(self.names)

    def sequence(self, i):
        p = self._path(i)
        boxes = read_boxes(p / "groundtruth.txt")
        hidden = (_read_flags(p / "full_occlusion.txt") > 0) | (_read_flags(p / "out_of_view.txt") > 0)
        return SequenceInfo(boxes, _valid(boxes) & ~hidden[: len(boxes)])

    def frame(self, i, t):
        return read_image(self._path(i) / "img" / f"{t + 1:08d}.jpg")


@dataclasses.dataclass(frozen=True)
class Got10k:
    """GOT-10k training sequences listed in ``root/list.txt`` (``names`` restricts them)."""

    root: pathlib.Path
    names: tuple[str, ...] = ()
    name: str = "got10k"
    is_video: bool = True

    def __post_init__(self):
        root = _require_dir(pathlib.Path(self.root), "GOT-10k root")
        object.__setattr__(self, "root", root)
        if not self.names:
            if not (root / "list.txt").is_file():
                raise InputError(f"GOT-10k list.txt not found in {root}")
            names = tuple(s.strip() for s in (root / "list.txt").read_text().split() if s.strip())
            object.__setattr__(self, "names", names)

    def num_sequences(self):
        return len(self.names)

    def sequence(self, i):
        p = self.root / self.names[i]
        boxes = read_boxes(p / "groundtruth.txt")
        absent = _read_flags(p / "absence.label") > 0
        cover = _read_flags(p / "cover.label")
        return SequenceInfo(boxes, _valid(boxes) & ~absent[: len(boxes)] & (cover[: len(boxes)] > 0))

    def frame(self, i, t):
        return read_image(self.root / self.names[i] / f"{t + 1:08d}.jpg")


@dataclasses.dataclass(frozen=True)
class TrackingNet:
    """TrackingNet training chunks ``TRAIN_<k>`` under ``root`` (ATOM uses chunks 0-3)."""

    root: pathlib.Path
    chunks: tuple[int, ...] = (0, 1, 2, 3)
    name: str = "trackingnet"
    is_video: bool = True
    names: tuple[tuple[int, str], ...] = ()

    def __post_init__(self):
        root = _require_dir(pathlib.Path(self.root), "TrackingNet root")
        object.__setattr__(self, "root", root)
        found = []
        for k in self.chunks:
            anno = _require_dir(root / f"TRAIN_{k}" / "anno", f"TrackingNet chunk TRAIN_{k}")
            found += [(k, p.stem) for p in sorted(anno.glob("*.txt"))]
        object.__setattr__(self, "names", tuple(found))

    def num_sequences(self):
        return len(self.names)

    def sequence(self, i):
        k, name = self.names[i]
        boxes = read_boxes(self.root / f"TRAIN_{k}" / "anno" / f"{name}.txt")
        return SequenceInfo(boxes, _valid(boxes))

    def frame(self, i, t):
        k, name = self.names[i]
        return read_image(self.root / f"TRAIN_{k}" / "frames" / name / f"{t}.jpg")


@dataclasses.dataclass(frozen=True)
class CocoSeq:
    """COCO instance annotations, every non-crowd object a one-frame sequence."""

    root: pathlib.Path
    split: str = "train2017"
    name: str = "coco"
    is_video: bool = False

    def __post_init__(self):
        root = pathlib.Path(self.root)
        object.__setattr__(self, "root", root)
        path = root / "annotations" / f"instances_{self.split}.json"
        if not path.is_file():
            raise InputError(f"COCO annotations not found: {path}")
        with open(path) as f:
            data = json.load(f)
        files = {im["id"]: im["file_name"] for im in data["images"]}
        anns = [(files[a["image_id"]], tuple(float(v) for v in a["bbox"]))
                for a in data["annotations"] if not a.get("iscrowd", 0)]
        object.__setattr__(self, "_anns", tuple(anns))

    def num_sequences(self):
        return len(self._anns)

    def sequence(self, i):
        boxes = np.array([self._anns[i][1]], dtype=np.float64)
        return SequenceInfo(boxes, _valid(boxes))

    def frame(self, i, t):
        return read_image(self.root / "images" / self.split / self._anns[i][0])


class CocoTfds:
    """COCO 2017 through a tensorflow-datasets data source (``tfds build coco/2017`` first).

    Sequence ``i`` is image ``i``; its frames are its non-crowd objects (boxes converted from tfds's normalised
    ``(ymin, xmin, ymax, xmax)`` to pixel ``xywh``).
    """

    name = "coco_tfds"
    is_video = False

    def __init__(self, split: str = "train", data_dir: str | None = None, builder: str = "coco/2017"):
        try:
            import tensorflow_datasets as tfds
        except ImportError as err:
            raise InputError("tensorflow-datasets is not installed (pip install -e '.[train]')") from err
        try:
            self._source = _tfds_source(tfds, builder, split, data_dir)
        except Exception as err:  # tfds raises several types for "not prepared"; all mean the same to the user
            first = str(err).splitlines()[0] if str(err) else ""
            raise InputError(f"tensorflow-datasets '{builder}' split '{split}' is not prepared"
                             f"{' in ' + str(data_dir) if data_dir else ''}; run `tfds build {builder}` first "
                             f"({type(err).__name__}: {first})") from err

    def num_sequences(self):
        return len(self._source)

    def _record(self, i):
        return self._source[i]

    def sequence(self, i):
        rec = self._record(i)
        h, w = rec["image"].shape[:2]
        b = np.asarray(rec["objects"]["bbox"], dtype=np.float64).reshape(-1, 4)
        boxes = np.stack([b[:, 1] * w, b[:, 0] * h, (b[:, 3] - b[:, 1]) * w, (b[:, 2] - b[:, 0]) * h], axis=1)
        crowd = np.asarray(rec["objects"].get("is_crowd", np.zeros(len(b))), dtype=bool).reshape(-1)
        return SequenceInfo(boxes, _valid(boxes) & ~crowd)

    def frame(self, i, t):
        return _as_rgb(np.asarray(self._record(i)["image"]))


def _tfds_source(tfds, builder, split, data_dir):
    """A random-access source; a prepared folder is opened directly (its builder code may need TensorFlow)."""
    if data_dir:
        root = pathlib.Path(data_dir).joinpath(*builder.split("/"))
        versions = [p for p in root.iterdir() if (p / "dataset_info.json").is_file()] if root.is_dir() else []
        if versions:
            newest = max(versions, key=_version_key)
            return tfds.builder_from_directory(str(newest)).as_data_source(split=split)
    return tfds.data_source(builder, split=split, data_dir=data_dir, download=False)


def _version_key(path: pathlib.Path) -> tuple:
    """``1.10.0`` after ``1.9.0`` (a text sort would pick the older one); names that are not versions first."""
    parts = path.name.split(".")
    return (1, tuple(int(p) for p in parts)) if all(p.isdigit() for p in parts) else (0, (path.name,))


def _as_rgb(image):
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3]).astype(np.uint8)


class SyntheticDataset:
    """``num`` sequences of :mod:`train.synthetic`; sequence ``i`` is generated from seed ``(seed, i)``.

    ``image_folder`` replaces scikit-image's bundled photos by a folder of images. Sequences are made on demand
    and cached (the last 64), and frames rendered on demand.
    """

    is_video = True

    def __init__(self, num: int = 1000, seed: int = 0, config: synthetic.SyntheticConfig | None = None,
                 image_folder: str | None = None, name: str = "synthetic"):
        self.name = name
        self._num, self._seed = int(num), int(seed)
        self._config = config or synthetic.SyntheticConfig()
        self._images = (synthetic.folder_images(image_folder) if image_folder else synthetic.bundled_images())
        self._make = functools.lru_cache(maxsize=64)(self._make_uncached)

    def _make_uncached(self, i):
        seed = int(np.random.SeedSequence([self._seed, i]).generate_state(1)[0])
        return synthetic.make_sequence(seed, self._images, self._config)

    def num_sequences(self):
        return self._num

    def sequence(self, i):
        seq = self._make(i)
        return SequenceInfo(seq.boxes_xywh, seq.visible)

    def frame(self, i, t):
        return synthetic.render_frame(self._make(i), t)


def build_datasets(specs: Sequence[dict]) -> list:
    """Datasets from config entries ``{"kind": ..., **kwargs}`` with kind in lasot, got10k, trackingnet, coco,
    coco_tfds, synthetic (kwargs are the constructor's, e.g. ``root``)."""
    kinds = {"lasot": Lasot, "got10k": Got10k, "trackingnet": TrackingNet, "coco": CocoSeq,
             "coco_tfds": CocoTfds, "synthetic": SyntheticDataset}
    out = []
    for spec in specs:
        spec = dict(spec)
        kind = spec.pop("kind", None)
        if kind not in kinds:
            raise InputError(f"unknown dataset kind {kind!r}; expected one of {sorted(kinds)}")
        if "config" in spec and isinstance(spec["config"], dict):
            spec["config"] = synthetic.SyntheticConfig(**{k: tuple(v) if isinstance(v, list) else v
                                                          for k, v in spec["config"].items()})
        out.append(kinds[kind](**spec))
    return out
