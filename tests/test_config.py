"""TrackerConfig: defaults equal pytracking's atom/default, derived sizes, overrides, ablations."""

from __future__ import annotations

import dataclasses
import re

import pytest

from atom_jax.config import ABLATIONS, TrackerConfig, ablation, derived, parse_set_arguments, with_overrides
from atom_jax.errors import InputError

# pytracking's atom/default values (transcribed from the parameter file; names as there, except the
# deep_params prefix and the 'dispalcement_scale' spelling).
ATOM_DEFAULT = {
    "max_image_sample_size": 288 ** 2, "min_image_sample_size": 288 ** 2, "search_area_scale": 5,
    "feature_size_odd": False, "CG_iter": 5, "init_CG_iter": 60, "init_GN_iter": 6, "post_init_CG_iter": 0,
    "fletcher_reeves": False, "standard_alpha": True, "CG_forgetting_rate": None, "learning_rate": 0.01,
    "init_samples_minimum_weight": 0.25, "output_sigma_factor": 0.25, "sample_memory_size": 250,
    "train_skipping": 10, "kernel_size": (4, 4), "compressed_dim": 64, "filter_reg": 0.1, "projection_reg": 1e-4,
    "scale_factors": (1.0,), "score_upsample_factor": 1, "augmentation_expansion_factor": 2,
    "random_shift_factor": 1 / 3, "use_augmentation": True, "update_projection_matrix": True,
    "proj_init_method": "randn", "filter_init_method": "randn", "projection_activation": "none",
    "response_activation": ("mlu", 0.05), "advanced_localization": True, "target_not_found_threshold": 0.25,
    "distractor_threshold": 0.8, "hard_negative_threshold": 0.5, "target_neighborhood_scale": 2.2,
    "displacement_scale": 0.8, "hard_negative_learning_rate": 0.02, "hard_negative_CG_iter": 5,
    "update_scale_when_uncertain": True, "use_iou_net": True, "iounet_k": 3, "num_init_random_boxes": 9,
    "box_jitter_pos": 0.1, "box_jitter_sz": 0.5, "maximal_aspect_ratio": 6, "box_refinement_iter": 5,
    "box_refinement_step_length": 1, "box_refinement_step_decay": 1, "normalize_power": 2,
    "augmentation_fliplr": True, "augmentation_rotate": (5, -5, 10, -10, 20, -20, 30, -30, 45, -45, -60, 60),
    "augmentation_blur": ((2, 0.2), (0.2, 2), (3, 1), (1, 3), (2, 2)),
    "augmentation_relativeshift": ((0.6, 0.6), (-0.6, 0.6), (0.6, -0.6), (-0.6, -0.6)),
    "augmentation_dropout": (7, 0.2),
}


def test_defaults_equal_atom_default():
    cfg = TrackerConfig()
    for name, value in ATOM_DEFAULT.items():
        assert getattr(cfg, name) == value, name


def test_config_is_frozen_and_hashable():
    cfg = TrackerConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.CG_iter = 3
    assert hash(cfg) == hash(TrackerConfig())
    assert {cfg: 1}[TrackerConfig()] == 1


def test_every_field_is_commented_once():
    import inspect

    import atom_jax.config as module

    source = inspect.getsource(module.TrackerConfig)
    for field in dataclasses.fields(TrackerConfig):
        lines = [l for l in source.splitlines() if re.match(rf"\s+{field.name}:", l)]
        assert len(lines) == 1 and "#" in lines[0], field.name


def test_derived_sizes():
    d = derived(TrackerConfig())
    assert (d.sample_size, d.feature_size, d.output_size, d.aug_expansion_size) == (288, 18, 288, 576)
    assert (d.num_aug_samples, d.num_init_samples, d.num_scales, d.num_iou_boxes) == (23, 30, 1, 10)
    # pytracking's odd-feature rule: 288 + 16 - 288 % 32 = 304 -> 19 cells.
    assert derived(TrackerConfig(feature_size_odd=True)).feature_size == 19
    assert derived(TrackerConfig(use_augmentation=False)).num_init_samples == 1


def test_overrides_parse_and_coerce():
    cfg = with_overrides(TrackerConfig(), parse_set_arguments(
        ["CG_iter=3", "use_iou_net=false", "scale_factors=[0.98, 1.0, 1.02]", "learning_rate=1", "use_iou_net=no"]))
    assert cfg.CG_iter == 3 and cfg.use_iou_net is False
    assert cfg.scale_factors == (0.98, 1.0, 1.02) and isinstance(cfg.learning_rate, float)
    assert with_overrides(TrackerConfig(), {"dispalcement_scale": "0.5"}).displacement_scale == 0.5


@pytest.mark.parametrize("overrides, match", [
    ({"no_such_setting": 1}, "unknown tracker setting"),
    ({"CG_iter": "three"}, "cannot parse"),
    ({"CG_iter": 2.5}, "expected an integer"),
    ({"use_iou_net": "maybe"}, "true/false"),
    ({"min_image_sample_size": 100}, "must equal"),
    ({"iounet_k": 20}, "iounet_k"),
    ({"scale_factors": (1.0, 1.02)}, "exactly one scale"),
])
def test_bad_overrides_raise_input_error(overrides, match):
    with pytest.raises(InputError, match=match):
        with_overrides(TrackerConfig(), overrides)


def test_set_argument_syntax():
    with pytest.raises(InputError, match="name=value"):
        parse_set_arguments(["CG_iter"])


def test_ablations():
    assert set(ABLATIONS) >= {"multiscale_no_iounet", "no_classifier", "gd", "no_hard_negative"}
    ms = ablation("multiscale_no_iounet")
    assert not ms.use_iou_net and len(ms.scale_factors) == 5
    assert ms.scale_factors[0] == pytest.approx(1.02 ** -2) and ms.scale_factors[2] == 1.0
    assert not ablation("no_classifier").use_classifier
    assert ablation("gd").optimizer == "GradientDescentL2"
    assert not ablation("no_hard_negative").hard_negative_mining
    with pytest.raises(InputError, match="unknown ablation"):
        ablation("nope")
