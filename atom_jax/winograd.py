"""3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3), NHWC activations, HWIO kernels.

Each 2x2 block of outputs is computed from the 4x4 input tile around it as ``A^T [(G g G^T) * (B^T d B)] A``:
the 16 products per tile and channel pair become 16 matrix products ``(tiles, C_in) @ (C_in, C_out)``, 2.25x
fewer multiplications than direct convolution; the transforms are additions and halvings (exact in binary).
On XLA:CPU a single 36x36 layer with 128-256 channels ran 1.3-1.5x faster than ``lax.conv_general_dilated``
(CPU time, one thread), with float32 results within ~5e-7 relative error of a float64 convolution (the same
order as direct convolution's rounding).

``conv_general_dilated`` has the signature of ``jax.lax.conv_general_dilated`` (so ``flax.linen.Conv`` can take
it): 3x3, stride-1, undilated, ungrouped NHWC/HWIO convolutions with explicit padding, at least
``MIN_OUTPUT_PIXELS`` output pixels per image, at most ``MAX_BATCH_OUTPUT_PIXELS`` over the batch and at
least ``MIN_CHANNELS`` input channels go through Winograd,
everything else to ``lax.conv_general_dilated``. Differentiable (all steps are linear array ops).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

_NHWC = ("NHWC", "HWIO", "NHWC")
# Where Winograd is used, measured with benchmarks/bench_backbone.py (--threads 1, CPU time): for the 36x36
# layers with >= 128 input channels it saved ~5-10 % of the per-frame time at batch 1 (~50 ms of CPU instead of
# ~58 ms; PyTorch channels_last ~54 ms); on the 18x18 and 72x72/64-channel layers, and at batch 8, it did not
# help or cost time. So it is used for small batches only (the tracker's per-frame patch); training batches
# and batched tracking keep XLA's convolution.
MIN_OUTPUT_PIXELS = 32 * 32      # per image
MAX_BATCH_OUTPUT_PIXELS = 2 * 36 * 36  # over the batch
MIN_CHANNELS = 128


def _input_transform(a0, a1, a2, a3):
    """``B^T`` applied along one axis to its four taps."""
    return a0 - a2, a1 + a2, a2 - a1, a1 - a3


def _kernel_transform(g0, g1, g2):
    """``G`` applied along one axis to the three kernel taps."""
    return g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2


def _output_transform(m0, m1, m2, m3):
    """``A^T`` applied along one axis: four products -> two outputs."""
    return m0 + m1 + m2, m1 - m2 - m3


def winograd_conv3x3(x, kernel, padding=((1, 1), (1, 1)), precision=None):
    """``x`` (B, H, W, C) * ``kernel`` (3, 3, C, O), stride 1, zero ``padding`` ((top, bottom), (left, right))."""
    (pt, pb), (pl, pr) = padding
    batch, height, width, _ = x.shape
    out_h, out_w = height + pt + pb - 2, width + pl + pr - 2
    tiles_h, tiles_w = (out_h + 1) // 2, (out_w + 1) // 2
    # pad so that every 2x2 output block has its full 4x4 input tile (odd sizes: one extra row/column, cropped)
    xp = jnp.pad(x, ((0, 0), (pt, pb + 2 * tiles_h - out_h), (pl, pr + 2 * tiles_w - out_w), (0, 0)))
    rows = _input_transform(*(xp[:, i:i + 2 * tiles_h:2] for i in range(4)))
    v = [t for r in rows for t in _input_transform(*(r[:, :, j:j + 2 * tiles_w:2] for j in range(4)))]
    v = jnp.stack(v).reshape(16, batch * tiles_h * tiles_w, x.shape[-1])
    k_rows = _kernel_transform(kernel[0], kernel[1], kernel[2])
    u = jnp.stack([t for g in k_rows for t in _kernel_transform(g[0], g[1], g[2])])  # (16, C, O)
    m = lax.dot_general(v, u, (((2,), (1,)), ((0,), (0,))), precision=precision)
    m = m.reshape(4, 4, batch, tiles_h, tiles_w, -1)
    rows = _output_transform(m[0], m[1], m[2], m[3])
    y = [_output_transform(r[0], r[1], r[2], r[3]) for r in rows]   # y[p][q]: output (2 tp + p, 2 tq + q)
    y = jnp.stack([jnp.stack(y[0], axis=3), jnp.stack(y[1], axis=3)], axis=2)  # (B, Th, 2, Tw, 2, O)
    y = y.reshape(batch, 2 * tiles_h, 2 * tiles_w, -1)
    return y[:, :out_h, :out_w]


def _is_nhwc(dimension_numbers) -> bool:
    if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
        return dimension_numbers == lax.conv_dimension_numbers((1, 1, 1, 1), (1, 1, 1, 1), _NHWC)
    return dimension_numbers is not None and tuple(dimension_numbers) == _NHWC


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, batch_group_count=1, precision=None,
                         preferred_element_type=None):
    """``lax.conv_general_dilated``, with 3x3 stride-1 NHWC/HWIO layers computed by Winograd F(2x2, 3x3)."""
    dilations = tuple(lhs_dilation or (1, 1)) + tuple(rhs_dilation or (1, 1))
    if (_is_nhwc(dimension_numbers) and rhs.ndim == 4 and rhs.shape[:2] == (3, 3)
            and tuple(window_strides) == (1, 1) and not isinstance(padding, str) and dilations == (1,) * 4
            and feature_group_count == 1 and batch_group_count == 1 and preferred_element_type is None):
        padding = tuple(tuple(p) for p in padding)
        out_pixels = (lhs.shape[1] + sum(padding[0]) - 2) * (lhs.shape[2] + sum(padding[1]) - 2)
        if (MIN_OUTPUT_PIXELS <= out_pixels and lhs.shape[0] * out_pixels <= MAX_BATCH_OUTPUT_PIXELS
                and lhs.shape[-1] >= MIN_CHANNELS):
            return winograd_conv3x3(lhs, rhs, padding, precision)
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                    dimension_numbers, feature_group_count, batch_group_count, precision,
                                    preferred_element_type)
