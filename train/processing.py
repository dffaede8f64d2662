"""ATOM's training pairs: sampling frames from datasets, cropping, augmenting and proposing boxes.

Semantics of ltr's ATOM settings (``ltr/train_settings/bbreg/atom.py`` with ``ATOMSampler`` and
``ATOMProcessing``), on the host in NumPy/OpenCV:

* **Sampling**: a dataset by weight, a sequence uniformly (video sequences need > 4 visible frames and >= 20
  frames), a visible base (train) frame uniformly, and a visible test frame in ``[base - gap, base + gap)``
  with ``gap = max_gap`` (50) widened by 5 until one exists; the test frame may equal the train frame. Image
  datasets use one frame (object) twice.
* **Grayscale** with probability 0.05, jointly for both frames.
* **Jitter** (test frame only in ATOM): size ``wh * exp(N(0,1) * scale_jitter)``, center moved uniformly by
  up to ``+-0.5 * center_jitter * sqrt(jittered area)``; centers here are ``x + w/2`` as in ltr.
* **Crop**: a square of side ``ceil(search_area_factor * sqrt(w h))`` around the jittered box, replicate
  padding (ltr pads one extra pixel on the right/bottom edge; reproduced), resized to ``output_size`` with
  OpenCV's bilinear resize; the ground-truth box mapped into the crop.
* **Brightness**: each crop scaled by ``U(1 - b, 1 + b)`` and clipped to the pixel range (ltr: [0, 1], then
  ImageNet-normalised; here the backbone normalises, ImageNet mean/std for ResNet-18).
* **Several test frames** per train frame (``num_test_frames``; ltr's ATOM: 1): each is one more pair sharing
  the train frame's crop, so the reference branch and its backbone pass are paid once for them.
* **Proposals**: 16 per test box, each with a sigma factor drawn from the list; Gaussian noise on center and
  size (std = sigma * sqrt(w h)), rounded to integers, degenerate sizes replaced by ``U(0.15, 0.5) * size``,
  shrinking the noise by 0.9 until IoU > ``min_iou`` (100 tries). Targets ``2 * IoU - 1``.

Randomness: sample ``i`` of step ``s`` draws from ``np.random.default_rng([seed, s, i, stream])``, so a batch
depends only on ``(seed, step)`` and not on which worker made it (a resumed run sees the same batches).
Images come out NHWC float32 RGB in 0..255 (the training step applies the backbone's own input
normalisation); boxes ``xywh`` in crop pixels.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import cv2
import numpy as np

from atom_jax.errors import InputError


@dataclasses.dataclass(frozen=True)
class ProcessingConfig:
    """ltr's ATOM processing settings (defaults equal its ``atom.py``)."""

    search_area_factor: float = 5.0
    output_size: int = 288
    center_jitter: tuple[float, float] = (0.0, 4.5)  # (train, test) frame
    scale_jitter: tuple[float, float] = (0.0, 0.5)
    num_proposals: int = 16
    sigma_factors: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.3)
    min_iou: float = 0.1
    grayscale_prob: float = 0.05
    brightness_jitter: float = 0.2  # 0 for validation, as ltr's ToTensor transform
    max_gap: int = 50
    num_test_frames: int = 1  # test frames per train (reference) frame, each one pair (ltr's ATOM: 1)


def iou_xywh(a, b):
    """IoU of ``xywh`` boxes (broadcasting), float64, as ltr's (no guard: boxes here have positive area)."""
    tl = np.maximum(a[..., :2], b[..., :2])
    br = np.minimum(a[..., :2] + a[..., 2:], b[..., :2] + b[..., 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=-1)
    return inter / (np.prod(a[..., 2:], -1) + np.prod(b[..., 2:], -1) - inter)


# ------------------------------------------------------------------------------------------------- sampling


def _visible_ids(visible, lo, hi):
    lo, hi = max(lo, 0), min(hi, len(visible))
    return np.flatnonzero(visible[lo:hi]) + lo if hi > lo else np.zeros(0, np.int64)


def sample_pair(rng: np.random.Generator, datasets: Sequence, weights: Sequence[float], max_gap: int):
    """Choose ``(dataset index, sequence index, sequence, train frame, test frame)`` as ltr's ATOMSampler
    ('interval' mode); ``datasets`` are :class:`atom_jax.data.sequence.Dataset` s."""
    d, s, seq, base, tests = sample_frames(rng, datasets, weights, max_gap, 1)
    return d, s, seq, base, tests[0]


def sample_frames(rng: np.random.Generator, datasets: Sequence, weights: Sequence[float], max_gap: int,
                  num_test: int):
    """As :func:`sample_pair` with ``num_test`` test frames, each drawn independently from the visible frames
    within the gap of the same train frame: ``(dataset index, sequence index, sequence, train frame, [test
    frames])``. Image datasets repeat their one frame."""
    p = np.asarray(weights, np.float64)
    d = int(rng.choice(len(datasets), p=p / p.sum()))
    ds = datasets[d]
    for _ in range(1000):
        s = int(rng.integers(len(ds)))
        seq = ds[s]
        visible = seq.visible
        n_vis = int(visible.sum())
        if (not ds.is_video and n_vis > 0) or (ds.is_video and n_vis > 4 and len(visible) >= 20):
            break
    else:
        raise InputError(f"dataset {ds.name}: no sequence with enough visible frames in 1000 draws")
    base = int(rng.choice(np.flatnonzero(visible)))
    if not ds.is_video:
        return d, s, seq, base, [base] * num_test
    gap = max_gap
    while True:
        cand = _visible_ids(visible, base - gap, base + gap)
        if len(cand):
            return d, s, seq, base, [int(rng.choice(cand)) for _ in range(num_test)]
        gap += 5


# ----------------------------------------------------------------------------------------------- processing


def jitter_box(rng, box_xywh, center_jitter, scale_jitter):
    """ltr's ``_get_jittered_box``: log-normal size jitter, uniform center shift scaled by the new size."""
    size = box_xywh[2:] * np.exp(rng.standard_normal(2) * scale_jitter)
    max_offset = math.sqrt(size[0] * size[1]) * center_jitter
    center = box_xywh[:2] + 0.5 * box_xywh[2:] + max_offset * (rng.random(2) - 0.5)
    return np.concatenate([center - 0.5 * size, size])


def crop_around(image, box_xywh, search_area_factor, output_size):
    """ltr's ``sample_target``: a square of side ``ceil(f * sqrt(w h))`` centred on the box (replicate padding),
    resized to ``output_size``. Returns the crop and the resize factor (output / crop side)."""
    x, y, w, h = (float(v) for v in box_xywh)
    side = math.ceil(math.sqrt(w * h) * search_area_factor)
    if side < 1:
        raise InputError(f"box {box_xywh} is too small to crop around")
    H, W = image.shape[:2]
    x1 = int(np.round(x + 0.5 * w - side * 0.5))
    y1 = int(np.round(y + 0.5 * h - side * 0.5))
    x2, y2 = x1 + side, y1 + side
    # ltr's padding amounts; the "+ 1" on the far side makes it pad (and drop) one pixel more there.
    px1, px2 = max(0, -x1), max(x2 - W + 1, 0)
    py1, py2 = max(0, -y1), max(y2 - H + 1, 0)
    ya, yb, xa, xb = y1 + py1, y2 - py2, x1 + px1, x2 - px2
    if yb <= ya or xb <= xa:
        # The window lies entirely outside the image (ltr would fail here): replicate the nearest edge pixel.
        yc, xc = int(np.clip((ya + yb) // 2, 0, H - 1)), int(np.clip((xa + xb) // 2, 0, W - 1))
        patch = np.broadcast_to(image[yc, xc], (side, side, image.shape[2])).copy()
    else:
        patch = cv2.copyMakeBorder(image[ya:yb, xa:xb], py1, py2, px1, px2, cv2.BORDER_REPLICATE)
    return cv2.resize(patch, (output_size, output_size)), output_size / side


def box_in_crop(box_xywh, extract_xywh, resize_factor, output_size):
    """ltr's ``transform_image_to_crop``: map a box into the crop taken around ``extract_xywh``."""
    c_box = box_xywh[:2] + 0.5 * box_xywh[2:]
    c_ext = extract_xywh[:2] + 0.5 * extract_xywh[2:]
    c_out = (output_size - 1) / 2 + (c_box - c_ext) * resize_factor
    wh = box_xywh[2:] * resize_factor
    return np.concatenate([c_out - 0.5 * wh, wh])


def perturb_box(rng, box_xywh, min_iou, sigma_factors):
    """ltr's ``perturb_box``: one proposal with IoU > ``min_iou`` to the box (100 shrinking tries)."""
    sigma = sigma_factors[int(rng.integers(len(sigma_factors)))]
    noise = math.sqrt(box_xywh[2] * box_xywh[3]) * sigma * np.ones(4)
    cx, cy = box_xywh[0] + 0.5 * box_xywh[2], box_xywh[1] + 0.5 * box_xywh[3]
    for _ in range(100):
        cxp, cyp = rng.normal(cx, noise[0]), rng.normal(cy, noise[1])
        wp, hp = rng.normal(box_xywh[2], noise[2]), rng.normal(box_xywh[3], noise[3])
        if wp <= 1:
            wp = box_xywh[2] * rng.uniform(0.15, 0.5)
        if hp <= 1:
            hp = box_xywh[3] * rng.uniform(0.15, 0.5)
        prop = np.round(np.array([cxp - 0.5 * wp, cyp - 0.5 * hp, wp, hp]))
        if prop[2] <= 1:
            prop[2] = box_xywh[2] * rng.uniform(0.15, 0.5)
        if prop[3] <= 1:
            prop[3] = box_xywh[3] * rng.uniform(0.15, 0.5)
        iou = float(iou_xywh(box_xywh, prop))
        if iou > min_iou:
            break
        noise = noise * 0.9
    return prop, iou


def _to_input(rng, crop, brightness_jitter):
    """ltr's brightness jitter (on 0..1 images, clipped) expressed in 0..255; the backbone normalises."""
    factor = rng.uniform(max(0.0, 1 - brightness_jitter), 1 + brightness_jitter)
    return np.clip(crop.astype(np.float32) * np.float32(factor), 0.0, 255.0)


def process_pair(rng, train_image, train_box, test_image, test_box, cfg: ProcessingConfig) -> dict:
    """One training pair as arrays (see the module docstring for the steps)."""
    return _one_test_frame(process_group(rng, train_image, train_box, [test_image], [test_box], cfg))


def _one_test_frame(group: dict) -> dict:
    """A group of one test frame as one pair: the test entries lose their test-frame axis."""
    return {k: v[0] if k.startswith(("test", "proposal")) else v for k, v in group.items()}


def process_group(rng, train_image, train_box, test_images, test_boxes, cfg: ProcessingConfig) -> dict:
    """One train frame with ``T`` test frames (``T`` pairs sharing their reference) as arrays: ``train_images``
    (S, S, 3), ``train_box_xywh`` (4,), ``test_images`` (T, S, S, 3), ``test_box_xywh`` (T, 4),
    ``proposals_xywh`` (T, N, 4), ``proposal_iou`` (T, N). With ``T = 1`` the random draws are those of one
    pair (ltr's order: grayscale, jitter and crop train then test, brightness, proposals)."""
    images = [train_image, *test_images]
    if rng.random() < cfg.grayscale_prob:
        images = [np.repeat(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)[:, :, None], 3, 2) for im in images]
    crops, boxes = [], []
    for k, (image, box) in enumerate(zip(images, [train_box, *test_boxes])):
        j = min(k, 1)  # 0: the train frame, 1: a test frame
        extract = jitter_box(rng, box, cfg.center_jitter[j], cfg.scale_jitter[j])
        crop, factor = crop_around(image, extract, cfg.search_area_factor, cfg.output_size)
        boxes.append(box_in_crop(box, extract, factor, cfg.output_size).astype(np.float32))
        crops.append(crop)
    inputs = [_to_input(rng, crop, cfg.brightness_jitter) for crop in crops]
    props, ious = [], []
    for box in boxes[1:]:
        p, i = zip(*(perturb_box(rng, box.astype(np.float64), cfg.min_iou, cfg.sigma_factors)
                     for _ in range(cfg.num_proposals)))
        props.append(np.stack(p))
        ious.append(np.array(i))
    return {"train_box_xywh": boxes[0], "test_box_xywh": np.stack(boxes[1:]), "train_images": inputs[0],
            "test_images": np.stack(inputs[1:]), "proposals_xywh": np.stack(props).astype(np.float32),
            "proposal_iou": (np.stack(ious) * 2 - 1).astype(np.float32)}


def make_example(datasets, weights, cfg: ProcessingConfig, seed: int, step: int, index: int, stream: int = 0):
    """Example ``index`` of batch ``step``: sampled and processed from ``rng([seed, step, index, stream])``."""
    rng = np.random.default_rng([seed, step, index, stream])
    _, _, seq, t_train, t_tests = sample_frames(rng, datasets, weights, cfg.max_gap, cfg.num_test_frames)
    frames = {t_train: seq.frame(t_train)}
    for t in t_tests:
        if t not in frames:
            frames[t] = seq.frame(t)
    boxes = seq.ground_truth_xywh
    out = process_group(rng, frames[t_train], boxes[t_train], [frames[t] for t in t_tests], boxes[t_tests], cfg)
    return _one_test_frame(out) if cfg.num_test_frames == 1 else out


def make_batch(datasets, weights, cfg: ProcessingConfig, seed: int, step: int, batch_size: int,
               stream: int = 0, indices: Sequence[int] | None = None) -> dict:
    """A batch ``{train_images, test_images (B,S,S,3) f32, train_box_xywh, test_box_xywh (B,4),
    proposals_xywh (B,N,4), proposal_iou (B,N)}``; ``indices`` selects a slice of the batch (data parallel).
    With ``cfg.num_test_frames = T > 1`` the test entries get a test-frame axis after the batch axis
    (``test_images`` (B,T,S,S,3), ... ``proposal_iou`` (B,T,N)): ``B T`` pairs, ``B`` references."""
    idx = range(batch_size) if indices is None else indices
    examples = [make_example(datasets, weights, cfg, seed, step, i, stream) for i in idx]
    return {k: np.stack([e[k] for e in examples]) for k in examples[0]}
