"""Tests of atom_jax.solvers: float64 references in plain NumPy / SciPy, operator strategies, breakdowns."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax.flatten_util import ravel_pytree

from atom_jax import solvers

OPS = solvers.OPERATORS


def _np_cg(A, b, n, state, fletcher_reeves, standard_alpha, forget, M, ip):
    """pytracking's CG loop in NumPy (own code, float64); ``state`` is a dict carried between calls."""
    if forget == 0:
        state.update(p=None, rho=1.0, r_prev=None)
    elif state["p"] is not None:
        state["rho"] = state["rho"] / forget
    r = b.copy()
    x = np.zeros_like(b)
    alphas, betas = [], []
    for _ in range(n):
        z = M(r)
        rho1, state["rho"] = state["rho"], ip(r, z)
        if state["rho"] == 0:
            break
        if state["p"] is None:
            beta, state["p"] = 0.0, z.copy()
        else:
            num = state["rho"] if fletcher_reeves else state["rho"] - ip(state["r_prev"], z)
            beta = max(num / rho1, 0.0)
            state["p"] = z + beta * state["p"]
        q = A @ state["p"]
        alpha = (state["rho"] if standard_alpha else ip(state["p"], r)) / ip(state["p"], q)
        state["r_prev"] = r.copy()
        x = x + alpha * state["p"]
        r = r - alpha * q
        alphas.append(alpha)
        betas.append(beta)
    return x, np.array(alphas), np.array(betas)


def test_cg_on_diagonal_system_converges_in_n_steps():
    with jax.enable_x64(True):
        d = {"a": jnp.array([1.0, 2.0, 3.0]), "b": jnp.array([[5.0, 11.0]])}
        b = {"a": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array([[3.0, 4.0]])}
        matvec = lambda v: jax.tree_util.tree_map(lambda x, y: x * y, d, v)
        x, _, stats = solvers.cg(matvec, b, 5)
        for k in d:
            np.testing.assert_allclose(x[k], b[k] / d[k], rtol=1e-10)
        x4, _, _ = solvers.cg(matvec, b, 4)  # 5 distinct eigenvalues: 4 iterations are not enough
        assert abs(float(x4["b"][0, 1]) - 4.0 / 11.0) > 1e-6
        assert stats.residual_norm[-1] < 1e-10 * stats.residual_norm[0]


@pytest.mark.parametrize("fletcher_reeves", [True, False])
@pytest.mark.parametrize("standard_alpha", [True, False])
def test_cg_matches_numpy_pytracking_loop_with_all_options(fletcher_reeves, standard_alpha):
    rng = np.random.default_rng(0)
    n = 8
    g = rng.standard_normal((n, n))
    A = g @ g.T + 0.5 * np.eye(n)
    diag = rng.uniform(0.5, 3.0, n)
    weights = rng.uniform(0.5, 2.0, n)  # custom inner product <a, b> = sum(w a b)
    b1, b2 = rng.standard_normal(n), rng.standard_normal(n)
    ref_state = {"p": None, "rho": 1.0, "r_prev": None}
    kw = dict(fletcher_reeves=fletcher_reeves, standard_alpha=standard_alpha)
    ip_np = lambda a, c: float(np.sum(weights * a * c))
    with jax.enable_x64(True):
        ip_jax = lambda a, c: jnp.sum(jnp.asarray(weights) * a * c)
        state = None
        for bvec, forget in ((b1, 0.7), (b2, 0.7)):  # second call continues the carried direction
            x_ref, al_ref, be_ref = _np_cg(A, bvec, 4, ref_state, forget=forget, M=lambda r: r / diag, ip=ip_np, **kw)
            x, state, stats = solvers.cg(
                lambda v: jnp.asarray(A) @ v,
                jnp.asarray(bvec),
                4,
                state=state,
                forget_factor=forget,
                preconditioner=solvers.diagonal_preconditioner(jnp.asarray(diag)),
                inner=ip_jax,
                **kw,
            )
            np.testing.assert_allclose(x, x_ref, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(stats.alpha, al_ref, rtol=1e-10)
            np.testing.assert_allclose(stats.beta, be_ref, rtol=1e-10, atol=1e-14)
        assert be_ref[0] > 0  # the carried direction was really used in the second call


def _toy_residual(params, t, y):
    """A small nonlinear least-squares problem over a pytree: exponential fit plus a coupling term."""
    model = params["amp"] * jnp.exp(params["rate"] * t) + params["offset"][0]
    return {"fit": model - y, "coupling": 0.1 * (params["amp"] * params["rate"] - 0.3)[None]}


def _toy_data():
    t = np.linspace(0.0, 1.0, 25)
    y = 2.0 * np.exp(-1.3 * t) + 0.5 + 0.01 * np.sin(17 * t)
    return t, y


@pytest.mark.parametrize("operator", OPS)
def test_operator_matches_explicit_jacobian(operator):
    with jax.enable_x64(True):
        t, y = _toy_data()
        params = {"amp": jnp.array(1.5), "rate": jnp.array(-0.7), "offset": jnp.array([0.2])}
        fn = lambda p: _toy_residual(p, t, y)
        flat, unravel = ravel_pytree(params)
        flat_fn = lambda v: ravel_pytree(fn(unravel(v)))[0]
        J = np.asarray(jax.jacfwd(flat_fn)(flat))
        r_flat = np.asarray(flat_fn(flat))
        p = {"amp": jnp.array(0.3), "rate": jnp.array(-1.1), "offset": jnp.array([0.7])}
        r, jtr, matvec = solvers.gauss_newton_system(fn, params, operator)
        np.testing.assert_allclose(ravel_pytree(r)[0], r_flat, rtol=1e-12)
        np.testing.assert_allclose(ravel_pytree(jtr)[0], J.T @ r_flat, rtol=1e-10)
        np.testing.assert_allclose(ravel_pytree(matvec(p))[0], J.T @ (J @ np.asarray(ravel_pytree(p)[0])), rtol=1e-10)


def test_gauss_newton_matches_scipy_least_squares():
    t, y = _toy_data()
    x0 = np.array([1.5, -0.7, 0.2])

    def np_res(v):
        return np.concatenate([v[0] * np.exp(v[1] * t) + v[2] - y, [0.1 * (v[0] * v[1] - 0.3)]])

    ref = scipy.optimize.least_squares(np_res, x0, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    with jax.enable_x64(True):
        params = {"amp": jnp.array(x0[0]), "rate": jnp.array(x0[1]), "offset": jnp.array([x0[2]])}
        out, _, stats = jax.jit(
            lambda p: solvers.gauss_newton_cg(lambda q: _toy_residual(q, t, y), p, num_gn=15, num_cg=3)
        )(params)
        got = np.array([out["amp"], out["rate"], out["offset"][0]])
        loss, grad_norm = float(stats.loss[-1]), float(stats.grad_norm[-1])
    # Amplitude and offset are strongly correlated here, so two stationary-point solvers stop ~1e-8 apart.
    np.testing.assert_allclose(got, ref.x, rtol=1e-6)
    np.testing.assert_allclose(loss, 2 * ref.cost, rtol=1e-8)  # scipy's cost is 0.5 ||r||^2
    assert grad_norm < 1e-8


def test_operators_agree_in_float64_and_stats_have_fixed_shapes():
    with jax.enable_x64(True):
        t, y = _toy_data()
        params = {"amp": jnp.array(1.0), "rate": jnp.array(-0.2), "offset": jnp.array([0.0])}
        results = {}
        for op in OPS:
            out, _, stats = solvers.gauss_newton_cg(
                lambda q: _toy_residual(q, t, y), params, num_gn=3, num_cg=2, operator=op
            )
            results[op] = np.asarray(ravel_pytree(out)[0])
            assert stats.loss.shape == (4,) and stats.alpha.shape == (3, 2) and stats.beta.shape == (3, 2)
        for op in OPS[1:]:
            np.testing.assert_allclose(results[op], results[OPS[0]], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown operator"):
        solvers.gauss_newton_system(lambda q: q, jnp.zeros(2), "hessian")


def test_zero_gradient_and_zero_curvature_give_no_nan():
    A = jnp.array([[2.0, 1.0], [0.0, 3.0], [1.0, 1.0]])
    w_star = jnp.array([0.5, -1.0])
    # Zero gradient: start at the exact solution of a consistent linear problem.
    out, st, stats = solvers.gauss_newton_cg(lambda w: A @ w - A @ w_star, w_star, num_gn=2, num_cg=3)
    np.testing.assert_array_equal(out, w_star)
    assert np.all(np.isfinite(np.asarray(stats.alpha))) and np.all(np.isfinite(np.asarray(st.rho)))
    # Zero Jacobian: residual independent of the parameters.
    out, _, stats = solvers.gauss_newton_cg(lambda w: jnp.ones(3) + 0 * w[0], w_star, num_gn=2, num_cg=3)
    np.testing.assert_array_equal(out, w_star)
    np.testing.assert_allclose(stats.loss, 3.0)
    # Zero curvature with a non-zero right-hand side (CG on the zero operator).
    x, _, cstats = solvers.cg(lambda v: 0 * v, jnp.array([1.0, 2.0]), 3)
    assert np.all(np.isfinite(np.asarray(x))) and np.all(np.asarray(cstats.alpha) == 0)
    # The gradient of a jitted solve through a breakdown is finite too.
    g = jax.grad(lambda s: jnp.sum(solvers.cg(lambda v: 0 * v, s * jnp.ones(2), 2)[0]))(1.0)
    assert np.isfinite(float(g))


def test_gradient_descent_matches_numpy_momentum_loop():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((6, 3))
    y = rng.standard_normal(6)
    w = np.zeros(3)
    d = np.zeros(3)
    losses = []
    for _ in range(7):
        r = A @ w - y
        losses.append(r @ r)
        d = 2 * A.T @ r + 0.8 * d
        w = w - 0.05 * d
    with jax.enable_x64(True):
        out, stats = solvers.gradient_descent(
            lambda v: jnp.asarray(A) @ v - jnp.asarray(y), jnp.zeros(3), num_iter=7, step_length=0.05, momentum=0.8
        )
    np.testing.assert_allclose(out, w, rtol=1e-12)
    np.testing.assert_allclose(stats.loss[:-1], losses, rtol=1e-12)
    assert stats.loss.shape == (8,)


def test_jitted_solver_traces_once_and_final_stats_flag():
    traces = []

    @jax.jit
    def solve(w, target):
        traces.append(1)
        return solvers.gauss_newton_cg(lambda v: jnp.tanh(v) - target, w, num_gn=2, num_cg=2, final_stats=False)

    for k in range(3):
        out, _, stats = solve(jnp.zeros(4), jnp.full(4, 0.1 * (k + 1)))
    assert len(traces) == 1
    assert np.isnan(float(stats.loss[-1])) and np.isfinite(float(stats.loss[0]))
    np.testing.assert_allclose(out, np.arctanh(0.3), rtol=1e-3)
