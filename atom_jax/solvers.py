"""Jitted least-squares solvers over parameter pytrees: Gauss-Newton with Conjugate Gradient (the paper's
Algorithm 1), plain CG, and gradient-descent baselines.

Problem convention. A *residual function* maps a parameter pytree to a residual pytree (any structure, any
shapes); the objective is the plain sum of squares ``L(w) = ||r(w)||^2`` (no factor 1/2, as in the paper and
pytracking). Data enters through the closure, so a typical use is::

    @jax.jit
    def fit(params, data):
        residual_fn = lambda p: model(p, data) - data.target
        return gauss_newton_cg(residual_fn, params, num_gn=6, num_cg=10)

Nothing here is jitted by itself: every function is pure and traceable, iteration counts are static Python
ints and all loops are ``lax.scan`` (one compilation per shape, a trace whose size does not grow with the
iteration counts). No host syncs, no Python branches on traced values; a breakdown (zero gradient, zero
curvature, ``rho == 0``) freezes the iterate instead of producing NaN.

Gauss-Newton operator ``A p = J^T J p`` (``operator=``):
- ``'jvp_vjp'`` (default): ``jax.vjp`` built once per GN iteration, ``J p`` by ``jax.jvp``.
- ``'double_backprop'``: the paper's trick: ``h(u) = J^T u`` by one vjp, then ``J p`` as the vjp of ``h`` at
  ``u = r`` with cotangent ``p`` (``BackProp(h^T p, u)``), then ``J^T (J p)``.
- ``'linear_transpose'``: ``jax.linearize`` (``J p`` without recomputing the primal) and
  ``jax.linear_transpose`` of it for ``J^T q``.

CG options follow pytracking's ``ConjugateGradientBase``: Fletcher-Reeves or Polak-Ribiere beta (clamped at
0), the standard step ``alpha = rho / <p, A p>`` or the alternative ``<p, r> / <p, A p>``, a search direction
carried between calls in a :class:`CGState` with a forgetting factor (0 = restart every call), a
preconditioner ``z = M(r)`` (:func:`diagonal_preconditioner` builds pytracking's ``x / diag``), and a custom
inner product on parameter pytrees (default :func:`tree_vdot`, ``precision=HIGHEST``).

Backprop count (for comparisons with GD): one GN iteration costs ``1 + 2 * num_cg`` backprop-equivalents
(``J^T r`` once, then ``J p`` and ``J^T q`` per CG iteration); one GD iteration costs 1.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

PyTree = Any
InnerProduct = Callable[[PyTree, PyTree], jax.Array]

OPERATORS = ("jvp_vjp", "double_backprop", "linear_transpose")


def tree_vdot(a: PyTree, b: PyTree) -> jax.Array:
    """Euclidean inner product of two pytrees with the same structure (sum over leaves, HIGHEST precision)."""
    leaves = [
        jnp.vdot(x.ravel(), y.ravel(), precision=lax.Precision.HIGHEST)
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    ]
    return sum(leaves[1:], leaves[0])


def tree_axpy(alpha: jax.Array, x: PyTree, y: PyTree) -> PyTree:
    """``alpha * x + y`` leaf by leaf."""
    return jax.tree_util.tree_map(lambda a, b: alpha.astype(a.dtype) * a + b, x, y)


def tree_scale(alpha: jax.Array, x: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda a: alpha.astype(a.dtype) * a, x)


def tree_where(cond: jax.Array, x: PyTree, y: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda a, b: jnp.where(cond, a, b), x, y)


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    """``num / den``, and 0 where ``den == 0`` (no NaN, also not in gradients)."""
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1), 0)


def diagonal_preconditioner(diag: PyTree) -> Callable[[PyTree], PyTree]:
    """``M(r) = r / diag`` leaf by leaf (``diag`` leaves broadcast against the parameter leaves)."""
    return lambda r: jax.tree_util.tree_map(lambda a, d: a / d, r, diag)


# ----------------------------------------------------------------------------------------------------------
# Conjugate Gradient


class CGState(NamedTuple):
    """The CG memory carried between calls (pytracking keeps it on the optimizer object).

    p: last search direction (zeros when there is none); r_prev: the residual before the last update (used by
    Polak-Ribiere); rho: the last ``<r, M r>``; has_direction: bool scalar, False until a direction exists.
    """

    p: PyTree
    r_prev: PyTree
    rho: jax.Array
    has_direction: jax.Array


class CGStats(NamedTuple):
    """Per-iteration CG values, each of shape ``(num_cg,)`` (leading GN axis added by Gauss-Newton)."""

    alpha: jax.Array
    beta: jax.Array
    rho: jax.Array
    residual_norm: jax.Array  # ||b - A x|| after the iteration, in the CG inner product


def cg_init_state(params: PyTree) -> CGState:
    """A fresh CG state for parameters shaped like ``params`` (no direction, ``rho = 1``)."""
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    dtype = jnp.asarray(jax.tree_util.tree_leaves(params)[0]).dtype
    return CGState(p=zeros, r_prev=zeros, rho=jnp.ones((), dtype), has_direction=jnp.zeros((), bool))


class _CGCarry(NamedTuple):
    x: PyTree
    r: PyTree
    state: CGState
    stopped: jax.Array


def _cg_step(carry: _CGCarry, matvec, precond, inner, fletcher_reeves: bool, standard_alpha: bool):
    """One CG iteration (pytracking's loop body); returns the new carry and this iteration's stats."""
    x, r, st, stopped = carry
    z = precond(r)
    rho1 = st.rho
    rho = inner(r, z)
    stop = stopped | (rho == 0)
    if fletcher_reeves:
        beta_num = rho
    else:
        beta_num = rho - inner(st.r_prev, z)
    beta = jnp.where(st.has_direction, jnp.maximum(_safe_div(beta_num, rho1), 0), 0)
    p = tree_axpy(beta, st.p, z)
    q = matvec(p)
    pq = inner(p, q)
    alpha = _safe_div(rho if standard_alpha else inner(p, r), pq)
    x_new = tree_axpy(alpha, p, x)
    r_new = tree_axpy(-alpha, q, r)
    new = _CGCarry(
        x=x_new,
        r=r_new,
        state=CGState(p=p, r_prev=r, rho=rho, has_direction=jnp.ones((), bool)),
        stopped=stop,
    )
    # A stop (rho == 0) freezes everything from this iteration on.
    out = jax.tree_util.tree_map(lambda old, nw: jnp.where(stop, old, nw), carry._replace(stopped=stop), new)
    alpha = jnp.where(stop, 0, alpha)
    beta = jnp.where(stop, 0, beta)
    stats = CGStats(alpha=alpha, beta=beta, rho=rho, residual_norm=jnp.sqrt(jnp.abs(inner(out.r, out.r))))
    return out, stats


def cg(
    matvec: Callable[[PyTree], PyTree],
    b: PyTree,
    num_iter: int,
    *,
    state: CGState | None = None,
    fletcher_reeves: bool = True,
    standard_alpha: bool = True,
    forget_factor: float | jax.Array = 0.0,
    preconditioner: Callable[[PyTree], PyTree] | None = None,
    inner: InnerProduct = tree_vdot,
) -> tuple[PyTree, CGState, CGStats]:
    """Run ``num_iter`` CG iterations on ``A x = b`` from ``x = 0``; returns ``(x, state, stats)``.

    ``matvec`` must be symmetric positive semi-definite w.r.t. ``inner``. ``forget_factor == 0`` restarts
    from scratch (``state`` is ignored); otherwise a direction in ``state`` is kept and its ``rho`` divided
    by ``forget_factor`` (pytracking's semantics, may be a traced value). Pass the returned ``state`` back in
    the next call to carry the direction.
    """
    if state is None:
        state = cg_init_state(b)
    fresh = cg_init_state(b)
    forget_factor = jnp.asarray(forget_factor, fresh.rho.dtype)
    keep = forget_factor != 0
    state = tree_where(keep, state, fresh)
    rho = jnp.where(keep & state.has_direction, _safe_div(state.rho, forget_factor), state.rho)
    state = state._replace(rho=rho)
    precond = preconditioner if preconditioner is not None else (lambda v: v)
    x0 = jax.tree_util.tree_map(jnp.zeros_like, b)
    carry = _CGCarry(x=x0, r=b, state=state, stopped=jnp.zeros((), bool))

    def body(c, _):
        return _cg_step(c, matvec, precond, inner, fletcher_reeves, standard_alpha)

    carry, stats = lax.scan(body, carry, None, length=num_iter)
    return carry.x, carry.state, stats


# ----------------------------------------------------------------------------------------------------------
# Gauss-Newton


def gauss_newton_system(
    residual_fn: Callable[[PyTree], PyTree], params: PyTree, operator: str = "jvp_vjp"
) -> tuple[PyTree, PyTree, Callable[[PyTree], PyTree]]:
    """Linearise at ``params``: returns ``(r, J^T r, p -> J^T J p)`` with the chosen operator strategy."""
    if operator == "jvp_vjp":
        r, vjp_fn = jax.vjp(residual_fn, params)
        jtr = vjp_fn(r)[0]

        def matvec(p):
            return vjp_fn(jax.jvp(residual_fn, (params,), (p,))[1])[0]

    elif operator == "double_backprop":
        r, vjp_fn = jax.vjp(residual_fn, params)
        # h(u) = J^T u is linear in u; its vjp with cotangent p is J p (the paper's BackProp(h^T p, u)).
        jtr, jp_fn = jax.vjp(lambda u: vjp_fn(u)[0], r)

        def matvec(p):
            return vjp_fn(jp_fn(p)[0])[0]

    elif operator == "linear_transpose":
        r, jvp_fn = jax.linearize(residual_fn, params)
        jt_fn = jax.linear_transpose(jvp_fn, params)
        jtr = jt_fn(r)[0]

        def matvec(p):
            return jt_fn(jvp_fn(p))[0]

    else:
        raise ValueError(f"unknown operator {operator!r}; expected one of {OPERATORS}")
    return r, jtr, matvec


class GNStats(NamedTuple):
    """Gauss-Newton statistics: ``loss`` and ``grad_norm`` have shape ``(num_gn + 1,)`` (value before each
    GN iteration, then at the result; ``grad_norm = ||dL/dw||``, Euclidean); the CG fields
    ``(num_gn, num_cg)``."""

    loss: jax.Array
    grad_norm: jax.Array
    alpha: jax.Array
    beta: jax.Array
    cg_residual_norm: jax.Array


def _loss(r: PyTree) -> jax.Array:
    return tree_vdot(r, r)


def gauss_newton_cg(
    residual_fn: Callable[[PyTree], PyTree],
    params: PyTree,
    *,
    num_gn: int,
    num_cg: int,
    operator: str = "jvp_vjp",
    cg_state: CGState | None = None,
    fletcher_reeves: bool = True,
    standard_alpha: bool = True,
    forget_factor: float | jax.Array = 0.0,
    preconditioner: Callable[[PyTree], PyTree] | None = None,
    inner: InnerProduct = tree_vdot,
    final_stats: bool = True,
) -> tuple[PyTree, CGState, GNStats]:
    """Minimise ``||residual_fn(w)||^2`` by ``num_gn`` Gauss-Newton iterations of ``num_cg`` CG iterations
    each (Algorithm 1; pytracking's ``GaussNewtonCG``, or its ``ConjugateGradient`` with ``num_gn=1``).

    Returns ``(params, cg_state, stats)``. The CG state is carried across GN iterations and returned, so a
    non-zero ``forget_factor`` keeps the direction between calls as pytracking does. The defaults
    (Fletcher-Reeves, standard alpha, no forgetting, no preconditioner) are those of pytracking's
    ``GaussNewtonCG`` constructor. ``final_stats=False`` skips the extra residual and gradient evaluation
    at the result (its ``loss``/``grad_norm`` entries are then NaN).
    """
    if cg_state is None:
        cg_state = cg_init_state(params)

    def gn_iter(carry, _):
        w, st = carry
        r, jtr, matvec = gauss_newton_system(residual_fn, w, operator)
        loss = _loss(r)
        grad_norm = 2 * jnp.sqrt(tree_vdot(jtr, jtr))
        b = tree_scale(jnp.asarray(-1.0), jtr)
        dw, st, cstats = cg(
            matvec,
            b,
            num_cg,
            state=st,
            fletcher_reeves=fletcher_reeves,
            standard_alpha=standard_alpha,
            forget_factor=forget_factor,
            preconditioner=preconditioner,
            inner=inner,
        )
        w = jax.tree_util.tree_map(lambda a, d: a + d, w, dw)
        return (w, st), (loss, grad_norm, cstats)

    (params, cg_state), (loss, grad_norm, cstats) = lax.scan(gn_iter, (params, cg_state), None, length=num_gn)
    if final_stats:
        r, vjp_fn = jax.vjp(residual_fn, params)
        jtr = vjp_fn(r)[0]
        last_loss, last_grad = _loss(r), 2 * jnp.sqrt(tree_vdot(jtr, jtr))
    else:
        last_loss = last_grad = jnp.full((), jnp.nan, loss.dtype)
    stats = GNStats(
        loss=jnp.append(loss, last_loss),
        grad_norm=jnp.append(grad_norm, last_grad),
        alpha=cstats.alpha,
        beta=cstats.beta,
        cg_residual_norm=cstats.residual_norm,
    )
    return params, cg_state, stats


# ----------------------------------------------------------------------------------------------------------
# Gradient descent baselines


class GDStats(NamedTuple):
    """``loss`` and ``grad_norm`` of shape ``(num_iter + 1,)``: before each step, then at the result."""

    loss: jax.Array
    grad_norm: jax.Array


def gradient_descent(
    residual_fn: Callable[[PyTree], PyTree],
    params: PyTree,
    *,
    num_iter: int,
    step_length: float | jax.Array,
    momentum: float | jax.Array = 0.0,
) -> tuple[PyTree, GDStats]:
    """Gradient descent with momentum on ``||residual_fn(w)||^2`` (pytracking's ``GradientDescentL2``).

    ``d <- grad + momentum * d`` (``d`` starts at 0), ``w <- w - step_length * d``. The paper's GD runs as many
    backprops as GN-CG (``num_iter = num_gn * (1 + 2 * num_cg)``); its GD++ runs 5 times as many.
    """
    value_and_grad = jax.value_and_grad(lambda w: _loss(residual_fn(w)))

    def step(carry, _):
        w, d = carry
        loss, g = value_and_grad(w)
        d = jax.tree_util.tree_map(lambda di, gi: gi + momentum * di, d, g)
        w = jax.tree_util.tree_map(lambda wi, di: wi - step_length * di, w, d)
        return (w, d), (loss, jnp.sqrt(tree_vdot(g, g)))

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    (params, _), (loss, grad_norm) = lax.scan(step, (params, zeros), None, length=num_iter)
    last_loss, last_g = value_and_grad(params)
    stats = GDStats(loss=jnp.append(loss, last_loss), grad_norm=jnp.append(grad_norm, jnp.sqrt(tree_vdot(last_g, last_g))))
    return params, stats

