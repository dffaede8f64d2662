"""The ATOM tracker (paper Sec. 3.3, pytracking's ``atom`` with ``atom/default``) as two pure, jitted functions.

``init(weights, config, image, box_xywh, key) -> TrackerState`` and
``step(weights, config, state, image) -> (state, box_xywh, aux)``; ``config`` is static, everything else is
arrays, so each compiles once per (config, frame size) and ``jax.vmap`` runs many sequences in lockstep.

Conventions: images RGB HWC (uint8 or float 0..255); boxes ``(x, y, w, h)``; the state holds pytracking's
target center ``pos`` as ``center_xy`` (pytracking's ``(w - 1) / 2`` center) and ``target_sz`` as
``size_wh``, always in (x, y) order. All randomness (projection and filter init, augmentation shifts,
feature dropout, IoU-Net box jitter) comes from the key carried in the state.

One frame (:func:`step`), as pytracking's ``track``:
  1. search patch(es) ``sample_size`` square around ``center_xy`` at ``target_scale * scale_factors``;
     backbone layer2/layer3; layer3 normalised and projected; raw classifier scores; Fourier upsampling;
     advanced localisation (:mod:`atom_jax.localize`);
  2. unless the target is lost: move to the classifier's peak (clamped so the target stays at least 20 %
     inside the image) and refine with the IoU-Net (:mod:`atom_jax.refine`), which also sets size and scale
     (multi-scale ablation: the best scale instead);
  3. on normal and hard-negative frames the patch features enter the sample memory with a Gaussian label at
     the new position; hard negatives trigger an immediate filter update with learning rate 0.02, other
     frames a regular update every ``train_skipping`` frames (Conjugate Gradient, :mod:`atom_jax.classifier`).
The frame-level branches are ``lax.cond``; under ``vmap`` both sides are computed and selected.
"""

from __future__ import annotations

from functools import partial
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from atom_jax import backbones, classifier, iou_net, memory, optimizers
from atom_jax import refine as refine_lib
from atom_jax.boxes import center_size_to_xywh, xywh_to_center_size
from atom_jax.config import TrackerConfig, derived
from atom_jax.errors import InputError
from atom_jax.image import sample_patch
from atom_jax.init_samples import init_training_samples
from atom_jax.localize import FLAG_HARD_NEGATIVE, FLAG_NORMAL, FLAG_NOT_FOUND, FLAG_UNCERTAIN, Localization
from atom_jax.localize import localize, upsample_scores


@flax.struct.dataclass
class TrackerState:
    frame_num: jax.Array  # int32, pytracking's frame_num: 1 after init, +1 per step
    center_xy: jax.Array  # (2,) target center (pytracking's pos, x/y swapped)
    size_wh: jax.Array  # (2,) target size (pytracking's target_sz)
    target_scale: jax.Array  # image pixels per search-patch pixel
    base_target_wh: jax.Array  # (2,) target size at scale 1 (fixed at init)
    center_iounet_xy: jax.Array  # (2,) pytracking's pos_iounet: the last IoU-Net position
    image_wh: jax.Array  # (2,) frame size, for the position clamp and scale bounds
    min_scale_factor: jax.Array  # lower bound of target_scale (multi-scale search)
    max_scale_factor: jax.Array  # upper bound of target_scale (multi-scale search)
    sigma: jax.Array  # Gaussian label std in feature cells
    filter: jax.Array  # (kh, kw, C_comp, 1) classifier filter (HWIO)
    projection: jax.Array  # (1, 1, C_in, C_comp) classifier projection (HWIO)
    memory: memory.SampleMemory  # projected training samples, labels, weights
    optimizer_state: object  # the update optimizer's carried state (GN-CG: its CGState; others: ())
    modulation: tuple  # IoU-Net modulation vectors (m3 (C,), m4 (C,))
    key: jax.Array  # PRNG key for the next frame


def validate_init(image_shape, box_xywh) -> np.ndarray:
    """Host-side check of an initial box against a frame of ``image_shape`` (H, W, ...); returns it as
    float64. Raises ``InputError`` for NaN/inf, w or h <= 0, a box entirely outside the image, or a tiny image.
    A box partly outside the image or larger than it is accepted (pytracking tracks it as given)."""
    box = np.asarray(box_xywh, dtype=np.float64).reshape(-1)
    if box.shape != (4,):
        raise InputError(f"initial box must have 4 values x,y,w,h, got {box.tolist()}")
    if not np.all(np.isfinite(box)):
        raise InputError(f"initial box {box.tolist()} contains NaN or infinity")
    if box[2] <= 0 or box[3] <= 0:
        raise InputError(f"initial box {box.tolist()} has a width or height <= 0")
    h, w = int(image_shape[0]), int(image_shape[1])
    if h < 2 or w < 2:
        raise InputError(f"image of {w}x{h} pixels is too small to track in")
    if box[0] >= w or box[1] >= h or box[0] + box[2] <= 0 or box[1] + box[3] <= 0:
        raise InputError(f"initial box {box.tolist()} lies outside the {w}x{h} image")
    return box


def _features(weights, config: TrackerConfig, patches):
    """Backbone features of patches (N, s, s, 3) in 0..255: the raw dict (the IoU-Net's maps and the
    classifier's) and the classifier's map, normalised."""
    layers = (config.classifier_layer,)
    if config.use_iou_net:
        layers = tuple(dict.fromkeys(config.iou_layers + layers))
    feats = backbones.get(config.backbone).features(weights["backbone"], patches, layers)
    return feats, classifier.normalize_features(feats[config.classifier_layer], config.normalize_power)


def _response_act(config: TrackerConfig):
    kind, slope = config.response_activation
    return (kind, slope) if kind == "mlu" else ("none",)


def _fit_filter(config: TrackerConfig, filt, mem: memory.SampleMemory, opt_state, num_cg: int):
    """The update problem (the filter over the memory) with the config's optimizer at the budget of ``num_cg``
    CG iterations: ``(filter, optimizer state, OptimizerStats)``."""
    act = _response_act(config)

    def residual_fn(f):
        return classifier.filter_residuals(f, mem.samples, mem.labels, mem.weights,
                                           filter_reg=config.filter_reg, response_act=act)

    return optimizers.for_problem(config, first_frame=False, num_cg=num_cg)(residual_fn, filt, opt_state)


def _fit_joint(config: TrackerConfig, weights0: dict, x, labels, sample_weights):
    """The first-frame problem (filter and projection): ``(weights, OptimizerStats)``."""
    act = _response_act(config)

    def residual_fn(w):
        return classifier.joint_residuals(w, x, labels, sample_weights, filter_reg=config.filter_reg,
                                          projection_reg=config.projection_reg, response_act=act)

    opt = optimizers.for_problem(config, first_frame=True)
    w, _, stats = opt(residual_fn, weights0, opt.init(weights0))
    return w, stats


def _update_stats_size(config: TrackerConfig) -> int:
    """Length of the CG lists in a step's ``aux["optimizer"]``: the longer update's CG iterations."""
    return max(config.CG_iter, config.hard_negative_CG_iter) if config.optimizer == "GaussNewtonCG" else 0


def label_for(config: TrackerConfig, sigma, offset_xy, sample_scale, extra_shift_xy=None):
    """Gaussian label (fs, fs) of a target ``offset_xy`` image pixels from the sample position."""
    d = derived(config)
    kernel_wh = config.kernel_size[::-1]
    center = classifier.label_center_xy(offset_xy, sample_scale, d.sample_size, d.feature_size, kernel_wh)
    if extra_shift_xy is not None:
        center = center + extra_shift_xy / d.sample_size * d.feature_size
    return classifier.gaussian_label((d.feature_size, d.feature_size), sigma, center)


@partial(jax.jit, static_argnames=("config", "with_aux"))
def init(weights, config: TrackerConfig, image, box_xywh, key, valid_wh=None, with_aux: bool = False):
    """Initialise on the first frame: augmented samples, IoU-Net modulation, first-frame optimisation.
    Returns the :class:`TrackerState`, or with ``with_aux=True`` (static) ``(state, aux)``: ``aux["optimizer"]``
    the first-frame optimisation's :class:`atom_jax.optimizers.OptimizerStats` as a dict (GN-CG: ``loss``
    and ``grad_norm`` (init_GN_iter + 1,), CG lists (init_GN_iter, CG per GN)), ``aux["optimizer_filter"]``
    those of a filter-only fit after it (``post_init_CG_iter``), each present when that fit runs.

    ``valid_wh``: the true frame size when ``image`` is padded (batch tracking); default ``image``'s size.
    """
    d = derived(config)
    box_xywh = jnp.asarray(box_xywh, jnp.float32)
    center, size = xywh_to_center_size(box_xywh)
    if valid_wh is None:
        image_wh = jnp.asarray([image.shape[1], image.shape[0]], jnp.float32)
    else:
        image_wh = jnp.asarray(valid_wh, jnp.float32)
    area = jnp.prod(size * config.search_area_scale)
    target_scale = jnp.sqrt(area / config.max_image_sample_size)  # min == max sample size
    base = size / target_scale
    k_aug, k_drop, k_proj, k_filt, k_next = jax.random.split(key, 5)

    samples = init_training_samples(config, image, center, target_scale, k_aug, k_drop, valid_wh)
    feats, x = _features(weights, config, samples.images)
    if samples.dropout_scale.shape[0]:
        x = jnp.concatenate([x, x[:1] * samples.dropout_scale[:, None, None, :]], axis=0)

    modulation = (jnp.zeros((256,), jnp.float32), jnp.zeros((256,), jnp.float32))
    if config.use_iou_net:
        target_box = refine_lib.box_in_patch(center, size, jnp.round(center), target_scale, d.sample_size)
        ref = {name: f[:1] for name, f in feats.items()}
        m3, m4 = iou_net.get_modulation(weights["iou_net"], ref, target_box[None], config.iou_layers)
        modulation = (m3[0], m4[0])

    sigma = classifier.label_sigma(d.feature_size, d.sample_size, base, config.output_sigma_factor)
    offset = center - jnp.round(center)
    shifts = samples.shifts_xy.astype(jnp.float32)
    labels = jax.vmap(lambda s: label_for(config, sigma, offset, target_scale, s))(shifts)
    n = x.shape[0]
    sample_weights = jnp.full((n,), 1.0 / n, jnp.float32)

    projection = classifier.init_projection(k_proj, x, config.compressed_dim, config.proj_init_method)
    filt = classifier.init_filter(k_filt, config.kernel_size, config.compressed_dim, config.filter_init_method)
    opt_state = optimizers.for_problem(config, first_frame=False, num_cg=config.CG_iter).init(filt)
    aux = {}
    if config.use_classifier and config.update_projection_matrix:
        fitted, stats = _fit_joint(config, {"filter": filt, "projection": projection}, x, labels, sample_weights)
        filt, projection = fitted["filter"], fitted["projection"]
        aux["optimizer"] = stats._asdict()
    mem = memory.init_memory(classifier.project(x, projection), labels, config.sample_memory_size)
    if config.use_classifier:
        extra = config.post_init_CG_iter + (0 if config.update_projection_matrix else config.init_CG_iter)
        if extra:
            filt, opt_state, stats = _fit_filter(config, filt, mem, opt_state, extra)
            aux["optimizer_filter"] = stats._asdict()

    state = TrackerState(
        frame_num=jnp.int32(1),
        center_xy=center,
        size_wh=size,
        target_scale=target_scale,
        base_target_wh=base,
        center_iounet_xy=center,
        image_wh=image_wh,
        min_scale_factor=jnp.max(10.0 / base),
        max_scale_factor=jnp.min(image_wh / base),
        sigma=sigma,
        filter=filt,
        projection=projection,
        memory=mem,
        optimizer_state=opt_state,
        modulation=modulation,
        key=k_next,
    )
    return (state, aux) if with_aux else state


def _clamp_inside(center_xy, size_wh, image_wh):
    """pytracking's update_state: keep the center within [-0.3 size, image + 0.3 size]."""
    offset = (0.2 - 0.5) * size_wh
    return jnp.maximum(jnp.minimum(center_xy, image_wh - offset), offset)


def _refine_branch(weights, config: TrackerConfig, state: TrackerState, feats, loc: Localization,
                   center, sample_pos, sample_scale, key):
    """IoU-Net refinement: new (center, size, scale, center_iounet)."""
    d = derived(config)
    test = {name: jax.lax.dynamic_index_in_dim(f, loc.scale_ind, keepdims=True) for name, f in feats.items()}
    c3, c4 = iou_net.get_iou_feat(weights["iou_net"], test, config.iou_layers)
    init_box = refine_lib.box_in_patch(center, state.size_wh, sample_pos, sample_scale, d.sample_size)
    ref = refine_lib.refine(weights["iou_net"], state.modulation, (c3[0], c4[0]), init_box, key, config)
    new_center, new_size = refine_lib.box_to_image(ref.box_xywh, sample_pos, sample_scale, d.sample_size)
    new_scale = jnp.sqrt(jnp.prod(new_size) / jnp.prod(state.base_target_wh))
    update_scale = config.update_scale_when_uncertain | (loc.flag != FLAG_UNCERTAIN)
    ok = ref.valid
    learn_center = new_center if config.use_iounet_pos_for_learning else center
    return (jnp.where(ok, learn_center, center),
            jnp.where(ok, new_size, state.size_wh),
            jnp.where(ok & update_scale, new_scale, state.target_scale),
            jnp.where(ok, new_center, state.center_iounet_xy))


def _insert_if(mem: memory.SampleMemory, flag, sample, label, lr, floor: float) -> memory.SampleMemory:
    """``memory.insert`` when ``flag`` is true, otherwise the memory unchanged; writes one slot either way
    (no select over the whole memory, which matters under ``vmap``)."""
    weights, slot = memory.update_weights(mem.weights, mem.previous_replace, mem.num_stored, mem.num_init, lr, floor)
    return memory.SampleMemory(
        samples=mem.samples.at[slot].set(jnp.where(flag, sample, mem.samples[slot])),
        labels=mem.labels.at[slot].set(jnp.where(flag, label, mem.labels[slot])),
        weights=jnp.where(flag, weights, mem.weights),
        num_init=mem.num_init,
        num_stored=mem.num_stored + flag.astype(mem.num_stored.dtype),
        previous_replace=jnp.where(flag, slot, mem.previous_replace),
    )


def _track(weights, config: TrackerConfig, state: TrackerState, image, batched: bool = False):
    """Everything of a frame but the filter training: ``(state, box_xywh, aux)``; ``aux["train"]`` says which
    update is due (0: none, 1: regular, 2: hard negative).

    ``batched`` (static): the function runs under ``vmap``. Then the IoU-Net refinement is computed on every
    frame and selected with ``where``: a ``lax.cond`` with a batched predicate would broadcast its unbatched
    operands (the network weights) over the batch and run the IoU-Net with per-example weights.
    """
    d = derived(config)
    key, k_box = jax.random.split(state.key)
    frame_num = state.frame_num + 1
    sample_pos = jnp.round(state.center_xy)
    scales = state.target_scale * jnp.asarray(config.scale_factors, jnp.float32)
    patch_fn = lambda s: sample_patch(image, state.center_xy, jnp.stack([s, s]) * d.sample_size,
                                      (d.sample_size, d.sample_size), state.image_wh)[0]
    patches = jax.vmap(patch_fn)(scales)
    feats, x = _features(weights, config, patches)
    test_x = classifier.project(x, state.projection)

    if config.use_classifier:
        raw = classifier.scores(test_x, state.filter)
        up = upsample_scores(raw, config.kernel_size, d.feature_size, d.output_size)
        loc = localize(up, config, state.size_wh, state.target_scale)
    else:
        loc = Localization(jnp.zeros((2,), jnp.float32), jnp.int32(0), jnp.float32(0), jnp.int32(FLAG_NORMAL))
    found = loc.flag != FLAG_NOT_FOUND
    sample_scale = scales[loc.scale_ind]

    # --- position, size and scale ---
    center, size, scale, center_iou = state.center_xy, state.size_wh, state.target_scale, state.center_iounet_xy
    if config.use_iou_net:
        if config.use_classifier:
            center = _clamp_inside(sample_pos + loc.translation_xy, size, state.image_wh)
        args = (weights, state, feats, loc, center, sample_pos, sample_scale, k_box)
        kept = (center, size, scale, center_iou)
        if batched:
            refined = _refine_branch(weights, config, *args[1:])
            center, size, scale, center_iou = (jnp.where(found, r, k) for r, k in zip(refined, kept))
        else:
            center, size, scale, center_iou = jax.lax.cond(
                found, lambda a: _refine_branch(a[0], config, *a[1:]), lambda a: kept, args)
    else:
        new_scale = jnp.clip(sample_scale, state.min_scale_factor, state.max_scale_factor)
        new_size = state.base_target_wh * new_scale
        new_center = _clamp_inside(sample_pos + loc.translation_xy, new_size, state.image_wh)
        center = jnp.where(found, new_center, center)
        size = jnp.where(found, new_size, size)
        scale = jnp.where(found, new_scale, scale)

    # --- memory (the training itself is _train) ---
    mem = state.memory
    train = jnp.int32(0)
    if config.use_classifier:
        hard = loc.flag == FLAG_HARD_NEGATIVE
        insert_flag = (loc.flag == FLAG_NORMAL) | hard
        lr = jnp.where(hard, config.hard_negative_learning_rate, config.learning_rate)
        sample = jax.lax.dynamic_index_in_dim(test_x, loc.scale_ind, keepdims=False)
        label = label_for(config, state.sigma, center - sample_pos, sample_scale)
        mem = _insert_if(mem, insert_flag, sample, label, lr, config.init_samples_minimum_weight)
        regular = (frame_num - 1) % config.train_skipping == 0
        train = jnp.where(hard, 2, jnp.where(regular, 1, 0)).astype(jnp.int32)

    if config.use_iou_net:
        center = jnp.where(found, center_iou, center)

    # A non-finite result (degenerate input) keeps the previous state rather than emitting a NaN box.
    finite = jnp.all(jnp.isfinite(center)) & jnp.all(jnp.isfinite(size)) & jnp.isfinite(scale) & (scale > 0)
    center = jnp.where(finite, center, state.center_xy)
    size = jnp.where(finite, size, state.size_wh)
    scale = jnp.where(finite, scale, state.target_scale)
    center_iou = jnp.where(finite, center_iou, state.center_iounet_xy)

    new_state = state.replace(frame_num=frame_num, center_xy=center, size_wh=size, target_scale=scale,
                              center_iounet_xy=center_iou, memory=mem, key=key)
    aux = {"max_score": loc.max_score, "flag": loc.flag, "translation_xy": loc.translation_xy,
           "scale_ind": loc.scale_ind, "train": train}
    return new_state, center_size_to_xywh(center, size), aux


def _no_update_stats(config: TrackerConfig) -> dict:
    return optimizers.frame_stats(None, _update_stats_size(config))


def _train(config: TrackerConfig, state: TrackerState, index):
    """The filter update due at this frame: none (0), ``CG_iter`` (1) or ``hard_negative_CG_iter`` (2).
    Returns the state and that update's statistics (:func:`atom_jax.optimizers.frame_stats`; NaN for none)."""
    if not config.use_classifier:
        return state, _no_update_stats(config)
    size = _update_stats_size(config)

    def fit(num_cg):
        def branch(a):
            filt, opt_state, stats = _fit_filter(config, a[0], a[1], a[2], num_cg)
            return filt, opt_state, optimizers.frame_stats(stats, size)
        return branch

    branches = [lambda a: (a[0], a[2], _no_update_stats(config)),
                fit(config.CG_iter), fit(config.hard_negative_CG_iter)]
    if config.hard_negative_CG_iter == config.CG_iter:
        branches, index = branches[:2], jnp.minimum(index, 1)
    filt, opt_state, stats = jax.lax.switch(index, branches, (state.filter, state.memory, state.optimizer_state))
    return state.replace(filter=filt, optimizer_state=opt_state), stats


@partial(jax.jit, static_argnames=("config",), donate_argnames=("state",))
def step(weights, config: TrackerConfig, state: TrackerState, image):
    """Track one frame: ``(new_state, box_xywh (4,), aux)``. ``state`` is donated (its buffers are reused for
    the new state, so the sample memory is updated in place): do not use it after the call. aux holds
    ``max_score``, ``flag`` (int32, see :data:`atom_jax.localize.FLAG_NAMES`), ``translation_xy``,
    ``scale_ind``, ``train`` (0: no filter update, 1: regular update, 2: hard-negative update) and
    ``optimizer``: that update's statistics, a dict of fixed shapes (``update``, the same as ``train``;
    ``loss_before``, ``loss_after``: the filter objective over the memory before and after the update;
    ``grad_norm`` before it; ``backprops``; the CG lists ``cg_alpha``, ``cg_beta``, ``cg_residual_norm``,
    NaN-padded to the longer update; all NaN without an update; :func:`atom_jax.optimizers.frame_stats`)."""
    new, box, aux = _track(weights, config, state, image)
    new, stats = _train(config, new, aux["train"])
    return new, box, {**aux, "optimizer": {"update": aux["train"], **stats}}


BATCH_UPDATES = ("auto", "vmap", "loop")


@partial(jax.jit, static_argnames=("config", "update"), donate_argnames=("states",))
def step_batch(weights, config: TrackerConfig, states: TrackerState, images, active, update: str = "auto"):
    """:func:`step` over a batch: ``states`` with a leading axis B, ``images`` (B, H, W, 3), ``active`` (B,)
    bool; inactive slots keep their state. Returns ``(states, boxes (B, 4), aux)``.

    The tracking part is vmapped. The filter training runs only on frames where some active slot needs it
    (a real branch outside ``vmap``), in the form ``update`` (static) names:
      * ``"vmap"``: vmapped over all slots and masked, so every slot pays for the slowest one's update; this
        is what a GPU runs in parallel at the cost of one;
      * ``"loop"``: slot after slot with a real branch each (``lax.fori_loop``), so only the slots that need an
        update pay for it; on a CPU, which runs the slots one after the other anyway, this saves the updates
        that the masked form computes and throws away (also the vmapped solver is slower per slot there);
      * ``"auto"`` (default): ``"loop"`` on the CPU backend, ``"vmap"`` elsewhere.
    Both forms give the same result as single-sequence :func:`step`.
    """
    if update not in BATCH_UPDATES:
        raise ValueError(f"update must be one of {BATCH_UPDATES}, got {update!r}")
    if update == "auto":
        update = "loop" if jax.default_backend() == "cpu" else "vmap"
    new, boxes, aux = jax.vmap(lambda s, im: _track(weights, config, s, im, batched=True))(states, images)
    index = jnp.where(active, aux["train"], 0)
    none = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, index.shape + a.shape), _no_update_stats(config))
    if update == "vmap":
        new, stats = jax.lax.cond(jnp.any(index > 0),
                                  lambda s: jax.vmap(lambda t, i: _train(config, t, i))(s, index),
                                  lambda s: (s, none), new)
    else:
        new, stats = jax.lax.fori_loop(0, index.shape[0], lambda b, c: _train_slot(config, *c, b, index[b]),
                                       (new, none))

    def keep(n, o):
        mask = jnp.reshape(active, active.shape + (1,) * (n.ndim - 1))
        return jnp.where(mask, n, o)

    new = jax.lax.cond(jnp.all(active), lambda n, o: n, lambda n, o: jax.tree_util.tree_map(keep, n, o),
                       new, states)
    return new, boxes, {**aux, "optimizer": {"update": index, **stats}}


def _train_slot(config: TrackerConfig, states: TrackerState, stats: dict, b, index):
    """:func:`_train` of slot ``b`` of a batched state; only what training changes (filter, optimizer state)
    is written back, and the slot's row of the batched update statistics."""
    slot = jax.tree_util.tree_map(lambda a: jax.lax.dynamic_index_in_dim(a, b, keepdims=False), states)
    trained, slot_stats = _train(config, slot, index)
    put = lambda batch, one: jax.lax.dynamic_update_index_in_dim(batch, one, b, 0)
    states = states.replace(filter=put(states.filter, trained.filter),
                            optimizer_state=jax.tree_util.tree_map(put, states.optimizer_state,
                                                                   trained.optimizer_state))
    return states, jax.tree_util.tree_map(put, stats, slot_stats)


def state_box_xywh(state: TrackerState):
    """The current target box ``(x, y, w, h)`` of a state."""
    return center_size_to_xywh(state.center_xy, state.size_wh)

