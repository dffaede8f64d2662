"""Helpers that write small dataset layouts for the reader tests."""

from __future__ import annotations

import pathlib

import cv2
import numpy as np


def _touch_frames(folder: pathlib.Path, numbers, digits: int, ext: str = "jpg"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in numbers:
        (folder / f"{i:0{digits}d}.{ext}").write_bytes(b"")


def _write_boxes(path: pathlib.Path, n: int, sep: str = ",", start: float = 1.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [sep.join(str(v) for v in (start + i, 2 + i, 10, 20)) for i in range(n)]
    path.write_text("\n".join(rows) + "\n")


def _write_image(path: pathlib.Path, image_bgr):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image_bgr)


def _img(path, value, hw=(24, 32)):
    path.parent.mkdir(parents=True, exist_ok=True)
    im = np.zeros((*hw, 3), np.uint8)
    im[..., 2] = value  # BGR on disk: red, so RGB channel 0 after reading checks the conversion
    cv2.imwrite(str(path), im)
