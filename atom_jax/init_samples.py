"""First-frame training samples of the classifier (pytracking's ``generate_init_samples``).

The image-level augmentations (identity, relative shifts, flip, blurs, rotations, cut from one expanded patch)
come from :mod:`atom_jax.augment`; this module picks them from the tracker config, draws their random shifts,
and adds pytracking's feature-level dropout copies of the identity sample (``F.dropout2d``: whole channels
zeroed with probability p, the others scaled by ``1 / (1 - p)``). The label of each sample is centred on the
target moved by the sample's shift; dropout copies have shift 0.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from atom_jax import augment
from atom_jax import backbones
from atom_jax.config import TrackerConfig, derived


class InitSamples(NamedTuple):
    images: jax.Array  # (num_aug_samples, s, s, 3) float32 0..255, identity first
    shifts_xy: jax.Array  # (num_init_samples, 2) int32 target displacement in each sample (dropout: 0)
    dropout_scale: jax.Array  # (num_dropout, C) per-channel factors (0 or 1 / (1 - p)) of the dropout copies


def transforms(config: TrackerConfig) -> tuple:
    """The static augmentation list of ``config`` in pytracking's order."""
    d = derived(config)
    if not config.use_augmentation:
        return (augment.Transform("identity"),)
    spec = {"fliplr": config.augmentation_fliplr, "rotate": config.augmentation_rotate,
            "blur": config.augmentation_blur, "relativeshift": config.augmentation_relativeshift}
    return augment.transforms_from_pytracking(spec, (d.sample_size, d.sample_size))


def init_training_samples(config: TrackerConfig, image, center_xy, target_scale, key_shift, key_dropout):
    """Augmented first-frame patches, their shifts and the dropout factors (see :class:`InitSamples`)."""
    d = derived(config)
    ts = transforms(config)
    hw = (d.sample_size, d.sample_size)
    if config.deterministic:
        shifts = jnp.zeros((len(ts), 2), jnp.int32)
    else:
        shifts = augment.draw_random_shifts(key_shift, ts, hw, config.random_shift_factor)
    aug = augment.init_augmentations(image, center_xy, target_scale, ts, shifts, hw,
                                     config.augmentation_expansion_factor)
    num_drop, prob = config.augmentation_dropout if config.use_augmentation else (0, 0.0)
    channels = backbones.get(config.backbone).channels(config.classifier_layer)
    keep = jax.random.bernoulli(key_dropout, 1.0 - prob, (num_drop, channels))
    scale = keep.astype(jnp.float32) / (1.0 - prob) if prob < 1 else jnp.zeros((num_drop, channels))
    all_shifts = jnp.concatenate([aug.shifts_xy, jnp.zeros((num_drop, 2), jnp.int32)], axis=0)
    return InitSamples(aug.images, all_shifts, scale)
