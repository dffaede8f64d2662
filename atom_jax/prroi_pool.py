"""Precise RoI Pooling (Jiang et al., ECCV 2018), the pooling of the ATOM IoU-Net, as closed-form JAX.

Semantics (those of the CUDA op vacancy/PreciseRoIPooling that pytracking uses):
  * the feature map is the bilinear interpolation of its samples, which sit at integer positions
    ``(x, y) = (j, i)`` for ``features[b, i, j, :]``; outside the map it is zero;
  * a box ``(x1, y1, x2, y2)`` in image coordinates is multiplied by ``spatial_scale`` and nothing else (no
    half-pixel offset, no ``+1``), then divided into ``ph x pw`` equal bins;
  * each bin gives the exact integral of the interpolated map over the bin divided by the bin area; a bin of
    zero area (a box with ``x2 <= x1`` or ``y2 <= y1``) gives 0.

The integral separates over the two axes. With the hat ``h(t) = max(0, 1 - |t|)`` the interpolated map is
``sum_ij F[i, j] h(y - i) h(x - j)``, so a bin ``[xa, xb] x [ya, yb]`` integrates to
``sum_ij F[i, j] wy[i] wx[j]`` with ``wx[j] = integral of h(x - j) over [xa, xb]`` (closed form, piecewise
quadratic). Pooling is therefore two small matrix products per box: ``(ph, H) @ F @ (W, pw)`` per channel.

Gradients come from ordinary autodiff and are exact: with respect to the features, and with respect to the box
coordinates, where they equal what the original op's hand-written coordinate backward computes (the derivative
of the bin mean, moving each bin edge with the box); boxes whose bins have zero area get zero gradient, as there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from atom_jax.errors import InputError

# Up to this many images, boxes are routed to their image by a one-hot matrix product (no gather of a
# (K, H, W, C) copy of the features); above it, features are gathered per box, this many boxes at a time.
_ONE_HOT_MAX_IMAGES = 4
_GATHER_CHUNK = 32
# Full float32 products also on accelerators that default to reduced-precision matmuls (TF32, bf16 passes).
_PRECISION = lax.Precision.HIGHEST


def _split_at_peak(u):
    """``u`` clipped to the rising side ``[-1, 0]`` and to the falling side ``[0, 1]`` of the hat.

    At ``u == 0`` exactly (a bin edge on a sample, common for integer boxes) only the falling side follows
    ``u``: clipping both sides would pass the gradient twice there. Ties at ``u = +-1`` are harmless, as the
    derivative there is multiplied by ``h(+-1) = 0``.
    """
    zero = jnp.zeros_like(u)
    rise = jnp.maximum(jnp.where(u < 0, u, zero), -1.0)
    fall = jnp.minimum(jnp.where(u < 0, zero, u), 1.0)
    return rise, fall


def hat_integral_weights(start, end, size: int):
    """``integral of h(t - i) dt over [start, end]`` for ``i = 0 .. size - 1``: shape ``start.shape + (size,)``.

    Assumes ``end >= start``. Each side of the hat contributes (covered length) x (mean height), which keeps
    float32 accuracy for short intervals (no difference of two nearly equal antiderivatives).
    """
    grid = jnp.arange(size, dtype=start.dtype)
    a_rise, a_fall = _split_at_peak(start[..., None] - grid)
    b_rise, b_fall = _split_at_peak(end[..., None] - grid)
    rise = (b_rise - a_rise) * (1.0 + 0.5 * (a_rise + b_rise))
    fall = (b_fall - a_fall) * (1.0 - 0.5 * (a_fall + b_fall))
    return rise + fall


def _axis_weights(lo, hi, bins: int, size: int):
    """Bin weights along one axis, ``(..., bins, size)``, and the bin length ``(...)``."""
    length = jnp.maximum(hi - lo, 0.0) / bins
    start = lo[..., None] + length[..., None] * jnp.arange(bins, dtype=lo.dtype)
    return hat_integral_weights(start, start + length[..., None], size), length


def _weights(boxes_xyxy, pooled_hw, spatial_scale, height: int, width: int):
    """Weights ``wy (..., ph, H)`` and ``wx (..., pw, W)`` with ``1 / bin area`` folded into ``wy``."""
    ph, pw = pooled_hw
    box = boxes_xyxy * spatial_scale
    wy, bin_h = _axis_weights(box[..., 1], box[..., 3], ph, height)
    wx, bin_w = _axis_weights(box[..., 0], box[..., 2], pw, width)
    area = bin_h * bin_w
    nonempty = area > 0
    # Double `where`: the untaken branch must not produce inf/nan gradients for empty bins.
    inv_area = jnp.where(nonempty, 1.0 / jnp.where(nonempty, area, 1.0), 0.0)
    return wy * inv_area[..., None, None], wx


def _pool_columns(wx, rows):
    """``out[..., p, q, c] = sum_j wx[..., q, j] rows[..., p, j, c]`` as a matrix product batched over (box, p).

    Broadcasting the small ``wx`` over ``p`` keeps both operands in their natural layout (no transpose of
    ``rows``, which is the large array).
    """
    lead = rows.ndim - 3
    wx = jnp.broadcast_to(wx[..., None, :, :], rows.shape[:-2] + wx.shape[-2:])
    batch = tuple(range(lead + 1))
    return lax.dot_general(wx, rows, (((lead + 2,), (lead + 1,)), (batch, batch)), precision=_PRECISION)


def _check(features, boxes_xyxy, pooled_hw, leading: str):
    if features.ndim != 4:
        raise InputError(f"prroi_pool2d: features must be (B, H, W, C), got shape {features.shape}")
    if boxes_xyxy.shape[-1:] != (4,):
        raise InputError(f"prroi_pool2d: boxes_xyxy must be {leading}, got shape {boxes_xyxy.shape}")
    if len(pooled_hw) != 2 or min(pooled_hw) < 1:
        raise InputError(f"prroi_pool2d: pooled_hw must be two positive ints, got {pooled_hw}")
    return tuple(int(p) for p in pooled_hw)


def _compute_dtype(features, boxes_xyxy):
    return jnp.result_type(features.dtype, boxes_xyxy.dtype, jnp.float32)


def prroi_pool2d(features, batch_idx, boxes_xyxy, pooled_hw, spatial_scale):
    """Precise RoI Pooling of ``K`` boxes, each on its own image of the batch.

    Args:
      features: ``(B, H, W, C)``, NHWC.
      batch_idx: ``(K,)`` integers in ``[0, B)``: the image each box is pooled from (not checked: traced).
      boxes_xyxy: ``(K, 4)``, ``(x1, y1, x2, y2)`` in image coordinates.
      pooled_hw: static ``(ph, pw)``: number of bins along y and x.
      spatial_scale: image -> feature coordinates factor (1/8 for ResNet layer2, 1/16 for layer3).

    Returns:
      ``(K, ph, pw, C)`` in the features' dtype (or wider if the boxes are wider).

    With more than a few images and the same number of boxes on each, :func:`prroi_pool2d_grouped` is the
    faster form (no per-box gather of the features).
    """
    features, boxes_xyxy = jnp.asarray(features), jnp.asarray(boxes_xyxy)
    batch_idx = jnp.asarray(batch_idx)
    if boxes_xyxy.ndim != 2 or batch_idx.shape != boxes_xyxy.shape[:1]:
        raise InputError(f"prroi_pool2d: need batch_idx (K,) and boxes_xyxy (K, 4), got {batch_idx.shape} "
                         f"and {boxes_xyxy.shape}")
    pooled_hw = _check(features, boxes_xyxy, pooled_hw, "(K, 4)")
    n_images, height, width, channels = features.shape
    dtype = _compute_dtype(features, boxes_xyxy)
    features, boxes_xyxy = features.astype(dtype), boxes_xyxy.astype(dtype)
    wy, wx = _weights(boxes_xyxy, pooled_hw, spatial_scale, height, width)
    n_boxes, ph = wy.shape[:2]
    if n_images <= _ONE_HOT_MAX_IMAGES:
        # Route each box to its image inside one matrix product: rows (box, bin), columns (image, y).
        one_hot = jax.nn.one_hot(batch_idx, n_images, dtype=dtype)
        wy_routed = (one_hot[:, None, :, None] * wy[:, :, None, :]).reshape(n_boxes * ph, n_images * height)
        rows = jnp.matmul(wy_routed, features.reshape(n_images * height, width * channels), precision=_PRECISION)
    else:
        # Gather each box's image, a chunk of boxes at a time, so memory stays at chunk x (H, W, C).
        maps = features.reshape(n_images, height, width * channels)

        def pool_rows(args):
            image, weights = args
            return jnp.matmul(weights, maps[image], precision=_PRECISION)

        rows = lax.map(pool_rows, (batch_idx, wy), batch_size=_GATHER_CHUNK)
    return _pool_columns(wx, rows.reshape(n_boxes, ph, width, channels))



def prroi_pool2d_grouped(features, boxes_xyxy, pooled_hw, spatial_scale):
    """Precise RoI Pooling of ``N`` boxes on every image: ``boxes_xyxy (B, N, 4)`` -> ``(B, N, ph, pw, C)``.

    Same semantics as :func:`prroi_pool2d` with ``batch_idx = repeat(arange(B), N)`` (the layout of the
    IoU-Net's proposals), computed as batched matrix products without copying the features per box: the
    efficient form for large batches (training).
    """
    features, boxes_xyxy = jnp.asarray(features), jnp.asarray(boxes_xyxy)
    pooled_hw = _check(features, boxes_xyxy, pooled_hw, "(B, N, 4)")
    if boxes_xyxy.ndim != 3 or boxes_xyxy.shape[0] != features.shape[0]:
        raise InputError(f"prroi_pool2d_grouped: boxes_xyxy must be (B, N, 4) with B = {features.shape[0]}, "
                         f"got {boxes_xyxy.shape}")
    dtype = _compute_dtype(features, boxes_xyxy)
    features, boxes_xyxy = features.astype(dtype), boxes_xyxy.astype(dtype)
    wy, wx = _weights(boxes_xyxy, pooled_hw, spatial_scale, features.shape[1], features.shape[2])
    n_images, height, width, channels = features.shape
    n_boxes, ph = wy.shape[1:3]
    rows = lax.dot_general(wy.reshape(n_images, n_boxes * ph, height),
                           features.reshape(n_images, height, width * channels), (((2,), (1,)), ((0,), (0,))),
                           precision=_PRECISION)
    return _pool_columns(wx, rows.reshape(n_images, n_boxes, ph, width, channels))


__all__ = ["prroi_pool2d", "prroi_pool2d_grouped", "hat_integral_weights"]
