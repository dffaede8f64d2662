"""Precise RoI Pooling written in eager PyTorch: the reference that the parity tests compare JAX against.

Same calling convention as the original CUDA op (vacancy/PreciseRoIPooling, as pytracking calls it):
``prroi_pool2d_torch(features_nchw, rois, pooled_h, pooled_w, spatial_scale)`` with ``rois`` of shape
``(K, 5)`` holding ``[batch_index, x1, y1, x2, y2]`` in image coordinates; the box is multiplied by
``spatial_scale`` only (no half-pixel offset, no ``+1``). Returns ``(K, C, pooled_h, pooled_w)``.

Each output bin is the exact integral of the bilinear interpolation of the feature map (values at integer
positions, zero outside the map) over the bin, divided by the bin area; a bin of zero area gives 0. The
integral separates: with the hat ``h(t) = max(0, 1 - |t|)``, a bin ``[xa, xb] x [ya, yb]`` gives
``sum_ij F[i, j] * wy[i] * wx[j]`` where ``wx[j]`` is the integral of ``h(x - j)`` over ``[xa, xb]``.
Everything is ordinary torch arithmetic, so autograd gives gradients with respect to the features and to
the box coordinates (column 0, the batch index, gets no gradient); these are the exact derivatives of the
integral, which is what the original's hand-written coordinate backward computes.

This module is a helper for tests and benchmarks (imported as ``tests.parity.torch_prroi_pool``), not a test.
"""

from __future__ import annotations

import torch


def _hat_integral_weights(start, end, size: int):
    """Integral of ``h(t - i)`` over ``t`` in ``[start, end]`` for ``i = 0 .. size - 1``.

    ``start``/``end``: tensors of any shape ``S``; returns ``S + (size,)``. ``end >= start`` is assumed
    (the callers build bins from non-negative widths). The integral is split at the peak ``t = i``: on the
    rising side the integrand is ``1 + u`` (``u = t - i`` in ``[-1, 0]``), on the falling side ``1 - u``;
    each side is written as (length) * (mean height), which stays accurate in float32.
    """
    grid = torch.arange(size, dtype=start.dtype, device=start.device)
    a = start[..., None] - grid
    b = end[..., None] - grid
    a_rise, a_fall = _split_at_peak(a)
    b_rise, b_fall = _split_at_peak(b)
    rise = (b_rise - a_rise) * (1.0 + 0.5 * (a_rise + b_rise))
    fall = (b_fall - a_fall) * (1.0 - 0.5 * (a_fall + b_fall))
    return rise + fall


def _split_at_peak(u):
    """``u`` clipped to the rising side ``[-1, 0]`` and to the falling side ``[0, 1]`` of the hat.

    At ``u == 0`` exactly (a bin edge on a sample position, common for integer boxes) only the falling side
    varies with ``u``; clamping both sides would let the gradient through twice there and double it.
    The derivative at the clip ends ``u = +-1`` is multiplied by ``h(+-1) = 0``, so those ties are harmless.
    """
    zero = torch.zeros_like(u)
    rise = torch.where(u < 0, u, zero).clamp(min=-1.0)
    fall = torch.where(u < 0, zero, u).clamp(max=1.0)
    return rise, fall


def _bin_edges(lo, hi, bins: int):
    """Per-bin start and end along one axis: ``(K, bins)`` each, and the bin size ``(K,)``."""
    size = (hi - lo).clamp(min=0.0) / bins
    idx = torch.arange(bins, dtype=lo.dtype, device=lo.device)
    start = lo[:, None] + size[:, None] * idx
    return start, start + size[:, None], size


def prroi_pool2d_torch(features_nchw, rois, pooled_h: int, pooled_w: int, spatial_scale: float):
    """Precise RoI Pooling. ``features_nchw`` (B, C, H, W), ``rois`` (K, 5) -> (K, C, pooled_h, pooled_w).

    Differentiable by autograd in ``features_nchw`` and in ``rois[:, 1:]``. Features stored channels-last
    (``torch.channels_last``) take a path that reads them in that layout; the result is the same.
    """
    if features_nchw.dim() != 4:
        raise ValueError(f"features must be (B, C, H, W), got shape {tuple(features_nchw.shape)}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (K, 5) [batch_index, x1, y1, x2, y2], got {tuple(rois.shape)}")
    n_images, channels, height, width = features_nchw.shape
    n_boxes = rois.shape[0]
    batch_index = rois[:, 0].detach().long()
    box = rois[:, 1:].to(features_nchw.dtype) * spatial_scale
    x_start, x_end, bin_w = _bin_edges(box[:, 0], box[:, 2], pooled_w)
    y_start, y_end, bin_h = _bin_edges(box[:, 1], box[:, 3], pooled_h)
    wx = _hat_integral_weights(x_start, x_end, width)    # (K, pw, W)
    wy = _hat_integral_weights(y_start, y_end, height)   # (K, ph, H)
    area = bin_w * bin_h
    nonempty = area > 0
    wy = wy * torch.where(nonempty, 1.0 / torch.where(nonempty, area, torch.ones_like(area)), 0.0)[:, None, None]
    channels_last = (features_nchw.is_contiguous(memory_format=torch.channels_last)
                     and not features_nchw.is_contiguous())
    wy_flat = wy.reshape(n_boxes * pooled_h, height)
    if channels_last:
        # (K*ph, H) @ (H, W*C) per image on the (B, H, W, C) storage: rows (B, K, ph, W, C).
        maps = features_nchw.permute(0, 2, 3, 1).reshape(n_images, height, width * channels)
        rows = torch.matmul(wy_flat, maps).view(n_images, n_boxes, pooled_h, width, channels)
        rows = _own_image(rows, batch_index)                               # (K, ph, W, C)
        return torch.matmul(wx[:, None], rows).permute(0, 3, 1, 2)        # (K, ph, pw, C) -> (K, C, ph, pw)
    # (K*ph, H) @ (H, W) per image and channel on the NCHW storage: rows (B, C, K, ph, W).
    rows = torch.matmul(wy_flat, features_nchw).view(n_images, channels, n_boxes, pooled_h, width)
    rows = _own_image(rows.transpose(1, 2), batch_index)                   # (K, C, ph, W)
    return torch.matmul(rows, wx.transpose(1, 2)[:, None])                 # (K, C, ph, pw)


def _own_image(per_image, batch_index):
    """``per_image[batch_index[k], k]`` for every box ``k``: ``(B, K, ...)`` -> ``(K, ...)``."""
    if per_image.shape[0] == 1:
        return per_image[0]
    return per_image[batch_index, torch.arange(per_image.shape[1], device=per_image.device)]


__all__ = ["prroi_pool2d_torch"]
