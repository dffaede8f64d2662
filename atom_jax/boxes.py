"""Box formats and pixel conventions: the one place that defines them.

Formats (the name of a variable says which one it holds; all in (x, y) order):
  * ``box_xywh``: top-left corner and size, ``(x, y, w, h)``; the format of every dataset, results file and CLI.
  * ``box_xyxy``: ``(x1, y1, x2, y2)`` with ``x2 = x + w``, ``y2 = y + h``: the continuous extent of the box,
    as the IoU-Net and Precise RoI Pooling take it.
  * ``center_xy`` / ``size_wh``: the tracker's target state. As in pytracking, the center of a box is
    ``(x + (w - 1) / 2, y + (h - 1) / 2)``: pixel indices are the centers of pixels, so a box covering
    pixels ``x .. x + w - 1`` is centred on their mean.

All functions take arrays with the coordinates in the last axis and broadcast over leading axes; they work on
NumPy and JAX arrays alike (they use only arithmetic and ``concatenate``/``stack`` of the same library).
"""

from __future__ import annotations

import numpy as np
import jax.numpy as jnp


def _xp(a):
    return np if isinstance(a, np.ndarray) else jnp


def xywh_to_xyxy(box_xywh):
    xp = _xp(box_xywh)
    return xp.concatenate([box_xywh[..., :2], box_xywh[..., :2] + box_xywh[..., 2:]], axis=-1)


def xyxy_to_xywh(box_xyxy):
    xp = _xp(box_xyxy)
    return xp.concatenate([box_xyxy[..., :2], box_xyxy[..., 2:] - box_xyxy[..., :2]], axis=-1)


def xywh_to_center_size(box_xywh):
    """``(x, y, w, h)`` -> ``(center_xy, size_wh)`` with pytracking's ``(w - 1) / 2`` center."""
    size_wh = box_xywh[..., 2:]
    return box_xywh[..., :2] + (size_wh - 1) / 2, size_wh


def center_size_to_xywh(center_xy, size_wh):
    """Inverse of :func:`xywh_to_center_size`."""
    xp = _xp(center_xy)
    return xp.concatenate([center_xy - (size_wh - 1) / 2, size_wh], axis=-1)


def iou_xywh(a_xywh, b_xywh):
    """Intersection over union of boxes in ``(x, y, w, h)``; 0 where the union is empty."""
    xp = _xp(a_xywh)
    tl = xp.maximum(a_xywh[..., :2], b_xywh[..., :2])
    br = xp.minimum(a_xywh[..., :2] + a_xywh[..., 2:], b_xywh[..., :2] + b_xywh[..., 2:])
    inter = xp.prod(xp.clip(br - tl, 0, None), axis=-1)
    union = xp.prod(a_xywh[..., 2:], axis=-1) + xp.prod(b_xywh[..., 2:], axis=-1) - inter
    return xp.where(union > 0, inter / xp.where(union > 0, union, 1), 0)


def clip_xywh(box_xywh, image_wh):
    """Clip a box to the image ``[0, W] x [0, H]`` (continuous extent); a box fully outside gets size 0."""
    xp = _xp(box_xywh)
    xyxy = xywh_to_xyxy(box_xywh)
    lo = xp.zeros_like(xyxy[..., :2])
    hi = xp.asarray(image_wh, dtype=xyxy.dtype) + lo
    tl = xp.clip(xyxy[..., :2], lo, hi)
    br = xp.clip(xyxy[..., 2:], lo, hi)
    return xyxy_to_xywh(xp.concatenate([tl, br], axis=-1))
