"""The online learner's optimizers behind one interface, and the statistics they report.

An *optimizer* here is a callable ``opt(residual_fn, params, state) -> (params, state, stats)`` that lowers
``L(w) = ||residual_fn(w)||^2`` (the plain sum of squares of a residual pytree, as :mod:`atom_jax.solvers`)
from ``params``, with its iteration counts fixed when it is built, so that a jitted tracker step compiles
once. ``state`` is what the optimizer carries from one call to the next (Conjugate Gradient's search
direction; ``()`` for the others) and ``opt.init(params)`` gives its first value. ``stats`` is an
:class:`OptimizerStats` of fixed shapes.

The tracker (:mod:`atom_jax.tracker`) poses two problems:
  * first frame: ``params = {"filter": (kh, kw, C, 1), "projection": (1, 1, C_in, C)}`` on the augmented
    samples (:func:`atom_jax.classifier.joint_residuals`);
  * update (regular and hard-negative): ``params`` = the filter array, over the sample memory
    (:func:`atom_jax.classifier.filter_residuals`).
:func:`for_problem` builds the optimizer of a problem from the config's ``optimizer`` field:
  * ``"GaussNewtonCG"`` (default, pytracking's): :class:`GaussNewtonCG`, ``init_GN_iter`` x
    ``init_CG_iter / init_GN_iter`` at the first frame, one linearisation and ``CG_iter`` (or
    ``hard_negative_CG_iter``) CG iterations per update; ``gn_operator`` picks the ``J^T J p`` form;
  * ``"GradientDescentL2"``: :class:`GradientDescentL2` (the paper's GD, GD++ with ``gd_iter_factor=10``);
  * ``"optax:NAME"``: :class:`Optax` with ``optax.NAME(learning_rate)`` (``optax:lbfgs``, ``optax:adam``,
    ``optax:sgd``, any optax optimizer whose first argument is the learning rate);
  * a :class:`UserOptimizer` (from :func:`user_optimizer`: your own function or an
    ``optax.GradientTransformation``; hashable, so it can sit in the static config).
GD and optax run ``gd_iter_factor`` iterations per CG iteration of the GN-CG budget they replace (2: about
the same number of backprops, see :func:`iterations`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from atom_jax import solvers
from atom_jax.errors import InputError

PyTree = Any
ResidualFn = Callable[[PyTree], PyTree]

BUILT_IN = ("GaussNewtonCG", "GradientDescentL2")
OPTAX_PREFIX = "optax:"
# Learning rates used when optax_learning_rate is None (None for lbfgs: its zoom line search sets the step).
# sgd takes GD's step and momentum (then optax:sgd is GradientDescentL2); adam's from the objective study
# (benchmarks/bench_optimizer.py).
OPTAX_DEFAULT_LEARNING_RATE = {"lbfgs": None, "adam": 1e-4, "sgd": "optimizer_step_length"}


class OptimizerStats(NamedTuple):
    """What one optimizer call did, in fixed shapes (``n`` outer iterations, ``k`` CG iterations each).

    loss, grad_norm: ``(n + 1,)``: the objective ``||r||^2`` and ``||dL/dw||`` before each outer iteration,
    then at the result (NaN where an optimizer does not compute it); alpha, beta, cg_residual_norm: ``(n, k)``
    CG step lengths, direction weights and residual norms (``k = 0`` without CG); backprops: ``(n,)``
    backprop-equivalents spent per outer iteration (a residual function and its vjp count 1; GN's ``J p``
    and ``J^T q`` 1 each)."""

    loss: jax.Array
    grad_norm: jax.Array
    alpha: jax.Array
    beta: jax.Array
    cg_residual_norm: jax.Array
    backprops: jax.Array


def _empty_cg(n: int, dtype) -> tuple:
    return tuple(jnp.zeros((n, 0), dtype) for _ in range(3))


def _norm(tree) -> jax.Array:
    return jnp.sqrt(solvers.tree_vdot(tree, tree))


def objective(residual_fn: ResidualFn, params: PyTree) -> jax.Array:
    r = residual_fn(params)
    return solvers.tree_vdot(r, r)


def _final(residual_fn, params, final_stats, dtype):
    """Objective and gradient norm at the result: both (True), the objective only ("loss"), neither (False)."""
    nan = jnp.full((), jnp.nan, dtype)
    if final_stats is True:
        loss, g = jax.value_and_grad(lambda w: objective(residual_fn, w))(params)
        return loss, _norm(g)
    if final_stats == "loss":
        return objective(residual_fn, params), nan
    return nan, nan


@dataclasses.dataclass(frozen=True)
class GaussNewtonCG:
    """``num_gn`` Gauss-Newton iterations of ``num_cg`` CG iterations (:func:`atom_jax.solvers.gauss_newton_cg`);
    the state is the CG direction (:class:`atom_jax.solvers.CGState`). ``preconditioner``: per-leaf diagonal
    as ``((leaf name, value), ...)`` (the first frame's ``filter_reg`` / ``projection_reg``) or ``None``;
    ``final_stats``: True, ``"loss"`` (the objective at the result without its gradient) or False."""

    num_gn: int
    num_cg: int
    operator: str = "jvp_vjp"
    fletcher_reeves: bool = True
    standard_alpha: bool = True
    forget_factor: float = 0.0
    preconditioner: tuple | None = None
    final_stats: bool | str = True

    def init(self, params):
        return solvers.cg_init_state(params)

    def __call__(self, residual_fn, params, state):
        precond = None if self.preconditioner is None else solvers.diagonal_preconditioner(dict(self.preconditioner))
        params, state, st = solvers.gauss_newton_cg(
            residual_fn, params, num_gn=self.num_gn, num_cg=self.num_cg, operator=self.operator, cg_state=state,
            fletcher_reeves=self.fletcher_reeves, standard_alpha=self.standard_alpha,
            forget_factor=self.forget_factor, preconditioner=precond, final_stats=self.final_stats is True)
        loss, grad_norm = st.loss, st.grad_norm
        if self.final_stats == "loss":
            loss = loss.at[-1].set(objective(residual_fn, params))
        backprops = jnp.full((self.num_gn,), 1 + 2 * self.num_cg, loss.dtype)
        return params, state, OptimizerStats(loss, grad_norm, st.alpha, st.beta, st.cg_residual_norm, backprops)


@dataclasses.dataclass(frozen=True)
class GradientDescentL2:
    """Gradient descent with momentum (:func:`atom_jax.solvers.gradient_descent`), restarted at each call."""

    num_iter: int
    step_length: float
    momentum: float = 0.0

    def init(self, params):
        return ()

    def __call__(self, residual_fn, params, state):
        params, st = solvers.gradient_descent(residual_fn, params, num_iter=self.num_iter,
                                              step_length=self.step_length, momentum=self.momentum)
        n = self.num_iter
        return params, state, OptimizerStats(st.loss, st.grad_norm, *_empty_cg(n, st.loss.dtype),
                                             jnp.ones((n,), st.loss.dtype))


def _with_linesearch_state(opt_state) -> bool:
    return _tree_get(opt_state, "value") is not None and _tree_get(opt_state, "grad") is not None


def _tree_get(tree, name):
    import optax

    return optax.tree_utils.tree_get(tree, name, None)


@dataclasses.dataclass(frozen=True)
class Optax:
    """``num_iter`` updates of an ``optax.GradientTransformation`` on the objective, restarted at each call
    (state ``()``). Transformations with a line search (``optax.lbfgs``) get ``value``, ``grad`` and
    ``value_fn`` and reuse the line search's value and gradient; their backprops per iteration are the
    line search's evaluations. ``final_stats`` as :class:`GaussNewtonCG`."""

    transformation: Any
    num_iter: int
    final_stats: bool | str = True

    def init(self, params):
        return ()

    def __call__(self, residual_fn, params, state):
        import optax

        tx = optax.with_extra_args_support(self.transformation)
        loss_fn = lambda w: objective(residual_fn, w)
        plain = jax.value_and_grad(loss_fn)
        opt_state = tx.init(params)
        linesearch = _with_linesearch_state(opt_state)
        from_state = optax.value_and_grad_from_state(loss_fn) if linesearch else None

        def body(carry, _):
            w, s = carry
            if linesearch:
                fresh = ~jnp.isfinite(_tree_get(s, "value"))  # only the first iteration evaluates here
                value, g = from_state(w, state=s)
            else:
                fresh = jnp.ones((), bool)
                value, g = plain(w)
            updates, s = tx.update(g, s, w, value=value, grad=g, value_fn=loss_fn)
            w = optax.apply_updates(w, updates)
            spent = fresh.astype(value.dtype)
            if linesearch:
                spent = spent + jnp.asarray(_tree_get(s, "num_linesearch_steps"), value.dtype)
            return (w, s), (value, _norm(g), spent)

        (params, _), (loss, grad_norm, backprops) = lax.scan(body, (params, opt_state), None, length=self.num_iter)
        last_loss, last_grad = _final(residual_fn, params, self.final_stats, loss.dtype)
        stats = OptimizerStats(jnp.append(loss, last_loss), jnp.append(grad_norm, last_grad),
                               *_empty_cg(self.num_iter, loss.dtype), backprops)
        return params, state, stats


def _is_transformation(obj) -> bool:
    return hasattr(obj, "init") and hasattr(obj, "update") and not callable(obj)


@dataclasses.dataclass(frozen=True, eq=False)
class UserOptimizer:
    """A user's optimizer in a form the static, hashable config can hold (hashed and compared by identity).

    ``first_frame`` / ``update``: each a function ``fn(residual_fn, params, state) -> (params, state, stats)``
    (``state`` is ``()``; ``stats`` an :class:`OptimizerStats` or anything else, in which case the objective
    before and after and the starting gradient norm are measured around the call), or an
    ``optax.GradientTransformation`` (run as :class:`Optax` with the config's iteration budget)."""

    first_frame: Any
    update: Any


def user_optimizer(optimizer) -> UserOptimizer:
    """Wrap ``optimizer``: a function, an ``optax.GradientTransformation`` (both used for every problem), a
    dict ``{"first_frame": ..., "update": ...}`` of those, or a :class:`UserOptimizer` (returned as is)."""
    if isinstance(optimizer, UserOptimizer):
        return optimizer
    if isinstance(optimizer, dict):
        unknown = set(optimizer) - {"first_frame", "update"}
        if unknown or len(optimizer) != 2:
            raise InputError(f"optimizer dict needs exactly the keys 'first_frame' and 'update', got {sorted(optimizer)}")
        parts = (optimizer["first_frame"], optimizer["update"])
    else:
        parts = (optimizer, optimizer)
    for part in parts:
        if not (callable(part) or _is_transformation(part)):
            raise InputError(f"optimizer {part!r} is neither a function (residual_fn, params, state) -> "
                             f"(params, state, stats) nor an optax.GradientTransformation")
    return UserOptimizer(*parts)


@dataclasses.dataclass(frozen=True)
class _Measured:
    """A user function, with the objective measured before and after it when it reports no
    :class:`OptimizerStats` (costs two residual evaluations and one gradient per call)."""

    fn: Callable

    def init(self, params):
        return ()

    def __call__(self, residual_fn, params, state):
        new, state, stats = self.fn(residual_fn, params, state)
        if isinstance(stats, OptimizerStats):
            return new, state, stats
        loss0, g = jax.value_and_grad(lambda w: objective(residual_fn, w))(params)
        loss1 = objective(residual_fn, new)
        nan = jnp.full((), jnp.nan, loss0.dtype)
        stats = OptimizerStats(jnp.stack([loss0, loss1]), jnp.stack([_norm(g), nan]), *_empty_cg(1, loss0.dtype),
                               jnp.full((1,), jnp.nan, loss0.dtype))
        return new, state, stats


def validate(config) -> list[str]:
    """Problems with a config's ``optimizer`` and ``optax_learning_rate`` (empty when they are usable)."""
    optimizer = config.optimizer
    if isinstance(optimizer, UserOptimizer) or optimizer in BUILT_IN:
        return []
    if isinstance(optimizer, str) and optimizer.startswith(OPTAX_PREFIX):
        import optax

        name = optimizer[len(OPTAX_PREFIX):]
        if not callable(getattr(optax, name, None)) or name.startswith("_"):
            return [f"optimizer {optimizer!r}: optax has no optimizer {name!r}"]
        if config.optax_learning_rate is None and name not in OPTAX_DEFAULT_LEARNING_RATE:
            return [f"optimizer {optimizer!r} needs a learning rate: --set optax_learning_rate=..."]
        return []
    return [f"optimizer {optimizer!r} is not 'GaussNewtonCG', 'GradientDescentL2', 'optax:NAME' (e.g. optax:lbfgs, "
            f"optax:adam) or a function given to make_tracker(optimizer=...)"]


def optax_transformation(config):
    """The ``optax.GradientTransformation`` of ``config.optimizer == "optax:NAME"`` and its learning rate."""
    import optax

    name = config.optimizer[len(OPTAX_PREFIX):]
    lr = config.optax_learning_rate
    if lr is None:  # validate() made sure there is a default
        lr = OPTAX_DEFAULT_LEARNING_RATE[name]
        if lr == "optimizer_step_length":
            lr = config.optimizer_step_length
    if name == "sgd":
        return optax.sgd(lr, momentum=config.optimizer_momentum or None)
    return getattr(optax, name)(lr)


def iterations(config, first_frame: bool, num_cg: int) -> int:
    """GD / optax iterations replacing a GN-CG budget: ``gd_iter_factor`` per CG iteration. For an update of
    ``num_cg`` CG iterations (``1 + 2 num_cg`` backprops) that is ``gd_iter_factor * num_cg``; for the
    first frame, ``gd_iter_factor / 2`` per backprop of its Gauss-Newton run (``init_GN_iter +
    2 init_CG_iter``); with the default factor 2 both are about the GN-CG run's backprop count."""
    if first_frame:
        return (config.init_GN_iter + 2 * config.init_CG_iter) * config.gd_iter_factor // 2
    return num_cg * config.gd_iter_factor


def for_problem(config, first_frame: bool, num_cg: int | None = None):
    """The optimizer ``config`` runs on the first-frame problem (``first_frame=True``) or on an update of
    ``num_cg`` CG iterations (its budget for the other optimizers)."""
    kind = config.optimizer
    num_iter = iterations(config, first_frame, num_cg)
    final = True if first_frame else "loss"
    if isinstance(kind, UserOptimizer):
        part = kind.first_frame if first_frame else kind.update
        if _is_transformation(part):
            return Optax(part, num_iter, final)
        return _Measured(part)
    if kind == "GaussNewtonCG":
        if first_frame:
            return GaussNewtonCG(config.init_GN_iter, config.init_CG_iter // config.init_GN_iter, config.gn_operator,
                                 fletcher_reeves=True, preconditioner=(("filter", config.filter_reg),
                                                                       ("projection", config.projection_reg)))
        return GaussNewtonCG(1, num_cg, config.gn_operator, fletcher_reeves=config.fletcher_reeves,
                             standard_alpha=True, forget_factor=forget_factor(config), final_stats="loss")
    if kind == "GradientDescentL2":
        return GradientDescentL2(num_iter, config.optimizer_step_length, config.optimizer_momentum)
    return Optax(optax_transformation(config), num_iter, final)


def forget_factor(config) -> float:
    """pytracking's CG forgetting: ``(1 - learning_rate) ** CG_forgetting_rate``, 0 (restart) when unset."""
    if config.CG_forgetting_rate is None or config.learning_rate >= 1:
        return 0.0
    return (1 - config.learning_rate) ** config.CG_forgetting_rate


def frame_stats(stats: OptimizerStats | None, size: int, dtype=jnp.float32) -> dict:
    """One update's statistics in the fixed shapes of a tracker step's ``aux["optimizer"]``: ``loss_before``,
    ``loss_after``, ``grad_norm`` (at the start), ``backprops`` (total), and the CG lists ``cg_alpha``,
    ``cg_beta``, ``cg_residual_norm`` (``size`` values, NaN-padded or cut). ``None``: no update (all NaN)."""
    nan = jnp.full((), jnp.nan, dtype)
    if stats is None:
        return {"loss_before": nan, "loss_after": nan, "grad_norm": nan, "backprops": nan,
                **{f"cg_{k}": jnp.full((size,), jnp.nan, dtype) for k in ("alpha", "beta", "residual_norm")}}

    def pad(a):
        a = jnp.ravel(a).astype(dtype)[:size]
        return jnp.concatenate([a, jnp.full((size - a.shape[0],), jnp.nan, dtype)])

    return {"loss_before": stats.loss[0].astype(dtype), "loss_after": stats.loss[-1].astype(dtype),
            "grad_norm": stats.grad_norm[0].astype(dtype), "backprops": jnp.sum(stats.backprops).astype(dtype),
            "cg_alpha": pad(stats.alpha), "cg_beta": pad(stats.beta), "cg_residual_norm": pad(stats.cg_residual_norm)}


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def log_record(frame: int, update: int, stats: dict) -> dict:
    """A JSON-ready record of one frame (``atom-jax track --optimizer-log``): ``frame`` and ``update``
    (0 none, 1 regular, 2 hard negative), and for an update the objective before and after, the starting
    gradient norm, the backprops spent and the CG lists (padding dropped)."""
    out = {"frame": int(frame), "update": int(update)}
    if update:
        for key in ("loss_before", "loss_after", "grad_norm", "backprops"):
            out[key] = _finite_or_none(stats[key])
        for key in ("cg_alpha", "cg_beta", "cg_residual_norm"):
            out[key] = [float(v) for v in stats[key] if math.isfinite(float(v))]
    return out


def init_log_record(stats: dict) -> dict:
    """The first frame's record: ``frame`` 0, ``update`` 0 and the first-frame optimisation's full statistics
    (``loss`` and ``grad_norm`` per outer iteration, CG lists per outer iteration, ``backprops``)."""
    out = {"frame": 0, "update": 0}
    for name, part in stats.items():  # "optimizer" (first-frame problem), "optimizer_filter" (post-init fit)
        out[name] = {key: [[_finite_or_none(v) for v in row] for row in value] if getattr(value, "ndim", 1) == 2 else
                     [_finite_or_none(v) for v in value] for key, value in part.items()}
    return out
