"""Eager PyTorch (+ OpenCV) re-statement of pytracking's ``sample_patch`` and ATOM's init augmentations.

Written for the parity tests from pytracking's semantics, in pytracking's own conventions: NCHW float32
tensors, positions and sizes in (y, x) / (h, w) order, shifts in (y, x) order. Only torch tensor ops that
pytracking itself uses (``F.pad`` replicate, ``F.interpolate`` bilinear, ``F.conv2d``, ``cv2.warpAffine``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def image_to_tensor(image_hwc) -> torch.Tensor:
    """(H, W, 3) uint8/float array -> (1, 3, H, W) float32 tensor, as pytracking converts frames."""
    return torch.from_numpy(np.ascontiguousarray(image_hwc)).float().permute(2, 0, 1).unsqueeze(0)


def tensor_to_hwc(t: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W, C) NumPy."""
    return t.permute(0, 2, 3, 1).numpy()


def sample_patch(im: torch.Tensor, pos: torch.Tensor, sample_sz: torch.Tensor, output_sz: torch.Tensor):
    """Replicate-mode patch sampling; returns (patch (1,C,h,w), coords (y1, x1, y2, x2) tensor)."""
    pos_int = pos.long()
    ratio = torch.min(sample_sz.float() / output_sz.float()).item()
    factor = max(int(ratio - 0.1), 1)
    new_sz = sample_sz.float() / factor
    if factor > 1:
        phase = pos_int % factor
        pos_int = torch.div(pos_int - phase, factor, rounding_mode="floor")
        im = im[..., int(phase[0]) :: factor, int(phase[1]) :: factor]
    crop_sz = torch.clamp(new_sz.round(), min=2).long()
    top_left = pos_int - (crop_sz - 1) / 2
    bottom_right = pos_int + crop_sz / 2 + 1
    pads = (
        -int(top_left[1].int()),
        int(bottom_right[1].int()) - im.shape[3],
        -int(top_left[0].int()),
        int(bottom_right[0].int()) - im.shape[2],
    )
    patch = F.pad(im, pads, "replicate")
    coords = factor * torch.cat((top_left, bottom_right))
    if tuple(patch.shape[-2:]) != tuple(int(v) for v in output_sz):
        patch = F.interpolate(patch, [int(v) for v in output_sz], mode="bilinear")
    return patch, coords


def crop_to_output(img: torch.Tensor, output_hw, shift_yx):
    """Centred crop (negative replicate padding) to ``output_hw``, moved by ``shift_yx``."""
    dh = (output_hw[0] - img.shape[2]) / 2
    dw = (output_hw[1] - img.shape[3]) / 2
    left, right = math.floor(dw) + shift_yx[1], math.ceil(dw) - shift_yx[1]
    top, bottom = math.floor(dh) + shift_yx[0], math.ceil(dh) - shift_yx[0]
    return F.pad(img, (left, right, top, bottom), "replicate")


def blur(img: torch.Tensor, sigma_yx):
    """Separable Gaussian with zero padding: height first (sigma_yx[0]), then width (sigma_yx[1])."""
    kernels, radii = [], []
    for s in sigma_yx:
        r = math.ceil(2 * s)
        x = torch.arange(-r, r + 1, dtype=torch.float32)
        k = torch.exp(-(x ** 2) / (2 * s ** 2))
        kernels.append(k / k.sum())
        radii.append(r)
    h, w = img.shape[2:]
    flat = img.reshape(-1, 1, h, w)
    flat = F.conv2d(flat, kernels[0].view(1, 1, -1, 1), padding=(radii[0], 0))
    flat = F.conv2d(flat, kernels[1].view(1, 1, 1, -1), padding=(0, radii[1]))
    return flat.reshape(1, -1, h, w)


def rotate(img: torch.Tensor, degrees):
    """OpenCV warpAffine about the patch centre (as pytracking builds the matrix), replicate border."""
    arr = tensor_to_hwc(img)[0]
    a = math.pi * degrees / 180
    centre = (np.expand_dims(np.array(arr.shape[:2]), 1) - 1) / 2
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    mat = np.concatenate([rot, centre - rot @ centre], 1)
    out = cv2.warpAffine(arr, mat, arr.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    return image_to_tensor(out)


def expanded_size(sample_hw, factor=2):
    size = (torch.Tensor(list(sample_hw)) * factor).long()
    size += (size - torch.Tensor(list(sample_hw)).long()) % 2
    return size.float()


def init_samples(image_hwc, pos_yx, scale, sample_hw, augmentation: dict, random_shifts_yx):
    """ATOM's augmented first-frame samples (N, h, w, C) NumPy, in pytracking's transform order.

    ``random_shifts_yx``: list of (y, x) shifts consumed in order by flip, blurs and rotations.
    Returns ``(samples, shifts_yx)`` where shifts are the per-sample total shifts.
    """
    im = image_to_tensor(image_hwc)
    sample_sz = torch.Tensor(list(sample_hw))
    ex = expanded_size(sample_hw)
    patch, _ = sample_patch(im, torch.Tensor(list(pos_yx)), scale * ex, ex)
    rnd = iter(random_shifts_yx)
    out_hw = [int(v) for v in sample_hw]
    ops = [(lambda p: p, (0, 0))]
    for rel in augmentation.get("relativeshift", ()):
        s = (torch.Tensor(rel) * sample_sz / 2).long().tolist()
        ops.append((lambda p: p, tuple(s)))
    if augmentation.get("fliplr", False):
        ops.append((lambda p: p.flip((3,)), tuple(next(rnd))))
    for sigma in augmentation.get("blur", ()):
        ops.append((lambda p, s=sigma: blur(p, s), tuple(next(rnd))))
    for angle in augmentation.get("rotate", ()):
        ops.append((lambda p, a=angle: rotate(p, a), tuple(next(rnd))))
    samples = torch.cat([crop_to_output(fn(patch), out_hw, shift) for fn, shift in ops])
    return tensor_to_hwc(samples), [shift for _, shift in ops]
