"""Image conventions, input normalisation and pytracking's crop-and-resize (``sample_patch``).

Image conventions (the one place they are written down):
  * An image is an array ``(H, W, C)`` (HWC), RGB channel order, ``uint8`` or float holding values in 0..255.
    Decoders (OpenCV gives BGR) convert at the edge, in ``track/`` readers. Patches come out float32, 0..255.
  * Pixel ``(x, y)`` is the array element ``image[y, x]``; integer coordinates are pixel centres. Every
    argument is in (x, y) order (``center_xy``, ``sample_size_wh``); only array shapes are ``(h, w)``.
  * The network sees :func:`normalize` (patch): ``/255``, minus the ImageNet mean, over the ImageNet std.

:func:`sample_patch` reproduces pytracking's ``sample_patch`` in its default ``'replicate'`` mode, step by step:
  1. ``posl = trunc(center)`` (PyTorch's ``.long()``: towards zero, *not* rounding).
  2. Pre-downsampling factor ``df = max(int(min(sample_size / output_size) - 0.1), 1)``; the image is subsampled
     as ``image[oy::df, ox::df]`` with ``o = posl mod df`` and the centre becomes ``(posl - o) / df``.
  3. Crop size ``szl = max(round_half_even(sample_size / df), 2)``, corners ``tl = posl - (szl - 1) / 2`` and
     ``br = posl + szl / 2 + 1``; the crop is ``trunc(tl) .. trunc(br) - 1`` of the subsampled image, with
     pixels outside it replicated from the border. (Because of the truncations the crop is ``szl`` or
     ``szl + 1`` pixels long, depending on the sign of ``tl``/``br``: this is what pytracking does.)
  4. Bilinear resize to ``output_hw`` exactly as ``F.interpolate(mode='bilinear', align_corners=False)``
     without antialiasing (pytracking passes no flags): source index ``(d + 0.5) * n_in / n_out - 0.5``
     clamped at 0, neighbours ``i0 = floor``, ``i1 = min(i0 + 1, n_in - 1)``.
Everything is computed from the traced centre and size with a fixed output shape: one gather of the four
bilinear neighbours, so :func:`sample_patch` compiles once for all centres, sizes and factors ``df``.
Unlike pytracking (which raises), a crop entirely outside the image returns replicated border pixels.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from atom_jax.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(patch):
    """RGB patch(es) in 0..255, channels last -> float32 ``(patch / 255 - mean) / std`` (ImageNet statistics).

    Same operation order as pytracking's feature extractor (divide, subtract, divide) in float32 (float64 input,
    in float64 tests, stays float64).
    """
    dtype = input_dtype(patch)
    x = jnp.asarray(patch, dtype) / dtype(255)
    x = x - jnp.asarray(IMAGENET_MEAN, dtype)
    return x / jnp.asarray(IMAGENET_STD, dtype)


def input_dtype(patch):
    """float64 for float64 input (tests), float32 for everything else (uint8 frames, float32 patches)."""
    return jnp.float64 if jnp.asarray(patch).dtype == jnp.float64 else jnp.float32


def check_image(image):
    """Raise :class:`InputError` unless ``image`` is an ``(H, W, C)`` array (shape check only; jit-safe)."""
    shape = getattr(image, "shape", None)
    if shape is None or len(shape) != 3 or shape[0] < 1 or shape[1] < 1:
        raise InputError(f"expected an image of shape (H, W, C), got shape {shape}")


class PatchGeometry(NamedTuple):
    """Where a patch came from (all float32 / int32 scalars or (2,) arrays in (x, y) order).

    ``coords_xyxy``: pytracking's ``patch_coord`` in (x1, y1, x2, y2) order: ``df * tl`` and ``df * br`` in
    image pixels (``br`` is one past the last pixel plus a half for even crops, as pytracking defines it).
    ``df``: the integer pre-downsampling factor. ``crop_wh``: the number of (subsampled) pixels that were
    resized to the output size.
    """

    coords_xyxy: jnp.ndarray
    df: jnp.ndarray
    crop_wh: jnp.ndarray


def _trunc_int(x):
    return jnp.trunc(x).astype(jnp.int32)


def _half_pixel_source(n_out, scale):
    """``(d + 0.5) * scale - 0.5`` for ``d = 0 .. n_out - 1``, rounded once (as PyTorch's fused multiply-add).

    ``scale`` is split into a high part with 12 significant bits and the exact remainder; with
    ``2 d + 1 < 2**12`` (outputs up to 2047 pixels) both products and the first subtraction are exact, so
    the result is the correctly rounded value whether or not XLA fuses the operations.
    """
    if n_out > 2047:
        raise InputError(f"output size {n_out} exceeds the 2047 pixels sample_patch supports")
    bits = jax.lax.bitcast_convert_type(scale, jnp.int32)
    hi = jax.lax.bitcast_convert_type(bits & jnp.int32(~0xFFF), jnp.float32)
    lo = scale - hi
    c = jnp.arange(n_out, dtype=jnp.float32) + 0.5
    return (c * hi - 0.5) + c * lo


def _axis_taps(posl, size, n_image, n_out, df):
    """Bilinear taps along one axis: image indices (i0, i1) and weights (w0, w1), each ``(n_out,)``.

    ``posl``: truncated centre (int32), ``size``: requested crop size in image pixels (float32), ``n_image``:
    static image length, ``n_out``: static output length, ``df``: pre-downsampling factor (int32).
    Returns also ``tl``, ``br`` (float32, in subsampled pixels) and the crop length.
    """
    offset = jnp.mod(posl, df)                      # non-negative, like Python's / PyTorch's % on int64
    pos2 = (posl - offset) // df                    # exact division
    n_sub = (n_image - offset + df - 1) // df       # length of image[offset::df]
    szl = jnp.maximum(jnp.round(size / df.astype(jnp.float32)), 2.0).astype(jnp.int32)  # half to even
    tl = pos2.astype(jnp.float32) - (szl - 1).astype(jnp.float32) / 2
    br = pos2.astype(jnp.float32) + szl.astype(jnp.float32) / 2 + 1
    start = _trunc_int(tl)
    n_crop = _trunc_int(br) - start
    # F.interpolate(bilinear, align_corners=False): scale computed in float32 as n_in / n_out.
    # The barrier keeps XLA from replacing the division by a constant with an inexact reciprocal multiply.
    scale = n_crop.astype(jnp.float32) / jax.lax.optimization_barrier(jnp.float32(n_out))
    src = jnp.maximum(_half_pixel_source(n_out, scale), 0.0)
    i0 = jnp.minimum(jnp.floor(src).astype(jnp.int32), n_crop - 1)
    w1 = jnp.clip(src - i0.astype(jnp.float32), 0.0, 1.0)
    i1 = i0 + (i0 < n_crop - 1).astype(jnp.int32)
    # When the crop already has the output length PyTorch copies; the formula above gives the same values.

    def to_image(k):  # crop index -> subsampled index (replicate padding) -> full-image index
        return offset + df * jnp.clip(start + k, 0, n_sub - 1)

    return to_image(i0), to_image(i1), 1.0 - w1, w1, tl, br, n_crop


def sample_patch(image, center_xy, sample_size_wh, output_hw):
    """Crop ``sample_size_wh`` image pixels around ``center_xy`` and resize them to ``output_hw`` (pytracking).

    Args:
      image: ``(H, W, C)`` uint8 or float image (values 0..255).
      center_xy: ``(2,)`` centre ``(x, y)`` in image pixels, pytracking's ``pos`` (unrounded: it is
        truncated here, as pytracking does). May be traced.
      sample_size_wh: ``(2,)`` size ``(w, h)`` of the region in image pixels (``scale * sample_sz``), or a
        scalar for a square region. May be traced.
      output_hw: static ``(h, w)`` of the output patch.
    Returns:
      ``(patch, geometry)``: ``patch`` float32 ``(h, w, C)`` in 0..255 and a :class:`PatchGeometry`.
    """
    check_image(image)
    out_h, out_w = (int(v) for v in output_hw)
    img = jnp.asarray(image, jnp.float32)
    center_xy = jnp.asarray(center_xy, jnp.float32)
    size_wh = jnp.broadcast_to(jnp.asarray(sample_size_wh, jnp.float32), (2,))   # a scalar: square region
    posl = _trunc_int(center_xy)
    resize_factor = jnp.min(size_wh / jax.lax.optimization_barrier(jnp.asarray([out_w, out_h], jnp.float32)))
    # int(resize_factor - 0.1) as pytracking evaluates it in float64: no float32 lies in [0.1, fl32(0.1)), so
    # comparing the (exact) fractional part with fl32(0.1) decides it without a float32 subtraction's rounding.
    whole = jnp.floor(resize_factor)
    df = jnp.maximum(whole - (resize_factor - whole < jnp.float32(0.1)), 1.0).astype(jnp.int32)

    x0, x1, wx0, wx1, tlx, brx, ncx = _axis_taps(posl[0], size_wh[0], img.shape[1], out_w, df)
    y0, y1, wy0, wy1, tly, bry, ncy = _axis_taps(posl[1], size_wh[1], img.shape[0], out_h, df)

    rows0, rows1 = img[y0], img[y1]                  # (out_h, W, C) each
    wx0, wx1 = wx0[:, None], wx1[:, None]
    # PyTorch's evaluation order: inner (width) interpolation first, then height.
    top = rows0[:, x0] * wx0 + rows0[:, x1] * wx1
    bottom = rows1[:, x0] * wx0 + rows1[:, x1] * wx1
    patch = top * wy0[:, None, None] + bottom * wy1[:, None, None]

    dff = df.astype(jnp.float32)
    geometry = PatchGeometry(
        coords_xyxy=dff * jnp.stack([tlx, tly, brx, bry]),
        df=df,
        crop_wh=jnp.stack([ncx, ncy]),
    )
    return patch, geometry

