"""JAX solvers vs an eager PyTorch Algorithm 1 (tests/parity/torch_optim.py, pytracking semantics) on the
ATOM classifier problems: the iterates agree."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax import classifier as C
from atom_jax import solvers

pytestmark = pytest.mark.parity


def _problem(dtype, n=4, hw=8, cin=16, cc=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cin, hw, hw)).astype(dtype)
    ky = np.arange(hw) - (hw - 1) / 2
    y = np.exp(-((ky[:, None] - 0.5) ** 2 + (ky[None, :] - 0.5) ** 2) / 2.0)
    y = np.broadcast_to(y, (n, 1, hw, hw)).astype(dtype).copy()
    f = (rng.standard_normal((1, cc, 4, 4)) / (cc * 16)).astype(dtype)
    p = (rng.standard_normal((cc, cin, 1, 1)) / np.sqrt(cin)).astype(dtype)
    sw = rng.uniform(0.5, 1.5, n).astype(dtype)
    return x, y, f, p, sw / sw.sum()


def _to_jax(x, y):
    return jnp.asarray(x.transpose(0, 2, 3, 1)), jnp.asarray(y[:, 0])


def test_joint_gauss_newton_iterates_agree_float64(torch):
    from tests.parity import torch_optim as T

    x, y, f, p, sw = _problem(np.float64)
    tx, ty, tsw = torch.tensor(x), torch.tensor(y), torch.tensor(sw)
    res = lambda w: T.factorized_residuals(w, tx, ty, tsw)
    (tf, tp), tlosses = T.gauss_newton_cg(res, [torch.tensor(f), torch.tensor(p)], 3, 4, precond_diag=[0.1, 1e-4])
    assert tlosses[-1] < 0.5 * tlosses[0]
    with jax.enable_x64(True):
        jx, jy = _to_jax(x, y)
        for operator in solvers.OPERATORS:
            w, stats = jax.jit(lambda w: C.fit_joint(w, jx, jy, jnp.asarray(sw), num_gn=3, num_cg=4, operator=operator))(
                C.weights_from_pytracking(f, p)
            )
            np.testing.assert_allclose(stats.loss, tlosses, rtol=1e-9, err_msg=operator)
            np.testing.assert_allclose(w["filter"], tf.numpy().transpose(2, 3, 1, 0), rtol=1e-7, atol=1e-12)
            np.testing.assert_allclose(w["projection"], tp.numpy().transpose(2, 3, 1, 0), rtol=1e-7, atol=1e-12)


def test_filter_update_with_carried_direction_agrees_float64(torch):
    """pytracking's update: ConjugateGradient on ConvProblem, Polak-Ribiere, direction carried over 3 calls."""
    from tests.parity import torch_optim as T

    x, y, f, p, sw = _problem(np.float64, seed=1)
    z = np.einsum("nchw,oc->nohw", x, p[:, :, 0, 0])
    tz, ty, tsw = torch.tensor(z), torch.tensor(y), torch.tensor(sw)
    mem = T.CGMemory()
    tfilt = [torch.tensor(f)]
    with jax.enable_x64(True):
        jz, jy = _to_jax(z, y)
        fit = jax.jit(lambda fl, st: C.fit_filter(fl, jz, jy, jnp.asarray(sw), st, num_cg=3, forget_factor=0.6, final_stats=True))
        jf, state = jnp.asarray(f.transpose(2, 3, 1, 0)), solvers.cg_init_state(jnp.asarray(f.transpose(2, 3, 1, 0)))
        for _ in range(3):
            tfilt, tl = T.gauss_newton_cg(lambda w: T.filter_residuals(w, tz, ty, tsw), tfilt, 1, 3,
                                          fletcher_reeves=False, forget_factor=0.6, mem=mem)
            jf, state, stats = fit(jf, state)
            np.testing.assert_allclose(stats.loss, tl, rtol=1e-9)
            np.testing.assert_allclose(jf, tfilt[0].numpy().transpose(2, 3, 1, 0), rtol=1e-7, atol=1e-12)
        assert float(stats.beta[0, 0]) > 0  # the first beta of a later call uses the carried direction


def test_joint_iterates_agree_float32_and_gradient_descent(torch):
    from tests.parity import torch_optim as T

    x, y, f, p, sw = _problem(np.float32, seed=2)
    tx, ty, tsw = torch.tensor(x), torch.tensor(y), torch.tensor(sw)
    res = lambda w: T.factorized_residuals(w, tx, ty, tsw)
    (tf, tp), tlosses = T.gauss_newton_cg(res, [torch.tensor(f), torch.tensor(p)], 1, 5, precond_diag=[0.1, 1e-4])
    jx, jy = _to_jax(x, y)
    w0 = C.weights_from_pytracking(f, p)
    w, stats = jax.jit(lambda w: C.fit_joint(w, jx, jy, jnp.asarray(sw), num_gn=1, num_cg=5))(w0)
    # float32 on both sides with different summation orders; 5 CG iterations amplify rounding a little.
    np.testing.assert_allclose(stats.loss, tlosses, rtol=1e-4)
    np.testing.assert_allclose(w["filter"], tf.numpy().transpose(2, 3, 1, 0), rtol=2e-3, atol=1e-5)

    (gf, gp), glosses = T.gradient_descent(res, [torch.tensor(f), torch.tensor(p)], 6, 2e-3, momentum=0.9)
    rf = lambda wts: C.joint_residuals(wts, jx, jy, jnp.asarray(sw))
    wg, gstats = jax.jit(lambda w: solvers.gradient_descent(rf, w, num_iter=6, step_length=2e-3, momentum=0.9))(w0)
    np.testing.assert_allclose(gstats.loss, glosses, rtol=1e-4)
    np.testing.assert_allclose(wg["projection"], gp.numpy().transpose(2, 3, 1, 0), rtol=1e-3, atol=1e-6)
