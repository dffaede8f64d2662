"""IoU-Net box refinement (paper Sec. 3.1 / 3.3; pytracking's ``refine_target_box`` and ``optimize_boxes``).

All boxes here are ``(x, y, w, h)`` in the pixel coordinates of the search patch (``sample_size`` square),
with pytracking's box geometry: the patch position of an image point ``p`` sampled around ``sample_pos`` at
``sample_scale`` is ``(p - sample_pos) / sample_scale + (sample_size - 1) / 2``, and a box of center ``c``
and size ``s`` starts at ``c - (s - 1) / 2``.

Steps: the classifier's box plus ``num_init_random_boxes`` jittered copies (uniform center jitter
``box_jitter_pos * sqrt(area)``, size jitter ``box_jitter_sz * sqrt(area)``, sizes floored at a third of the
smaller side); ``box_refinement_iter`` gradient-ascent steps on the predicted IoU with the gradient scaled by
the box size (``box += step_length * dIoU/dbox * (w, h, w, h)``), with pytracking's optional step decay;
sizes clamped at 1, boxes with aspect ratio beyond ``maximal_aspect_ratio`` dropped, and the final box the
mean of the ``iounet_k`` best remaining ones. As in pytracking, the scores returned are those of the last
evaluation, i.e. of the boxes *before* the last step.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from atom_jax import iou_net
from atom_jax.config import TrackerConfig


class Refinement(NamedTuple):
    box_xywh: jax.Array  # (4,) mean of the top-k refined boxes (patch coordinates)
    valid: jax.Array  # bool: at least one refined box has an acceptable aspect ratio
    boxes_xywh: jax.Array  # (N, 4) all refined boxes (after the size clamp)
    scores: jax.Array  # (N,) their predicted IoU (from the last evaluation)


def box_in_patch(center_xy, size_wh, sample_pos_xy, sample_scale, sample_size: int):
    """pytracking's ``get_iounet_box``: an image-space target as an ``(x, y, w, h)`` box in patch pixels."""
    center = (center_xy - sample_pos_xy) / sample_scale + (sample_size - 1) / 2
    size = size_wh / sample_scale
    return jnp.concatenate([center - (size - 1) / 2, size])


def box_to_image(box_xywh, sample_pos_xy, sample_scale, sample_size: int):
    """Inverse mapping used by pytracking: patch box -> image center ``(x, y)`` and size ``(w, h)``.

    pytracking takes the box center as ``xy + wh / 2`` here (not ``(wh - 1) / 2``): reproduced as is.
    """
    center = (box_xywh[:2] + box_xywh[2:] / 2 - (sample_size - 1) / 2) * sample_scale + sample_pos_xy
    return center, box_xywh[2:] * sample_scale


def jitter_boxes(key, init_box_xywh, config: TrackerConfig):
    """The classifier's box followed by ``num_init_random_boxes`` jittered boxes, ``(1 + n, 4)``.

    With ``config.deterministic`` the jitter is zero (all boxes equal the classifier's box).
    """
    n = config.num_init_random_boxes
    if n == 0:
        return init_box_xywh[None]
    side = jnp.sqrt(init_box_xywh[2] * init_box_xywh[3])
    factor = side * jnp.asarray([config.box_jitter_pos] * 2 + [config.box_jitter_sz] * 2, jnp.float32)
    if config.deterministic:
        rand = jnp.zeros((n, 4), jnp.float32)
    else:
        rand = (jax.random.uniform(key, (n, 4), jnp.float32) - 0.5) * factor
    min_edge = jnp.min(init_box_xywh[2:]) / 3
    size = jnp.maximum(init_box_xywh[2:] + rand[:, 2:], min_edge)
    center = init_box_xywh[:2] + init_box_xywh[2:] / 2 + rand[:, :2]
    boxes = jnp.concatenate([center - size / 2, size], axis=1)
    return jnp.concatenate([init_box_xywh[None], boxes], axis=0)


def optimize_boxes(iou_variables, modulation, iou_feat, boxes_xywh, config: TrackerConfig):
    """Gradient ascent on the predicted IoU of ``boxes_xywh`` (N, 4) for one patch.

    ``modulation``: ``(m3 (C,), m4 (C,))``; ``iou_feat``: ``(c3 (H3, W3, C), c4 (H4, W4, C))`` of the patch.
    Returns ``(boxes (N, 4), scores (N,))`` with the scores of the last evaluated (pre-step) boxes.
    """
    mod = (modulation[0][None], modulation[1][None])
    feat = (iou_feat[0][None], iou_feat[1][None])

    def iou_and_grad(boxes):
        def total(b):
            ious = iou_net.predict_iou(iou_variables, mod, feat, b[None])[0]
            return jnp.sum(ious), ious

        grad, ious = jax.grad(total, has_aux=True)(boxes)
        return ious, grad

    n = boxes_xywh.shape[0]
    decay = config.box_refinement_step_decay

    def body(carry, _):
        boxes, step_length, prev, step = carry
        ious, grad = iou_and_grad(boxes)
        if decay >= 1:
            improved = jnp.ones((n,), bool)
        else:
            improved = ious > prev
            step_length = jnp.where(improved, step_length, step_length * decay)
        mask = improved[:, None].astype(boxes.dtype)
        size = jnp.concatenate([boxes[:, 2:], boxes[:, 2:]], axis=1)
        step = mask * step_length[:, None] * grad * size - (1 - mask) * step
        return (boxes + step, step_length, ious, step), None

    init = (boxes_xywh, jnp.full((n,), config.box_refinement_step_length, jnp.float32),
            jnp.full((n,), -jnp.inf, jnp.float32), jnp.zeros_like(boxes_xywh))
    (boxes, _, ious, _), _ = jax.lax.scan(body, init, None, length=config.box_refinement_iter)
    return boxes, ious


def select_box(boxes_xywh, scores, config: TrackerConfig) -> Refinement:
    """Clamp sizes at 1, drop extreme aspect ratios, average the top-``iounet_k`` remaining boxes."""
    boxes = jnp.concatenate([boxes_xywh[:, :2], jnp.maximum(boxes_xywh[:, 2:], 1.0)], axis=1)
    ratio = boxes[:, 2] / boxes[:, 3]
    keep = (ratio < config.maximal_aspect_ratio) & (ratio > 1.0 / config.maximal_aspect_ratio)
    ranked = jnp.where(keep, scores, -jnp.inf)
    _, top = jax.lax.top_k(ranked, config.iounet_k)
    chosen = keep[top].astype(jnp.float32)  # fewer than k kept: average only the kept ones
    count = jnp.sum(chosen)
    box = jnp.sum(boxes[top] * chosen[:, None], axis=0) / jnp.maximum(count, 1.0)
    return Refinement(box, count > 0, boxes, scores)


def refine(iou_variables, modulation, iou_feat, init_box_xywh, key, config: TrackerConfig) -> Refinement:
    """Jitter, optimise and select: the refined patch box of pytracking's ``refine_target_box``."""
    boxes = jitter_boxes(key, init_box_xywh, config)
    boxes, scores = optimize_boxes(iou_variables, modulation, iou_feat, boxes, config)
    return select_box(boxes, scores, config)
