"""Target localisation from classifier scores: pytracking's Fourier upsampling and its advanced logic.

Score maps are ``(S, H, W)`` (one per search scale), rows = y. The upsampled map follows pytracking's
``localize_target``: the raw ``(S, fh, fw)`` filter responses are taken to the Fourier domain, shifted by
half a cell per even kernel dimension (``pi * (1 - (k mod 2) / feature_size)``), zero-padded to the output
grid and transformed back, which samples the band-limited interpolant on a grid ``output_size`` wide. Cell
``(0, 0)`` of the result is the sample centre; :func:`localize` rolls it to the middle of the map as
pytracking does before taking maxima.

Translations come back in image pixels, ``(x, y)`` order, relative to the rounded sample position. Flags are
int32: :data:`FLAG_NORMAL` (pytracking's ``None``), :data:`FLAG_NOT_FOUND`, :data:`FLAG_UNCERTAIN`,
:data:`FLAG_HARD_NEGATIVE`; :data:`FLAG_NAMES` maps them to pytracking's strings.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from atom_jax.config import TrackerConfig, derived

FLAG_NORMAL, FLAG_NOT_FOUND, FLAG_UNCERTAIN, FLAG_HARD_NEGATIVE = 0, 1, 2, 3
FLAG_NAMES = ("normal", "not_found", "uncertain", "hard_negative")


class Localization(NamedTuple):
    translation_xy: jax.Array  # (2,) float32 image pixels, relative to the rounded sample position
    scale_ind: jax.Array  # int32 index of the chosen search scale
    max_score: jax.Array  # float32 peak of the upsampled score map of that scale
    flag: jax.Array  # int32, one of the FLAG_* constants


def upsample_scores(scores_raw, kernel_size: tuple[int, int], feature_size: int, output_size: int):
    """pytracking's Fourier-domain interpolation of raw scores ``(S, fh, fw)`` to ``(S, out, out)``.

    The output is not shifted: cell ``(0, 0)`` corresponds to the sample centre (as pytracking's ``scores``
    before its ``localize_advanced`` roll).
    """
    s, fh, fw = scores_raw.shape
    spec = jnp.fft.rfft2(scores_raw.astype(jnp.float32)) / (fh * fw)  # (S, fh, fw//2 + 1)
    # Centre the vertical frequencies (pytracking's rfftshift2): an odd number of rows, Nyquist kept twice
    # for even sizes.
    h = fh + 2
    spec = jnp.concatenate([spec[:, (h - 1) // 2:], spec[:, : h // 2]], axis=1)
    rows, cols = spec.shape[1], spec.shape[2]
    full_w = 2 * cols - 1
    ky = jnp.arange(-((rows - 1) // 2), rows // 2 + 1, dtype=jnp.float32)
    kx = jnp.arange(0, full_w // 2 + 1, dtype=jnp.float32)
    shift_y = math.pi * (1 - (kernel_size[0] % 2) / feature_size)
    shift_x = math.pi * (1 - (kernel_size[1] % 2) / feature_size)
    phase = jnp.exp(1j * (shift_y * ky[:, None] + shift_x * kx[None, :])).astype(jnp.complex64)
    spec = spec * phase[None]
    # pytracking's sample_fs: pad the centred series to the grid, undo the centring, inverse real FFT.
    if output_size < rows or output_size < full_w:
        raise ValueError("the output grid must not be smaller than the Fourier series")
    pad_y, pad_x = output_size - rows, output_size - full_w
    pad_top = (pad_y + 1) // 2 if rows % 2 == 0 else pad_y // 2
    pad_right = (pad_x + 1) // 2
    spec = jnp.pad(spec, ((0, 0), (pad_top, pad_y - pad_top), (0, pad_right)))
    mid = (spec.shape[1] - 1) // 2
    spec = jnp.concatenate([spec[:, mid:], spec[:, :mid]], axis=1)
    out = jnp.fft.irfft2(spec, s=(output_size, output_size))
    return (output_size * output_size * out).astype(jnp.float32)


def _max2d(scores):
    """Max and (row, col) argmax of each map in ``(S, H, W)`` (first occurrence in row-major order)."""
    s, h, w = scores.shape
    flat = scores.reshape(s, h * w)
    idx = jnp.argmax(flat, axis=1)
    return jnp.max(flat, axis=1), jnp.stack([idx // w, idx % w], axis=1).astype(jnp.float32)


def localize(scores_up, config: TrackerConfig, target_wh, target_scale) -> Localization:
    """Translation, scale index, peak and flag from upsampled scores ``(S, out, out)``.

    ``target_wh`` and ``target_scale`` are the tracker's state before the frame (pytracking's ``target_sz``
    and ``target_scale``), used for the masked neighbourhood of the peak.
    """
    d = derived(config)
    out = d.output_size
    pixel = d.sample_size / out  # image-sample pixels per score cell
    if not config.advanced_localization:
        max_score, disp = _max2d(scores_up)
        scale_ind = jnp.argmax(max_score).astype(jnp.int32)
        disp = jnp.mod(disp[scale_ind] + out / 2, out) - out / 2
        factor = jnp.asarray(config.scale_factors, jnp.float32)[scale_ind]
        translation_yx = disp * pixel * target_scale * factor
        return Localization(translation_yx[::-1], scale_ind, max_score[scale_ind], jnp.int32(FLAG_NORMAL))

    half = (out + 1) // 2
    scores = jnp.roll(scores_up, (-half, -half), axis=(1, 2))
    max_scores, disps = _max2d(scores)
    scale_ind = jnp.argmax(max_scores).astype(jnp.int32)
    max1 = max_scores[scale_ind]
    disp1 = disps[scale_ind]  # (row, col)
    target_disp1 = disp1 - out // 2
    trans1 = target_disp1 * pixel * target_scale

    # Mask the target neighbourhood around the first peak (pytracking: in (h, w), rounded half to even).
    neigh = config.target_neighborhood_scale * jnp.asarray(target_wh, jnp.float32)[::-1] / target_scale
    lo = jnp.maximum(jnp.round(disp1 - neigh / 2), 0)
    hi = jnp.minimum(jnp.round(disp1 + neigh / 2 + 1), out)
    rows = jnp.arange(out, dtype=jnp.float32)
    inside_r = (rows >= lo[0]) & (rows < hi[0])
    inside_c = (rows >= lo[1]) & (rows < hi[1])
    masked = jnp.where(inside_r[:, None] & inside_c[None, :], 0.0, scores[scale_ind])
    max2, disp2 = _max2d(masked[None])
    max2, disp2 = max2[0], disp2[0]
    target_disp2 = disp2 - out // 2
    trans2 = target_disp2 * pixel * target_scale

    norm1 = jnp.sqrt(jnp.sum(target_disp1 ** 2))
    norm2 = jnp.sqrt(jnp.sum(target_disp2 ** 2))
    thr = config.displacement_scale * math.sqrt(out * out) / 2
    hn = FLAG_HARD_NEGATIVE if config.hard_negative_mining else FLAG_NORMAL

    distractor = max2 > config.distractor_threshold * max1
    far2_near1 = (norm2 > thr) & (norm1 < thr)
    near2_far1 = (norm2 < thr) & (norm1 > thr)
    weak_second = (max2 > config.hard_negative_threshold * max1) & (max2 > config.target_not_found_threshold)
    flag = jnp.where(
        distractor,
        jnp.where(far2_near1 | near2_far1, hn, FLAG_UNCERTAIN),
        jnp.where(weak_second, hn, FLAG_NORMAL),
    )
    translation_yx = jnp.where(distractor & near2_far1, trans2, trans1)
    not_found = max1 < config.target_not_found_threshold
    flag = jnp.where(not_found, FLAG_NOT_FOUND, flag).astype(jnp.int32)
    translation_yx = jnp.where(not_found, trans1, translation_yx)
    return Localization(translation_yx[::-1], scale_ind, max1, flag)
