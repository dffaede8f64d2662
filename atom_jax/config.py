"""Tracker configuration: one frozen, hashable dataclass whose defaults are pytracking's ``atom/default``.

Field names follow pytracking's parameter file where it has one (``CG_iter``, ``init_GN_iter``,
``target_not_found_threshold``, ...), so a researcher can map settings one to one; the feature-level
parameters that pytracking keeps in a separate ``deep_params`` object (``learning_rate``, ``kernel_size``,
``compressed_dim``, ...) are plain fields here. pytracking's ``dispalcement_scale`` is spelled
``displacement_scale`` (:func:`with_overrides` accepts both).

The config is a static argument of the jitted ``init``/``step``: every field is a Python scalar or tuple, and
shapes depend on the config only. :func:`derived` computes the sizes (patch, feature map, score map, number of
training samples) as a pure function; nothing is ever written back into the config.

The paper's ablations (Table 2) are :data:`ABLATIONS`, built by :func:`ablation`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

from atom_jax.errors import InputError

FEATURE_STRIDE = 16  # stride of the classifier's feature map (ResNet-18 layer3, Lite0 block10)
IOU_STRIDES = (8, 16)  # strides of the IoU-Net's two feature maps (ResNet-18 layer2, layer3)


@dataclasses.dataclass(frozen=True)
class TrackerConfig:
    # --- features (atom_jax.backbones; the weights must hold this backbone) ---
    backbone: str = "resnet18"  # a name in atom_jax.backbones.REGISTRY
    classifier_layer: str = "layer3"  # feature map of the online classifier (stride 16)
    iou_layers: tuple[str, str] = ("layer2", "layer3")  # feature maps of the IoU-Net (strides 8 and 16)

    # --- patch sampling ---
    max_image_sample_size: int = (18 * 16) ** 2  # largest search patch area in pixels (288^2)
    min_image_sample_size: int = (18 * 16) ** 2  # smallest search patch area; must equal the max (fixed shapes)
    search_area_scale: float = 5.0  # search region side relative to sqrt(target area)
    feature_size_odd: bool = False  # make the feature map odd-sized (False suits the even 4x4 kernel)

    # --- optimisation ---
    optimizer: str = "GaussNewtonCG"  # 'GaussNewtonCG', 'GradientDescentL2' (GD ablation), 'optax:NAME' (optax.NAME)
    # or a hashable atom_jax.optimizers.UserOptimizer (track.api.make_tracker(optimizer=...)); atom_jax.optimizers
    gn_operator: str = "jvp_vjp"  # GN-CG's J^T J p: 'jvp_vjp', 'double_backprop' or 'linear_transpose'
    CG_iter: int = 5  # CG iterations of each regular update after the first frame
    init_CG_iter: int = 60  # total CG iterations of the first frame (split over the GN iterations)
    init_GN_iter: int = 6  # Gauss-Newton iterations of the first frame
    post_init_CG_iter: int = 0  # filter-only CG iterations after the first-frame Gauss-Newton
    fletcher_reeves: bool = False  # Fletcher-Reeves beta (True) or Polak-Ribiere (False)
    standard_alpha: bool = True  # CG step alpha = rho / <p, Ap> (True) or <p, r> / <p, Ap>
    CG_forgetting_rate: float | None = None  # None: restart CG from scratch at every update
    optimizer_step_length: float = 3e-6  # GD step (GD ablation; best of a grid on Crossing frame 1, 1e-5 diverges)
    optimizer_momentum: float = 0.9  # GD momentum (GD ablation only; not in atom/default)
    gd_iter_factor: int = 2  # GD/optax iterations per CG iteration, 2: equal backprop count (GD++ in the paper: 10)
    optax_learning_rate: float | None = None  # optax:NAME's learning rate; None: atom_jax.optimizers' default

    # --- learning (pytracking's deep_params) ---
    learning_rate: float = 0.01  # weight of a new sample in the memory
    init_samples_minimum_weight: float = 0.25  # total weight the first-frame samples keep at least
    output_sigma_factor: float = 0.25  # Gaussian label std relative to the target size (in feature cells)
    sample_memory_size: int = 250  # memory capacity (samples)
    train_skipping: int = 10  # regular update every n-th frame

    # --- online classifier model ---
    kernel_size: tuple[int, int] = (4, 4)  # spatial filter size (h, w) in feature cells
    compressed_dim: int = 64  # output channels of the 1x1 projection (256 -> 64)
    filter_reg: float = 0.1  # regularisation weight of the filter
    projection_reg: float = 1e-4  # regularisation weight of the projection matrix
    normalize_power: float = 2.0  # layer3 features divided by their mean |x|^p to the 1/p (pytracking's p=2)
    update_projection_matrix: bool = True  # first frame optimises filter and projection jointly
    proj_init_method: str = "randn"  # 'randn' (N(0, 1/C)) or 'pca'
    filter_init_method: str = "randn"  # 'randn' (N(0, 1/numel)) or 'zeros'
    projection_activation: str = "none"  # activation after the projection; only 'none' is supported
    response_activation: tuple[str, float] = ("mlu", 0.05)  # activation on the scores (MLU with its slope)

    # --- localisation ---
    scale_factors: tuple[float, ...] = (1.0,)  # search scales relative to the current scale
    score_upsample_factor: int = 1  # score map upsampled (Fourier) to this times the patch size
    advanced_localization: bool = True  # target-not-found / distractor / hard-negative logic
    target_not_found_threshold: float = 0.25  # peak below this: target lost, no update
    distractor_threshold: float = 0.8  # second peak above this times the first: distractor
    hard_negative_threshold: float = 0.5  # second peak above this times the first: hard negative
    target_neighborhood_scale: float = 2.2  # masked region around the first peak, relative to the target size
    displacement_scale: float = 0.8  # distance (relative to the score map size / 2) separating near from far
    hard_negative_learning_rate: float = 0.02  # memory learning rate of a hard-negative sample
    hard_negative_CG_iter: int = 5  # CG iterations of the immediate update after a hard negative
    update_scale_when_uncertain: bool = True  # IoU-Net may change the scale when a distractor is close
    hard_negative_mining: bool = True  # False: hard negatives are treated as ordinary frames (ablation)
    use_classifier: bool = True  # False: the IoU-Net refines around the previous position (ablation)

    # --- first-frame augmentation ---
    augmentation_fliplr: bool = True  # add a horizontally flipped sample
    augmentation_rotate: tuple[float, ...] = (5, -5, 10, -10, 20, -20, 30, -30, 45, -45, -60, 60)  # degrees
    augmentation_blur: tuple[tuple[float, float], ...] = ((2, 0.2), (0.2, 2), (3, 1), (1, 3), (2, 2))  # sigma (y, x)
    augmentation_relativeshift: tuple[tuple[float, float], ...] = (  # shifts (y, x) relative to half the patch
        (0.6, 0.6), (-0.6, 0.6), (0.6, -0.6), (-0.6, -0.6))
    augmentation_dropout: tuple[int, float] = (7, 0.2)  # number of channel-dropout copies and probability
    augmentation_expansion_factor: float = 2.0  # augmentations are cut from a patch this much larger
    random_shift_factor: float = 1.0 / 3.0  # random shift of flip/blur/rotation samples, relative to the patch
    use_augmentation: bool = True  # False: one first-frame sample only

    # --- IoU-Net ---
    use_iou_net: bool = True  # False: scale from the multi-scale search (ablation)
    iounet_k: int = 3  # the final box is the mean of the top-k refined boxes
    num_init_random_boxes: int = 9  # jittered boxes added to the classifier's box
    box_jitter_pos: float = 0.1  # center jitter, relative to sqrt(box area)
    box_jitter_sz: float = 0.5  # size jitter, relative to sqrt(box area)
    maximal_aspect_ratio: float = 6.0  # refined boxes with a more extreme aspect ratio are dropped
    box_refinement_iter: int = 5  # gradient-ascent steps on the predicted IoU
    box_refinement_step_length: float = 1.0  # step length (the gradient is scaled by the box size)
    box_refinement_step_decay: float = 1.0  # step shrink factor after a step that lowered the IoU (1: none)
    use_iounet_pos_for_learning: bool = True  # labels of new samples centred on the refined position

    # --- reproducibility ---
    deterministic: bool = False  # no random box jitter and no random augmentation shifts (for comparisons)


class Derived(NamedTuple):
    """Sizes implied by a config (all Python ints): every array shape of the tracker comes from here."""

    sample_size: int  # side of the square search patch (pixels), 288
    feature_size: int  # side of the classifier feature map, 18
    output_size: int  # side of the upsampled score map, 288
    aug_expansion_size: int  # side of the larger patch the augmentations are cut from, 576
    num_aug_samples: int  # augmented first-frame samples (identity + shifts + flip + blurs + rotations), 23
    num_init_samples: int  # first-frame training samples incl. dropout copies, 30
    num_scales: int  # search scales per frame
    num_iou_boxes: int  # boxes refined by the IoU-Net (classifier box + jittered ones), 10


def derived(config: TrackerConfig) -> Derived:
    """The fixed sizes of ``config`` (pytracking's ``img_sample_sz``, ``feature_sz``, ``output_sz``, ...)."""
    validate(config)
    # pytracking scales the search region so that its area lies within [min, max] image sample size; with
    # min == max (required here) the patch side is sqrt of it whatever the box, then adjusted to the stride.
    side = round(math.sqrt(config.max_image_sample_size))
    s = FEATURE_STRIDE
    if config.feature_size_odd:
        side += s - side % (2 * s)
    else:
        side += s - (side + s) % (2 * s)
    aug = side
    if config.augmentation_expansion_factor != 1:
        aug = int(side * config.augmentation_expansion_factor)
        aug += (aug - side) % 2
    num_aug = 1
    if config.use_augmentation:
        num_aug += (len(config.augmentation_relativeshift) + int(config.augmentation_fliplr)
                    + len(config.augmentation_blur) + len(config.augmentation_rotate))
    num_dropout = config.augmentation_dropout[0] if config.use_augmentation else 0
    return Derived(
        sample_size=side,
        feature_size=side // s,
        output_size=config.score_upsample_factor * side,
        aug_expansion_size=aug,
        num_aug_samples=num_aug,
        num_init_samples=num_aug + num_dropout,
        num_scales=len(config.scale_factors),
        num_iou_boxes=1 + config.num_init_random_boxes,
    )


def validate(config: TrackerConfig) -> None:
    """Raise ``InputError`` for settings this implementation does not support or that make no sense."""
    problems = []
    if config.min_image_sample_size != config.max_image_sample_size:
        problems.append("min_image_sample_size must equal max_image_sample_size (fixed patch shape)")
    from atom_jax import optimizers, solvers

    problems += optimizers.validate(config)
    if config.gn_operator not in solvers.OPERATORS:
        problems.append(f"gn_operator {config.gn_operator!r} is not one of {solvers.OPERATORS}")
    if config.gd_iter_factor < 1:
        problems.append("gd_iter_factor must be >= 1")
    if config.proj_init_method not in ("randn", "pca"):
        problems.append(f"proj_init_method {config.proj_init_method!r} is not 'randn' or 'pca'")
    if config.filter_init_method not in ("randn", "zeros"):
        problems.append(f"filter_init_method {config.filter_init_method!r} is not 'randn' or 'zeros'")
    if config.projection_activation != "none":
        problems.append("projection_activation: only 'none' is supported")
    if config.response_activation[0] not in ("mlu", "none"):
        problems.append("response_activation: only ('mlu', slope) or ('none', 0) is supported")
    if config.init_GN_iter < 1 or config.init_CG_iter % config.init_GN_iter:
        problems.append("init_CG_iter must be a positive multiple of init_GN_iter")
    if config.iounet_k < 1 or config.iounet_k > 1 + config.num_init_random_boxes:
        problems.append("iounet_k must be between 1 and 1 + num_init_random_boxes")
    if not config.scale_factors:
        problems.append("scale_factors must not be empty")
    if config.use_iou_net and len(config.scale_factors) != 1:
        problems.append("with the IoU-Net use exactly one scale factor")
    if not config.use_classifier and not config.use_iou_net:
        problems.append("use_classifier and use_iou_net cannot both be False")
    if config.score_upsample_factor < 1 or config.sample_memory_size < 1 or config.train_skipping < 1:
        problems.append("score_upsample_factor, sample_memory_size and train_skipping must be >= 1")
    if config.search_area_scale <= 0:
        problems.append("search_area_scale must be positive")
    problems += _feature_problems(config)
    if problems:
        raise InputError("invalid tracker config: " + "; ".join(problems))


def _feature_problems(config: TrackerConfig) -> list[str]:
    from atom_jax import backbones

    if config.backbone not in backbones.REGISTRY:
        return [f"backbone {config.backbone!r} is not one of {sorted(backbones.REGISTRY)}"]
    info = backbones.get(config.backbone).feature_info
    problems = []
    if len(config.iou_layers) != 2:
        problems.append(f"iou_layers must name two feature maps, got {config.iou_layers!r}")
    wanted = [(config.classifier_layer, FEATURE_STRIDE, "classifier_layer")]
    wanted += [(name, stride, "iou_layers") for name, stride in zip(config.iou_layers, IOU_STRIDES)]
    for name, stride, field in wanted:
        if name not in info:
            problems.append(f"{field}: backbone {config.backbone!r} has no feature map {name!r}")
        elif info[name][0] != stride:
            problems.append(f"{field}: {name!r} has stride {info[name][0]}, this tracker needs {stride}")
    return problems


# pytracking spellings accepted by with_overrides.
ALIASES = {"dispalcement_scale": "displacement_scale"}


def _parse_value(name: str, text: str, current):
    import ast

    if isinstance(current, bool):
        low = text.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise InputError(f"--set {name}: expected true/false, got {text!r}")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if current is None or isinstance(current, str):
            return text
        raise InputError(f"--set {name}: cannot parse {text!r}") from None
    return value


def _coerce(name: str, value, current):
    """Make ``value`` the type of the default ``current`` (ints to floats, lists to tuples)."""
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise InputError(f"setting {name}: expected true/false, got {value!r}")
        return value
    if isinstance(current, float) or (current is None and isinstance(value, (int, float))):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise InputError(f"setting {name}: expected a number, got {value!r}")
        return float(value)
    if isinstance(current, int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InputError(f"setting {name}: expected an integer, got {value!r}")
        return value
    if isinstance(current, tuple):
        if not isinstance(value, (list, tuple)):
            value = (value,)

        def freeze(v):
            return tuple(freeze(e) for e in v) if isinstance(v, (list, tuple)) else v

        return freeze(value)
    if isinstance(current, str) and not isinstance(value, str):
        raise InputError(f"setting {name}: expected a string, got {value!r}")
    return value


def with_overrides(config: TrackerConfig, overrides: dict | None) -> TrackerConfig:
    """A copy of ``config`` with ``overrides`` applied; values may be Python values or strings (``--set``).

    Unknown names and ill-typed values raise ``InputError``; the result is validated.
    """
    if not overrides:
        return config
    fields = {f.name for f in dataclasses.fields(TrackerConfig)}
    changes = {}
    for raw_name, value in overrides.items():
        name = ALIASES.get(raw_name, raw_name)
        if name not in fields:
            raise InputError(f"unknown tracker setting {raw_name!r}")
        current = getattr(config, name)
        if isinstance(value, str) and not isinstance(current, str):
            value = _parse_value(name, value, current)
        changes[name] = _coerce(name, value, current)
    new = dataclasses.replace(config, **changes)
    validate(new)
    return new


def parse_set_arguments(items) -> dict:
    """``["name=value", ...]`` (the CLI's ``--set``) -> ``{name: "value"}``."""
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--set expects name=value, got {item!r}")
        out[name.strip()] = value.strip()
    return out


# The paper's Table 2 ablations, as overrides of the default config.
ABLATIONS: dict[str, dict] = {
    # Brute-force scale search with the classifier only (pytracking's atom/multiscale_no_iounet).
    "multiscale_no_iounet": {"use_iou_net": False, "scale_factors": tuple(1.02 ** k for k in range(-2, 3))},
    # IoU-Net only, refining around the previous position in a larger search region (the paper gives no
    # number: 8x the target side instead of 5x, same 288 patch).
    "no_classifier": {"use_classifier": False, "search_area_scale": 8.0},
    # Gradient descent with momentum instead of Gauss-Newton/CG, the same number of backprops.
    "gd": {"optimizer": "GradientDescentL2"},
    # GD with 5x the iterations (the paper's GD++).
    "gd_plus_plus": {"optimizer": "GradientDescentL2", "gd_iter_factor": 10},
    # No hard-negative mining: distractor frames are ordinary updates.
    "no_hard_negative": {"hard_negative_mining": False},
}


def ablation(name: str, base: TrackerConfig | None = None) -> TrackerConfig:
    """The config of the paper's ablation ``name`` (a key of :data:`ABLATIONS`)."""
    if name not in ABLATIONS:
        raise InputError(f"unknown ablation {name!r}; choose from {sorted(ABLATIONS)}")
    return with_overrides(base or TrackerConfig(), ABLATIONS[name])
