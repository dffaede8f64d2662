"""ATOM's first-frame data augmentation as jit-able functions over one fixed-size expanded patch.

pytracking's ATOM (``generate_init_samples``) crops one *expanded* patch (twice the sample size, the difference
kept even) around the target and derives every training sample from it by a transform followed by a centred
crop back to the sample size, shifted by the transform's shift (replicate padding where the crop leaves the
expanded patch). The samples, in pytracking's order (see :func:`transforms_from_pytracking`):

  1. identity;
  2. ``'shift'`` (absolute) and ``'relativeshift'`` translations (shift ``trunc(rel * sample_size / 2)``);
  3. horizontal flip (``'fliplr'``), then one Gaussian blur per ``'blur'`` entry, then one rotation per
     ``'rotate'`` angle; each of these also gets a random shift (drawn by :func:`draw_random_shifts`).
With pytracking's ``atom/default`` augmentation this is 1 + 4 + 1 + 5 + 12 = 23 samples. Feature-level dropout
copies of the identity sample (``'dropout'``) act on features and belong to the tracker, not here.

Conventions: shifts and sigmas are in (x, y) order here; pytracking's ``augmentation`` dict lists them in
(y, x) order, which :func:`transforms_from_pytracking` converts. A shift ``s`` moves the image content by ``+s``
pixels in the output sample, so the target centre sits at ``sample_centre + s`` (what the labels use).

Exact semantics reproduced (PyTorch/OpenCV on this machine):
  * blur: separable Gaussian, kernel ``exp(-x^2 / (2 sigma^2))`` on ``x = -ceil(2 sigma) .. ceil(2 sigma)``,
    normalised to sum 1 (float32), first along the height then along the width, with *zero* padding of the
    expanded patch (``conv2d(padding=...)``), then the replicate-padded shifted crop;
  * rotate: OpenCV ``warpAffine`` of the expanded patch about ``((h - 1) / 2, (w - 1) / 2)`` by the angle
    (positive = counter-clockwise on screen), bilinear, ``BORDER_REPLICATE``. OpenCV (5.x) maps each output
    pixel with the float32 inverse matrix as ``fma(m0, x, m1 * y + m2)``; this is reproduced with exact
    NumPy tables and a two-sum, independent of XLA's FMA contraction. (OpenCV 4.x quantised coordinates to
    1/32 pixel instead; samples then differ slightly from the ones pytracking made with such a build.)
"""

from __future__ import annotations

import functools
import math
from typing import Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from atom_jax.errors import InputError
from atom_jax.image import check_image, sample_patch


class Transform(NamedTuple):
    """One augmentation. ``kind``: ``'identity'``, ``'shift'``, ``'fliplr'``, ``'blur'`` or ``'rotate'``.

    ``param``: ``()`` for identity and flip; ``(dx, dy)`` integer pixels for shift; ``(sigma_x, sigma_y)``
    for blur; ``(degrees,)`` for rotate. ``random_shift``: whether pytracking adds a random shift to it.
    """

    kind: str
    param: tuple = ()
    random_shift: bool = False


class AugmentedSamples(NamedTuple):
    """``images``: ``(N, h, w, C)`` float32 in 0..255 (not normalised); ``shifts_xy``: ``(N, 2)`` int32 total
    shift of each sample (fixed + random), the displacement of the target centre inside the sample."""

    images: jnp.ndarray
    shifts_xy: jnp.ndarray


# pytracking's atom/default ``params.augmentation`` (tuples in its (y, x) order), without 'dropout'.
PYTRACKING_ATOM_AUGMENTATION = {
    "fliplr": True,
    "rotate": (5, -5, 10, -10, 20, -20, 30, -30, 45, -45, -60, 60),
    "blur": ((2, 0.2), (0.2, 2), (3, 1), (1, 3), (2, 2)),
    "relativeshift": ((0.6, 0.6), (-0.6, 0.6), (0.6, -0.6), (-0.6, -0.6)),
}


def expanded_size(sample_hw, expansion_factor=2):
    """The expanded patch size ``(h, w)``: ``int(sample * factor)``, plus one where needed so that
    ``expanded - sample`` is even (pytracking's ``aug_expansion_sz``). Factor ``None`` or 1: no expansion."""
    if expansion_factor is None or expansion_factor == 1:
        return tuple(int(s) for s in sample_hw)
    out = []
    for s in sample_hw:
        e = int(np.float32(s) * np.float32(expansion_factor))
        out.append(e + (e - int(s)) % 2)
    return tuple(out)


def transforms_from_pytracking(augmentation: Mapping, sample_hw) -> tuple[Transform, ...]:
    """Translate pytracking's ``params.augmentation`` dict into the ordered tuple of :class:`Transform`.

    ``sample_hw``: the sample size ``(h, w)`` (pytracking's ``img_sample_sz``), used by relative shifts.
    Keys ``'shift'``, ``'relativeshift'``, ``'fliplr'``, ``'blur'``, ``'rotate'`` are supported, ``'dropout'``
    is ignored (feature level); ``'scale'`` is not implemented (ATOM does not use it).
    """
    unknown = set(augmentation) - {"shift", "relativeshift", "fliplr", "blur", "rotate", "dropout"}
    if unknown:
        raise InputError(f"unsupported augmentation keys {sorted(unknown)} (supported: shift, relativeshift, "
                         "fliplr, blur, rotate; dropout is applied by the tracker)")
    out = [Transform("identity")]
    for dy, dx in augmentation.get("shift", ()):
        out.append(Transform("shift", (int(dx), int(dy))))
    half = np.asarray(sample_hw, np.float32)
    for rel in augmentation.get("relativeshift", ()):
        dy, dx = np.trunc(np.asarray(rel, np.float32) * half / np.float32(2)).astype(np.int64)
        out.append(Transform("shift", (int(dx), int(dy))))
    if augmentation.get("fliplr", False):
        out.append(Transform("fliplr", (), True))
    for sigma in augmentation.get("blur", ()):
        sy, sx = (sigma, sigma) if isinstance(sigma, (int, float)) else sigma
        out.append(Transform("blur", (float(sx), float(sy)), True))
    for angle in augmentation.get("rotate", ()):
        out.append(Transform("rotate", (float(angle),), True))
    return tuple(out)


def draw_random_shifts(key, transforms, sample_hw, random_shift_factor=1 / 3):
    """Random shifts ``(N, 2)`` int32 in (x, y): ``trunc((u - 0.5) * sample_size * factor)``, ``u ~ U[0, 1)``,
    for the transforms that take one (zero for the others), like pytracking's ``get_rand_shift``."""
    u = jax.random.uniform(key, (len(transforms), 2), jnp.float32)
    size_xy = jnp.asarray(sample_hw[::-1], jnp.float32)
    shifts = jnp.trunc((u - 0.5) * size_xy * jnp.float32(random_shift_factor)).astype(jnp.int32)
    mask = jnp.asarray([t.random_shift for t in transforms], jnp.int32)[:, None]
    return shifts * mask


def _crop_offsets(patch_hw, output_hw, shift_xy):
    """``(o_y, o_x)``: output pixel ``i`` reads expanded pixel ``i + o`` (centred crop moved by the shift)."""
    base = np.asarray([-math.floor((o - n) / 2) for n, o in zip(patch_hw, output_hw)], np.int32)
    return jnp.asarray(base) - jnp.asarray(shift_xy, jnp.int32)[::-1]


def _crop_indices(patch_hw, offsets, output_hw):
    """Row and column indices of the crop, clamped (replicate padding of the expanded patch)."""
    return tuple(jnp.clip(jnp.arange(o) + offsets[a], 0, n - 1)
                 for a, (n, o) in enumerate(zip(patch_hw, output_hw)))


def gaussian_kernel_1d(sigma):
    """pytracking's blur kernel (float32 NumPy, sum 1), radius ``ceil(2 sigma)``."""
    radius = math.ceil(2 * sigma)
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-(x ** 2) / np.float32(2 * sigma ** 2)).astype(np.float32)
    return k / k.sum(dtype=np.float32)


def _rotation_tables(shape_hw, degrees):
    """OpenCV's float32 inverse map for pytracking's rotation, as exact NumPy tables.

    OpenCV maps output pixel ``(x, y)`` to ``fma(m0, x, m1 * y + m2)`` (and likewise for the source row) with
    the inverse matrix in float32. Returned: ``rows`` ``(2, h)``: the per-row terms ``m1 * y + m2`` of the
    source x and y (float32, unfused); ``cols`` ``(4, w)``: the per-column products ``m0 * x`` of the source
    x and y, each split exactly into a float32 pair ``hi, lo``.
    """
    h, w = shape_hw
    a = math.pi * degrees / 180
    c = (np.asarray([[h], [w]], np.float64) - 1) / 2        # pytracking passes (rows, cols) as (cx, cy)
    rot = np.asarray([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    fwd = np.concatenate([rot, c - rot @ c], 1)
    det = fwd[0, 0] * fwd[1, 1] - fwd[0, 1] * fwd[1, 0]
    inv_det = 1.0 / det if det != 0 else 0.0
    lin = np.asarray([[fwd[1, 1], -fwd[0, 1]], [-fwd[1, 0], fwd[0, 0]]]) * inv_det
    inv = np.concatenate([lin, -lin @ fwd[:, 2:]], 1).astype(np.float32)
    y = np.arange(h, dtype=np.float32)
    x = np.arange(w, dtype=np.float64)
    rows, cols = [], []
    for r in range(2):
        rows.append(inv[r, 1] * y + inv[r, 2])              # NumPy float32: rounded twice, like OpenCV
        prod = np.float64(inv[r, 0]) * x                    # exact in float64 (24 + 10 bits)
        hi = prod.astype(np.float32)
        cols += [hi, (prod - hi).astype(np.float32)]        # exact remainder
    return np.stack(rows), np.stack(cols)


class _Params(NamedTuple):
    """Per-transform constants, stacked over the transforms (leading axis N)."""

    branch: np.ndarray      # (N,) int32: 0 crop (identity, shift, flip), 1 blur, 2 rotate
    flip: np.ndarray        # (N,) bool
    kernels: np.ndarray     # (N, 2, K) float32: blur kernels along (height, width), zero-padded to K taps
    rot_rows: np.ndarray    # (N, 2, h) float32
    rot_cols: np.ndarray    # (N, 4, w) float32


def _params(transforms, patch_hw):
    h, w = patch_hw
    radius = max([math.ceil(2 * s) for t in transforms if t.kind == "blur" for s in t.param] + [0])
    n = len(transforms)
    p = _Params(np.zeros(n, np.int32), np.zeros(n, bool), np.zeros((n, 2, 2 * radius + 1), np.float32),
                np.zeros((n, 2, h), np.float32), np.zeros((n, 4, w), np.float32))
    for i, t in enumerate(transforms):
        if t.kind in ("identity", "shift", "fliplr"):
            p.flip[i] = t.kind == "fliplr"
        elif t.kind == "blur":
            p.branch[i] = 1
            for axis, sigma in enumerate((t.param[1], t.param[0])):    # height uses sigma_y
                k = gaussian_kernel_1d(sigma)
                r = len(k) // 2
                p.kernels[i, axis, radius - r: radius + r + 1] = k
        elif t.kind == "rotate":
            p.branch[i] = 2
            p.rot_rows[i], p.rot_cols[i] = _rotation_tables((h, w), t.param[0])
        else:
            raise InputError(f"unknown augmentation kind {t.kind!r}")
    return p


def _crop(patch, offsets, p, output_hw):
    rows, cols = _crop_indices(patch.shape[:2], offsets, output_hw)
    w = patch.shape[1]
    return patch[rows][:, jnp.where(p.flip, w - 1 - cols, cols)]


def _shift_replicate(x, d_y, d_x):
    """``x[clip(i + d_y)][:, clip(j + d_x)]`` (same shape) via edge padding and a dynamic slice.

    A gather here would make XLA recompute the (fused) producer of ``x`` once per gathered element.
    """
    h, w = x.shape[:2]
    padded = jnp.pad(x, ((h, h), (w, w), (0, 0)), mode="edge")
    # Clamping the start reproduces the clamped indices (beyond the pad everything is the edge). Explicit,
    # because dynamic_slice reads negative starts from the end.
    start_y, start_x = jnp.clip(h + d_y, 0, 2 * h), jnp.clip(w + d_x, 0, 2 * w)
    return jax.lax.dynamic_slice(padded, (start_y, start_x, 0), x.shape)


def _blur(patch, offsets, p, output_hw):
    """Zero-padded separable Gaussian blur of ``patch`` at the shifted crop's pixels.

    The crop reads rows ``clip(i + o_y, 0, h - 1)``, all inside the window ``[s, s + out_h)`` with
    ``s = clip(o_y, 0, h - out_h)`` (same for columns): the blur is computed on that window only (a dynamic
    slice of the zero-padded patch), then the clamped crop is read from it.
    """
    r = p.kernels.shape[-1] // 2
    (h, w), (out_h, out_w) = patch.shape[:2], output_hw
    if out_h > h or out_w > w:
        raise InputError(f"blur needs an output size {output_hw} within the expanded patch {(h, w)}")
    start = jnp.clip(offsets, 0, jnp.asarray([h - out_h, w - out_w]))
    padded = jnp.pad(patch, ((r, r), (r, r), (0, 0)))
    win = jax.lax.dynamic_slice(padded, (start[0], start[1], 0), (out_h + 2 * r, out_w + 2 * r, patch.shape[2]))
    kh, kw = p.kernels[0], p.kernels[1]
    vert = sum(kh[a] * win[a:a + out_h] for a in range(2 * r + 1))              # conv along the height
    both = sum(kw[b] * vert[:, b:b + out_w] for b in range(2 * r + 1))          # then along the width
    d = offsets - start
    return _shift_replicate(both, d[0], d[1])


def _fused_source(row_term, hi, lo):
    """``round(hi + lo + row_term)`` without relying on XLA's FMA contraction (Knuth's two-sum)."""
    s = hi + row_term
    t = s - hi
    err = (hi - (s - t)) + (row_term - t)
    return s + (err + lo)


def _rotate(patch, offsets, p, output_hw):
    """``cv2.warpAffine`` (bilinear, replicate) of ``patch`` evaluated only at the shifted crop's pixels."""
    h, w = patch.shape[:2]
    rows, cols = _crop_indices((h, w), offsets, output_hw)
    rr, cc = p.rot_rows[:, rows][:, :, None], p.rot_cols[:, cols][:, None, :]
    sx = _fused_source(rr[0], cc[0], cc[1])
    sy = _fused_source(rr[1], cc[2], cc[3])
    fx, fy = jnp.floor(sx), jnp.floor(sy)
    ax, ay = (sx - fx)[..., None], (sy - fy)[..., None]
    ix, iy = fx.astype(jnp.int32), fy.astype(jnp.int32)

    def pix(dy, dx):
        return patch[jnp.clip(iy + dy, 0, h - 1), jnp.clip(ix + dx, 0, w - 1)]

    p00, p01, p10, p11 = pix(0, 0), pix(0, 1), pix(1, 0), pix(1, 1)
    top = ax * (p01 - p00) + p00
    bottom = ax * (p11 - p10) + p10
    return ay * (bottom - top) + top


_BRANCHES = (_crop, _blur, _rotate)


def _apply_one(patch, p, shift_xy, output_hw):
    offsets = _crop_offsets(patch.shape[:2], output_hw, shift_xy)
    branches = [functools.partial(b, output_hw=output_hw) for b in _BRANCHES]
    return jax.lax.switch(p.branch, branches, patch, offsets, p)


def apply_transform(patch, transform: Transform, shift_xy, output_hw):
    """One augmented sample ``(h, w, C)`` from the expanded ``patch``; ``shift_xy``: ``(2,)`` int total shift
    (the fixed shift of a ``'shift'`` transform included by the caller). jit-able with a traced shift."""
    p = jax.tree.map(lambda a: jnp.asarray(a[0]), _params((transform,), patch.shape[:2]))
    return _apply_one(jnp.asarray(patch, jnp.float32), p, jnp.asarray(shift_xy, jnp.int32), tuple(output_hw))


def total_shifts(transforms, random_shifts_xy):
    """Fixed shifts of ``'shift'`` transforms plus the random shifts: ``(N, 2)`` int32 in (x, y)."""
    fixed = np.asarray([t.param if t.kind == "shift" else (0, 0) for t in transforms], np.int32)
    return jnp.asarray(fixed) + jnp.asarray(random_shifts_xy, jnp.int32)


def init_augmentations(image, center_xy, scale, transforms, random_shifts_xy, sample_hw=(288, 288),
                       expansion_factor=2, valid_wh=None) -> AugmentedSamples:
    """ATOM's first-frame augmented samples, stacked in ``transforms`` order (identity first).

    Args:
      image: ``(H, W, C)`` RGB image, uint8 or float 0..255.
      center_xy: ``(2,)`` target centre, pytracking's unrounded ``pos`` in (x, y) (truncated by
        :func:`atom_jax.image.sample_patch`, as in pytracking). May be traced.
      scale: scalar ``target_scale`` (image pixels per sample pixel). May be traced.
      transforms: static tuple of :class:`Transform` (e.g. from :func:`transforms_from_pytracking`).
      random_shifts_xy: ``(N, 2)`` int random shifts (x, y), e.g. :func:`draw_random_shifts`; rows of
        transforms without a random shift should be zero.
      sample_hw: static sample size ``(h, w)`` (``img_sample_sz``). expansion_factor: static, as pytracking.
      valid_wh: the frame's size when ``image`` is padded into a larger canvas (see ``sample_patch``).

    The transforms run in a ``lax.scan`` over one ``lax.switch`` (crop / blur / rotate): the expanded patch is
    computed once (XLA would otherwise fuse its bilinear gather into every transform and recompute it) and the
    program stays small however many transforms there are.
    """
    check_image(image)
    if len(transforms) == 0 or transforms[0].kind != "identity":
        raise InputError("the first augmentation must be the identity transform")
    if np.shape(random_shifts_xy) != (len(transforms), 2):
        raise InputError(f"random_shifts_xy must have shape ({len(transforms)}, 2), "
                         f"got {np.shape(random_shifts_xy)}")
    ex_hw = expanded_size(sample_hw, expansion_factor)
    size_wh = jnp.asarray(scale, jnp.float32) * jnp.asarray(ex_hw[::-1], jnp.float32)
    patch, _ = sample_patch(image, center_xy, size_wh, ex_hw, valid_wh)
    shifts = total_shifts(transforms, random_shifts_xy)
    params = jax.tree.map(jnp.asarray, _params(transforms, ex_hw))

    def body(carry, xs):
        p, shift = xs
        return carry, _apply_one(patch, p, shift, tuple(sample_hw))

    _, images = jax.lax.scan(body, None, (params, shifts))
    return AugmentedSamples(images=images, shifts_xy=shifts)
