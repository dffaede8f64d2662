"""Synthetic tracking sequences rendered from ordinary photos, with exact ground truth.

A sequence is a textured object (a patch cut from a photo and shaped by a polygon mask) moving over a
background (a slowly panning window of another photo). Along the way the object translates, changes scale and
aspect ratio, rotates, is passed by an occluder, is accompanied by look-alike distractors (copies of the same
patch, recoloured) and is motion-blurred when it moves fast. Everything is decided by one integer seed.

The motion of every layer is computed up front as arrays (cheap); a frame is rendered only when asked for, so a
training sampler can draw two frames of a long sequence without rendering the rest. The ground-truth box of a
frame is the axis-aligned bound of the object's transformed mask polygon, clipped to the frame, in ``xywh``
(continuous pixel extent, ``atom_jax.boxes`` conventions).

Photo sources: :func:`bundled_images` (the photos shipped inside the scikit-image wheel; nothing is downloaded)
or :func:`folder_images` (any folder of images). Frames are RGB ``uint8`` ``(H, W, 3)``. :func:`dataset` makes
many sequences a :class:`~atom_jax.data.sequence.Dataset` (for training), generated on demand.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import typing
from typing import Iterator, NamedTuple

import cv2
import numpy as np

from atom_jax.data.files import as_rgb
from atom_jax.data.sequence import Dataset, Sequence
from atom_jax.errors import InputError

# Photos of the scikit-image wheel that look like natural images (synthetic test charts and text are left out).
BUNDLED_NAMES = (
    "astronaut.png", "chelsea.png", "coffee.png", "color.png", "hubble_deep_field.jpg", "ihc.png",
    "motorcycle_left.png", "retina.jpg", "rocket.jpg", "brick.png", "camera.png", "grass.png", "gravel.png",
    "moon.png", "coins.png", "clock_motion.png", "cell.png",
)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """What a generated sequence looks like; sizes in pixels of the output frame."""

    num_frames: int = 100
    frame_wh: tuple[int, int] = (320, 240)
    object_size: tuple[float, float] = (0.12, 0.30)  # sqrt(w h) of the object at scale 1, as a fraction of min(W, H)
    max_speed: float = 6.0  # cap on the object's speed, pixels per frame
    scale_range: tuple[float, float] = (0.6, 1.6)  # multiplicative scale change over the sequence
    aspect_range: tuple[float, float] = (0.7, 1.4)  # multiplicative aspect-ratio change
    max_rotation_deg: float = 25.0
    num_distractors: int = 1  # look-alike copies of the object
    occlusion: bool = True  # one occluder crosses the object's path
    motion_blur: bool = True  # blur the object along its motion when it is fast
    camera_pan: float = 1.5  # background pan speed, pixels per frame


class Motion(NamedTuple):
    """Per-frame pose of one layer: center ``(T, 2)`` in frame pixels, scale, aspect, angle (degrees)."""

    center_xy: np.ndarray
    scale: np.ndarray
    aspect: np.ndarray
    angle: np.ndarray


class Layer(NamedTuple):
    """A textured sprite: RGB patch ``(h, w, 3)``, its mask polygon ``(P, 2)`` in patch pixels, and its motion."""

    patch: np.ndarray
    polygon_xy: np.ndarray
    motion: Motion


class SyntheticSequence(NamedTuple):
    """A sequence ready to render: background photo, pan offsets, layers below/above the target, the target."""

    background: np.ndarray
    pan_xy: np.ndarray  # (T, 2) top-left corner of the frame window in the background photo
    below: tuple[Layer, ...]
    target: Layer
    above: tuple[Layer, ...]
    config: SyntheticConfig
    boxes_xywh: np.ndarray  # (T, 4) float64 ground truth
    visible: np.ndarray  # (T,) bool: target at least half unoccluded and half inside the frame


# ----------------------------------------------------------------------------------------------- photo sources


def bundled_images() -> list[np.ndarray]:
    """The natural photos bundled in the scikit-image wheel, as RGB uint8 (read from its package folder)."""
    import skimage.data
    import skimage.io

    folder = pathlib.Path(skimage.data.__file__).parent
    images = [as_rgb(skimage.io.imread(folder / name)) for name in BUNDLED_NAMES if (folder / name).is_file()]
    if len(images) < 2:
        raise InputError(f"scikit-image's bundled photos were not found in {folder}")
    return images


def folder_images(folder: str | os.PathLike, max_side: int = 800) -> list[np.ndarray]:
    """Every readable image in ``folder`` (not recursive), RGB uint8, downscaled to at most ``max_side``."""
    paths = sorted(p for p in pathlib.Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
    images = []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        scale = min(1.0, max_side / max(bgr.shape[:2]))
        if scale < 1.0:
            bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if len(images) < 2:
        raise InputError(f"need at least 2 readable images in {folder}, found {len(images)}")
    return images


# ------------------------------------------------------------------------------------------------ generation


def _smooth_walk(rng: np.random.Generator, n: int, step: float, lo: float, hi: float) -> np.ndarray:
    """A smooth random walk in ``[lo, hi]``: integrated AR(1) velocity, reflected at the bounds."""
    v, x, out = 0.0, rng.uniform(lo, hi) if lo < hi else lo, np.empty(n)
    for t in range(n):
        v = 0.85 * v + rng.normal(0.0, step)
        x += v
        if x < lo or x > hi:
            x = float(np.clip(x, lo, hi))
            v = -v
        out[t] = x
    return out


def _trajectory(rng, n, frame_wh, margin, max_speed, start_xy=None) -> np.ndarray:
    """Centers ``(n, 2)`` that wander inside the frame with inertia, bouncing off ``margin`` from the border."""
    lo = np.asarray(margin, float)
    hi = np.asarray(frame_wh, float) - lo
    hi = np.maximum(hi, lo + 1.0)
    pos = rng.uniform(lo, hi) if start_xy is None else np.asarray(start_xy, float)
    vel = rng.normal(0.0, max_speed / 3, 2)
    out = np.empty((n, 2))
    for t in range(n):
        vel = 0.9 * vel + rng.normal(0.0, max_speed / 6, 2)
        speed = np.linalg.norm(vel)
        if speed > max_speed:
            vel *= max_speed / speed
        pos = pos + vel
        for k in range(2):
            if pos[k] < lo[k] or pos[k] > hi[k]:
                pos[k] = np.clip(pos[k], lo[k], hi[k])
                vel[k] = -vel[k]
        out[t] = pos
    return out


def _polygon(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A mask outline inside a ``w x h`` patch: an ellipse, a rounded-ish rectangle or a convex blob."""
    kind = rng.integers(3)
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    if kind == 0:  # ellipse
        r = np.stack([np.cos(t) * (w / 2 - 0.5), np.sin(t) * (h / 2 - 0.5)], axis=1)
    elif kind == 1:  # superellipse: a rectangle with rounded corners
        e = 0.3
        r = np.stack([np.sign(np.cos(t)) * np.abs(np.cos(t)) ** e * (w / 2 - 0.5),
                      np.sign(np.sin(t)) * np.abs(np.sin(t)) ** e * (h / 2 - 0.5)], axis=1)
    else:  # star-convex blob with a smooth random radius
        k = np.arange(1, 4)
        amp = rng.uniform(0.0, 0.12, 3)
        phase = rng.uniform(0, 2 * np.pi, 3)
        rad = 0.8 + (amp[:, None] * np.cos(k[:, None] * t[None] + phase[:, None])).sum(0)
        rad = rad / rad.max()
        r = np.stack([np.cos(t) * rad * (w / 2 - 0.5), np.sin(t) * rad * (h / 2 - 0.5)], axis=1)
    return (c + r).astype(np.float64)


def _cut_patch(rng, image, size_wh) -> np.ndarray:
    w, h = (int(max(4, min(s, d))) for s, d in zip(size_wh, (image.shape[1], image.shape[0])))
    x = rng.integers(0, image.shape[1] - w + 1)
    y = rng.integers(0, image.shape[0] - h + 1)
    return image[y:y + h, x:x + w].copy()


def _recolour(rng, patch, amount) -> np.ndarray:
    gain = 1.0 + rng.uniform(-amount, amount, 3)
    return np.clip(patch.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _affine(layer_patch_wh, center_xy, scale, aspect, angle_deg) -> np.ndarray:
    """2x3 map from patch pixels to frame pixels: scale by ``scale*sqrt(aspect)`` in x and
    ``scale/sqrt(aspect)`` in y about the patch center, rotate, then move the patch center to ``center_xy``."""
    w, h = layer_patch_wh
    sx, sy = scale * np.sqrt(aspect), scale / np.sqrt(aspect)
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    lin = rot @ np.diag([sx, sy])
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    return np.concatenate([lin, (np.asarray(center_xy) - lin @ c)[:, None]], axis=1)


def _layer_boxes_xyxy(layer: Layer) -> np.ndarray:
    """Bounds ``(T, 4)`` of the layer's transformed polygon (continuous extent, pixel centers +-0.5)."""
    m = layer.motion
    h, w = layer.patch.shape[:2]
    out = np.empty((len(m.scale), 4))
    for t in range(len(m.scale)):
        a = _affine((w, h), m.center_xy[t], m.scale[t], m.aspect[t], m.angle[t])
        pts = layer.polygon_xy @ a[:, :2].T + a[:, 2]
        out[t] = [*(pts.min(0) - 0.5), *(pts.max(0) + 0.5)]
    return out


def _overlap_fraction(a_xyxy, b_xyxy) -> np.ndarray:
    """Fraction of the area of boxes ``a`` covered by boxes ``b`` (row-wise)."""
    tl = np.maximum(a_xyxy[:, :2], b_xyxy[:, :2])
    br = np.minimum(a_xyxy[:, 2:], b_xyxy[:, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=1)
    area = np.prod(np.clip(a_xyxy[:, 2:] - a_xyxy[:, :2], 1e-9, None), axis=1)
    return inter / area


def make_sequence(seed: int, images: typing.Sequence[np.ndarray], config: SyntheticConfig = SyntheticConfig()
                  ) -> SyntheticSequence:
    """Decide everything about one sequence from ``seed`` (no rendering yet)."""
    if len(images) < 2:
        raise InputError("make_sequence needs at least two photos (one for the background, one for objects)")
    rng = np.random.default_rng(seed)
    cfg = config
    n = cfg.num_frames
    fw, fh = cfg.frame_wh
    ids = rng.permutation(len(images))
    bg_src, obj_src, occ_src = images[ids[0]], images[ids[1]], images[ids[2 % len(ids)]]

    # Background: a photo resized to cover the frame plus the pan range, panned by a smooth walk.
    pan_room = int(np.ceil(cfg.camera_pan * n * 0.5)) + 2
    need_w, need_h = fw + 2 * pan_room, fh + 2 * pan_room
    s = max(need_w / bg_src.shape[1], need_h / bg_src.shape[0]) * rng.uniform(1.0, 1.4)
    background = cv2.resize(bg_src, (int(np.ceil(bg_src.shape[1] * s)), int(np.ceil(bg_src.shape[0] * s))),
                            interpolation=cv2.INTER_LINEAR)
    max_off = np.array([background.shape[1] - fw, background.shape[0] - fh], float)
    pan_xy = np.stack([_smooth_walk(rng, n, cfg.camera_pan * 0.2, 0, max_off[k]) for k in range(2)], axis=1)

    # Target: a patch of the object photo with a random outline.
    base = rng.uniform(*cfg.object_size) * min(fw, fh)
    ar = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
    pw, ph = max(8, int(round(base * np.sqrt(ar)))), max(8, int(round(base / np.sqrt(ar))))
    src_scale = rng.uniform(0.6, 1.5)  # how zoomed the texture is
    patch = _cut_patch(rng, obj_src, (pw / src_scale, ph / src_scale))
    patch = cv2.resize(patch, (pw, ph), interpolation=cv2.INTER_AREA)
    polygon = _polygon(rng, pw, ph)
    margin = (0.5 * pw, 0.5 * ph)
    motion = Motion(
        center_xy=_trajectory(rng, n, (fw, fh), margin, cfg.max_speed),
        scale=np.exp(_smooth_walk(rng, n, 0.01, *np.log(cfg.scale_range))),
        aspect=np.exp(_smooth_walk(rng, n, 0.008, *np.log(cfg.aspect_range))),
        angle=_smooth_walk(rng, n, 0.4, -cfg.max_rotation_deg, cfg.max_rotation_deg),
    )
    target = Layer(patch, polygon, motion)

    # Distractors: the same texture recoloured and outlined anew, each with its own motion, drawn below.
    below = []
    for _ in range(cfg.num_distractors):
        d_motion = Motion(
            center_xy=_trajectory(rng, n, (fw, fh), margin, cfg.max_speed),
            scale=np.exp(_smooth_walk(rng, n, 0.01, *np.log(cfg.scale_range))),
            aspect=np.exp(_smooth_walk(rng, n, 0.008, *np.log(cfg.aspect_range))),
            angle=_smooth_walk(rng, n, 0.4, -cfg.max_rotation_deg, cfg.max_rotation_deg),
        )
        below.append(Layer(_recolour(rng, patch, 0.25), _polygon(rng, pw, ph), d_motion))

    # Occluder: a patch of a third photo crossing the target's path on a straight line around a random frame.
    above = []
    boxes_xyxy = _layer_boxes_xyxy(target)
    occluded = np.zeros(n)
    if cfg.occlusion:
        t0 = rng.integers(n // 4, max(n // 4 + 1, 3 * n // 4))
        ow, oh = int(base * rng.uniform(0.5, 1.0)), int(base * rng.uniform(0.8, 1.6))
        occ_patch = _cut_patch(rng, occ_src, (ow, oh))
        oh, ow = occ_patch.shape[:2]
        vel = rng.normal(0, 1, 2)
        vel *= rng.uniform(1.5, 4.0) / max(np.linalg.norm(vel), 1e-6)
        centers = motion.center_xy[t0] + (np.arange(n) - t0)[:, None] * vel[None]
        o_motion = Motion(centers, np.ones(n), np.ones(n), np.zeros(n))
        occ = Layer(occ_patch, _polygon(rng, ow, oh), o_motion)
        above.append(occ)
        occluded = _overlap_fraction(boxes_xyxy, _layer_boxes_xyxy(occ))

    frame_xyxy = np.array([0.0, 0.0, fw, fh])
    inside = _overlap_fraction(boxes_xyxy, np.broadcast_to(frame_xyxy, boxes_xyxy.shape))
    clipped = np.concatenate([np.clip(boxes_xyxy[:, :2], 0, [fw, fh]), np.clip(boxes_xyxy[:, 2:], 0, [fw, fh])], 1)
    boxes_xywh = np.concatenate([clipped[:, :2], clipped[:, 2:] - clipped[:, :2]], axis=1)
    visible = (occluded < 0.5) & (inside > 0.5) & (boxes_xywh[:, 2] > 1) & (boxes_xywh[:, 3] > 1)
    return SyntheticSequence(background, pan_xy, tuple(below), target, tuple(above), cfg, boxes_xywh, visible)


# ------------------------------------------------------------------------------------------------- rendering


def _draw_layer(canvas: np.ndarray, layer: Layer, t: int, blur: bool) -> None:
    m = layer.motion
    h, w = layer.patch.shape[:2]
    fh, fw = canvas.shape[:2]
    a = _affine((w, h), m.center_xy[t], m.scale[t], m.aspect[t], m.angle[t])
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(layer.polygon_xy * 4).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=2)
    rgb = cv2.warpAffine(layer.patch, a, (fw, fh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, a, (fw, fh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    if blur and t > 0:
        vel = m.center_xy[t] - m.center_xy[t - 1]
        length = int(round(np.linalg.norm(vel) * 1.5))
        if length >= 3:  # a line kernel along the motion, as a moving camera would smear the object
            k = np.zeros((length, length), np.float32)
            d = vel / np.linalg.norm(vel)
            c = (length - 1) / 2
            p0 = np.round([c - d[0] * c, c - d[1] * c]).astype(int)
            p1 = np.round([c + d[0] * c, c + d[1] * c]).astype(int)
            cv2.line(k, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 1.0)
            k /= k.sum()
            rgb = cv2.filter2D(rgb, -1, k)
            alpha = cv2.filter2D(alpha, -1, k)
    alpha_f = alpha.astype(np.float32)[:, :, None] / 255.0
    canvas[:] = canvas * (1 - alpha_f) + rgb.astype(np.float32) * alpha_f


def render_frame(seq: SyntheticSequence, t: int) -> np.ndarray:
    """Frame ``t`` (0-based) of the sequence, RGB uint8 ``(H, W, 3)``."""
    cfg = seq.config
    if not 0 <= t < cfg.num_frames:
        raise InputError(f"frame index {t} out of range 0..{cfg.num_frames - 1}")
    fw, fh = cfg.frame_wh
    x0, y0 = seq.pan_xy[t]
    shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]])  # sub-pixel pan of the background window
    canvas = cv2.warpAffine(seq.background, shift, (fw, fh), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    for layer in seq.below:
        _draw_layer(canvas, layer, t, cfg.motion_blur)
    _draw_layer(canvas, seq.target, t, cfg.motion_blur)
    for layer in seq.above:
        _draw_layer(canvas, layer, t, False)
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


def iter_frames(seq: SyntheticSequence) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(frame, box_xywh)`` for every frame, in order."""
    for t in range(seq.config.num_frames):
        yield render_frame(seq, t), seq.boxes_xywh[t]


def write_sequence(seq: SyntheticSequence, folder: str | os.PathLike, jpeg_quality: int = 95) -> pathlib.Path:
    """Write ``img/0001.jpg ...`` and ``groundtruth_rect.txt`` (``x,y,w,h`` per line, 0-based pixels) and
    ``visible.txt`` (0/1 per line) into ``folder``; returns the folder."""
    folder = pathlib.Path(folder)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for t, (frame, _) in enumerate(iter_frames(seq)):
        cv2.imwrite(str(folder / "img" / f"{t + 1:04d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    np.savetxt(folder / "groundtruth_rect.txt", seq.boxes_xywh, fmt="%.2f", delimiter=",")
    np.savetxt(folder / "visible.txt", seq.visible.astype(int), fmt="%d")
    return folder


# --------------------------------------------------------------------------------------------------- dataset


def dataset(num: int = 1000, seed: int = 0, config: SyntheticConfig | dict | None = None,
            image_folder: str | None = None, name: str = "synthetic") -> Dataset:
    """``num`` sequences named ``synthetic_<i>``; sequence ``i`` is generated from seed ``(seed, i)``.

    ``config`` may be a dict of :class:`SyntheticConfig` fields (lists become tuples, as from a JSON config).
    ``image_folder`` replaces scikit-image's bundled photos by a folder of images. Sequences are made when first
    asked for (the last 64 are cached) and frames rendered on demand.
    """
    if isinstance(config, dict):
        config = SyntheticConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    config = config or SyntheticConfig()
    images = folder_images(image_folder) if image_folder else bundled_images()
    names = [f"synthetic_{i}" for i in range(int(num))]

    def load(key):
        i = int(key.rsplit("_", 1)[1])
        sub_seed = int(np.random.SeedSequence([int(seed), i]).generate_state(1)[0])
        seq = make_sequence(sub_seed, images, config)
        return Sequence(key, name, (), seq.boxes_xywh, target_visible=seq.visible,
                        source=lambda t: render_frame(seq, t))

    return Dataset(name, names, load)

