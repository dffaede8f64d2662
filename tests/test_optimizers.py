"""Tests of atom_jax.optimizers: the tracker's update statistics against a float64 NumPy reference, the optax
and user-function optimizers against NumPy loops, and a user function plus an optax transformation inside the
jitted step and the batched step."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from atom_jax import classifier, memory, optimizers
from atom_jax import tracker as atom
from atom_jax.config import TrackerConfig, with_overrides
from atom_jax.errors import InputError
from tests.test_tracker import SMALL, synthetic_frames

MLU = 0.05


def _np_problem(seed=0, n=3, hw=5, c=4, k=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, hw, hw, c))
    y = rng.uniform(0, 1, (n, hw, hw))
    sw = rng.uniform(0.2, 1.0, n)
    sw /= sw.sum()
    f0 = 0.1 * rng.standard_normal((k, k, c, 1))
    return x, y, sw, f0


def _np_scores(x, f):
    """pytracking's 'same' cross-correlation, own NumPy loops: pad k//2 before, (k-1)//2 after."""
    k = f.shape[0]
    n, h, w, _ = x.shape
    xp = np.pad(x, ((0, 0), (k // 2, (k - 1) // 2), (k // 2, (k - 1) // 2), (0, 0)))
    out = np.zeros((n, h, w))
    for a in range(k):
        for b in range(k):
            out += xp[:, a:a + h, b:b + w, :] @ f[a, b, :, 0]
    return out


def _np_residual_and_jacobian(x, y, sw, f, reg):
    """Residual vector and its exact Jacobian: the scores are linear in the filter, the MLU elementwise."""
    s = _np_scores(x, f)
    act = np.where(s >= 0, s, MLU * (np.exp(s / MLU) - 1))
    dact = np.where(s >= 0, 1.0, np.exp(s / MLU))
    basis = np.eye(f.size).reshape((f.size,) + f.shape)
    lin = np.stack([_np_scores(x, e).ravel() for e in basis], axis=1)  # d scores / d filter
    wsq = np.sqrt(sw)[:, None, None]
    r = np.concatenate([(wsq * (act - y)).ravel(), np.sqrt(reg) * f.ravel()])
    J = np.concatenate([(wsq * dact).ravel()[:, None] * lin, np.sqrt(reg) * np.eye(f.size)])
    return r, J


def _np_update(x, y, sw, f0, reg, num_cg):
    """One Gauss-Newton linearisation and ``num_cg`` Polak-Ribiere CG iterations from 0 (pytracking's
    filter update), with the statistics the tracker reports."""
    r0, J = _np_residual_and_jacobian(x, y, sw, f0, reg)
    A, b = J.T @ J, -J.T @ r0
    dx, r, p, rho = np.zeros_like(b), b.copy(), None, 1.0
    alphas, betas, norms = [], [], []
    r_prev = None
    for _ in range(num_cg):
        rho1, rho = rho, r @ r
        beta = 0.0 if p is None else max((rho - r_prev @ r) / rho1, 0.0)
        p = r.copy() if p is None else r + beta * p
        q = A @ p
        alpha = rho / (p @ q)
        r_prev = r
        dx, r = dx + alpha * p, r - alpha * q
        alphas.append(alpha), betas.append(beta), norms.append(np.linalg.norm(r))
    r1, _ = _np_residual_and_jacobian(x, y, sw, f0 + dx.reshape(f0.shape), reg)
    return {"loss_before": r0 @ r0, "loss_after": r1 @ r1, "grad_norm": np.linalg.norm(2 * J.T @ r0),
            "alpha": np.array(alphas), "beta": np.array(betas), "residual_norm": np.array(norms),
            "filter": f0 + dx.reshape(f0.shape)}


def _memory(x, y, sw):
    n = x.shape[0]
    i32 = jnp.int32
    return memory.SampleMemory(jnp.asarray(x), jnp.asarray(y), jnp.asarray(sw), jnp.asarray(n, i32),
                               jnp.asarray(n, i32), jnp.asarray(-1, i32))


@pytest.mark.parametrize("operator", ["jvp_vjp", "double_backprop", "linear_transpose"])
def test_update_statistics_equal_float64_numpy_reference(operator):
    """The tracker's filter update (``_fit_filter``, the default GN-CG with each ``J^T J p`` form) and its
    step statistics (``frame_stats``) against plain NumPy: exact Jacobian, pytracking's CG loop."""
    x, y, sw, f0 = _np_problem()
    config = TrackerConfig(gn_operator=operator, CG_iter=3, hard_negative_CG_iter=4)
    ref = _np_update(x, y, sw, f0, config.filter_reg, 3)
    with jax.enable_x64(True):
        opt = optimizers.for_problem(config, first_frame=False, num_cg=3)
        filt, _, stats = atom._fit_filter(config, jnp.asarray(f0), _memory(x, y, sw), opt.init(jnp.asarray(f0)), 3)
        frame = optimizers.frame_stats(stats, 4, jnp.float64)
    np.testing.assert_allclose(filt, ref["filter"], rtol=1e-9)
    for key in ("loss_before", "loss_after", "grad_norm"):
        np.testing.assert_allclose(frame[key], ref[key], rtol=1e-9, err_msg=key)
    for key, name in (("alpha", "cg_alpha"), ("beta", "cg_beta"), ("residual_norm", "cg_residual_norm")):
        np.testing.assert_allclose(frame[name][:3], ref[key], rtol=1e-8, atol=1e-14, err_msg=name)
        assert np.isnan(frame[name][3])  # padded to the longer (hard-negative) update
    assert ref["loss_after"] < ref["loss_before"] and ref["beta"][1] > 0
    assert float(frame["backprops"]) == 1 + 2 * 3
    record = optimizers.log_record(7, 1, jax.tree_util.tree_map(np.asarray, frame))
    assert record["frame"] == 7 and len(record["cg_alpha"]) == 3
    assert optimizers.log_record(8, 0, record) == {"frame": 8, "update": 0}


def test_first_frame_statistics_are_fit_joints():
    """init's first-frame statistics come from the same Gauss-Newton run as ``classifier.fit_joint`` (whose
    parity with pytracking is tested in tests/parity)."""
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((3, 5, 5, 6)), jnp.float32)
    y = jnp.asarray(rng.uniform(0, 1, (3, 5, 5)), jnp.float32)
    sw = jnp.full((3,), 1 / 3, jnp.float32)
    w0 = {"filter": jnp.asarray(0.1 * rng.standard_normal((2, 2, 4, 1)), jnp.float32),
          "projection": jnp.asarray(0.3 * rng.standard_normal((1, 1, 6, 4)), jnp.float32)}
    config = TrackerConfig(init_GN_iter=2, init_CG_iter=6)
    w, stats = atom._fit_joint(config, w0, x, y, sw)
    w_ref, ref = classifier.fit_joint(w0, x, y, sw, num_gn=2, num_cg=3)
    for a, b in zip(jax.tree_util.tree_leaves(w), jax.tree_util.tree_leaves(w_ref)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(stats.loss, ref.loss, rtol=1e-6)
    np.testing.assert_allclose(stats.alpha, ref.alpha, rtol=1e-5)
    assert stats.alpha.shape == (2, 3) and stats.loss.shape == (3,) and list(stats.backprops) == [7, 7]
    assert stats.loss[-1] < stats.loss[0]


def _linear_problem():
    rng = np.random.default_rng(2)
    A, y = rng.standard_normal((8, 3)), rng.standard_normal(8)
    return A, y, (lambda w: jnp.asarray(A) @ w - jnp.asarray(y))


def test_optax_sgd_is_gradient_descent_and_adam_matches_numpy():
    x, y, sw, f0 = _np_problem(seed=3)
    with jax.enable_x64(True):
        res = lambda f: classifier.filter_residuals(f, jnp.asarray(x), jnp.asarray(y), jnp.asarray(sw))
        f_gd, _, s_gd = optimizers.GradientDescentL2(6, 0.05, 0.8)(res, jnp.asarray(f0), ())
        f_sgd, _, s_sgd = optimizers.Optax(optax.sgd(0.05, momentum=0.8), 6)(res, jnp.asarray(f0), ())
        np.testing.assert_allclose(f_sgd, f_gd, rtol=1e-12)
        np.testing.assert_allclose(s_sgd.loss, s_gd.loss, rtol=1e-12)
        A, yv, lin = _linear_problem()
        w, _, s_adam = optimizers.Optax(optax.adam(0.1), 5)(lin, jnp.zeros(3), ())
    # Adam in NumPy (own loop, optax's defaults b1 0.9, b2 0.999, eps 1e-8, bias correction).
    wn, m, v, losses = np.zeros(3), np.zeros(3), np.zeros(3), []
    for t in range(1, 6):
        r = A @ wn - yv
        g = 2 * A.T @ r
        losses.append(r @ r)
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        wn = wn - 0.1 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(w, wn, rtol=1e-10)
    np.testing.assert_allclose(s_adam.loss[:-1], losses, rtol=1e-10)
    assert s_adam.alpha.shape == (5, 0) and list(s_adam.backprops) == [1] * 5


def test_optax_lbfgs_reaches_the_least_squares_solution():
    A, y, lin = _linear_problem()
    with jax.enable_x64(True):
        w, _, stats = jax.jit(lambda w0: optimizers.Optax(optax.lbfgs(), 12)(lin, w0, ()))(jnp.zeros(3))
    w_ref = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(w, w_ref, rtol=1e-7)  # the zoom line search is inexact: 12 iterations, not 3
    r = A @ w_ref - y
    np.testing.assert_allclose(stats.loss[-1], r @ r, rtol=1e-12)
    assert stats.backprops[0] == 2 and np.all(stats.backprops[1:] >= 1)  # first value + line-search evaluations


def test_config_names_and_errors():
    assert with_overrides(TrackerConfig(), {"optimizer": "optax:adam"}).optimizer == "optax:adam"
    assert with_overrides(TrackerConfig(), {"optax_learning_rate": "0.01"}).optax_learning_rate == 0.01
    with pytest.raises(InputError, match="optax has no optimizer 'nope'"):
        with_overrides(TrackerConfig(), {"optimizer": "optax:nope"})
    with pytest.raises(InputError, match="needs a learning rate"):
        with_overrides(TrackerConfig(), {"optimizer": "optax:adamw"})
    with pytest.raises(InputError, match="gn_operator"):
        with_overrides(TrackerConfig(), {"gn_operator": "hessian"})
    with pytest.raises(InputError, match="neither a function"):
        optimizers.user_optimizer(3)
    with pytest.raises(InputError, match="first_frame"):
        optimizers.user_optimizer({"update": optax.adam(1e-3)})
    wrapped = optimizers.user_optimizer(optax.adam(1e-3))
    assert hash(dataclasses.replace(SMALL, optimizer=wrapped)) == hash(dataclasses.replace(SMALL, optimizer=wrapped))


# One compiled config for the step tests: an optax transformation on the first frame, a user function
# (a Cauchy step of the Gauss-Newton model, from jax.jvp / jax.vjp) for the updates; no IoU-Net, to compile
# less (the optimizer does not interact with it).
CALLS = []


def cauchy_step(residual_fn, params, state):
    CALLS.append(1)  # at trace time
    r, vjp = jax.vjp(residual_fn, params)
    g = vjp(r)[0]  # J^T r
    jg = jax.jvp(residual_fn, (params,), (g,))[1]
    t = optimizers.solvers.tree_vdot(g, g) / optimizers.solvers.tree_vdot(jg, jg)
    return jax.tree_util.tree_map(lambda p, d: p - t * d, params, g), state, None


USER = optimizers.user_optimizer({"first_frame": optax.adam(1e-4), "update": cauchy_step})


@pytest.fixture(scope="module")
def user_config():
    return dataclasses.replace(SMALL, use_iou_net=False, optimizer=USER)


def test_user_function_and_optax_in_the_jitted_and_batched_step(weights, user_config):
    from track.api import BatchTracker, Tracker

    boxes = [(20, 30, 16, 20), (60, 50, 30, 24)]
    seqs = [synthetic_frames(4, b, seed=i) for i, b in enumerate(boxes)]
    single = Tracker(weights, user_config, seed=1, log_optimizer=True)
    single.initialize(seqs[0][0], boxes[0])
    first = single.optimizer_log[0]["optimizer"]
    assert len(first["loss"]) == SMALL.init_GN_iter + 2 * SMALL.init_CG_iter + 1  # gd_iter_factor 2
    assert first["loss"][-1] < first["loss"][0]  # Adam lowered the first-frame objective
    want, trains = [], []
    for frame in seqs[0][1:]:
        want.append(single.update(frame))
        trains.append(int(single.last_aux["train"]))
    log = single.optimizer_log
    assert [r["frame"] for r in log] == [0, 1, 2, 3] and [r["update"] for r in log[1:]] == trains
    assert trains[1] > 0  # train_skipping=2: frame 2 updates
    for r in log[1:]:
        if r["update"]:
            assert r["loss_after"] < r["loss_before"] and r["grad_norm"] > 0 and r["cg_alpha"] == []
    assert CALLS  # the user's function was traced into the step

    batch = BatchTracker(weights, user_config, seed=1, batch_size=2, update="loop", log_optimizer=True)
    for slot, (b, frames) in enumerate(zip(boxes, seqs)):
        batch.initialize(slot, frames[0], b)
    got = [batch.update([seqs[0][t], seqs[1][t]]) for t in range(1, 4)]
    np.testing.assert_allclose(np.array(got)[:, 0], np.array(want), atol=1e-3)
    blog = batch.optimizer_logs[0]
    assert [r["update"] for r in blog] == [0] + trains
    for r, s in zip(blog[1:], log[1:]):
        if r["update"]:
            np.testing.assert_allclose(r["loss_before"], s["loss_before"], rtol=1e-4)
            np.testing.assert_allclose(r["loss_after"], s["loss_after"], rtol=1e-4)


@pytest.fixture(scope="module")
def weights():
    from tests.test_tracker import random_weights

    return random_weights()


class _LoggingTracker:
    """Stands in for ATOM in the runner: the optimizer-log interface of track.api's trackers, no network."""

    def __init__(self):
        self.log_optimizer, self.optimizer_log, self.optimizer_logs = False, [], [[], []]

    def initialize(self, *args):
        slot = args[0] if len(args) == 3 else None
        log = [{"frame": 0, "update": 0}] if self.log_optimizer else []
        if slot is None:
            self.optimizer_log, self.box = log, np.asarray(args[1], float)
        else:
            self.optimizer_logs[slot] = log
            self.boxes = getattr(self, "boxes", np.zeros((2, 4)))
            self.boxes[slot] = args[2]

    def update(self, image):
        if isinstance(image, list):
            for slot, im in enumerate(image):
                if im is not None:
                    log = self.optimizer_logs[slot]
                    log.append({"frame": len(log), "update": len(log) % 2})
            return self.boxes.copy()
        self.optimizer_log.append({"frame": len(self.optimizer_log), "update": 1})
        return self.box.copy()


@pytest.mark.parametrize("batch", [1, 2])
def test_eval_optimizer_log_writes_one_record_per_frame(tmp_path, monkeypatch, batch):
    import json

    from atom_jax import cli
    from atom_jax.data.registry import load_dataset
    from track import baselines
    from tests.test_runner import _make_dataset

    root = _make_dataset(tmp_path / "data", n_seqs=3, n_frames=5)
    monkeypatch.setattr(baselines, "make_tracker", lambda *a, **k: _LoggingTracker())
    monkeypatch.setattr(baselines, "make_batch_tracker", lambda *a, **k: _LoggingTracker())
    out = tmp_path / "res"
    assert cli.main(["eval", "--dataset", "generic", "--root", str(root), "--results", str(out), "--optimizer-log",
                     "--batch", str(batch), "--no-progress", "--no-score"]) == 0
    for seq in load_dataset("generic", root):
        records = [json.loads(line) for line in (out / f"{seq.name}_optimizer.jsonl").read_text().splitlines()]
        assert [r["frame"] for r in records] == list(range(5)) and (out / f"{seq.name}.txt").is_file()
    assert cli.main(["eval", "--dataset", "generic", "--root", str(root), "--results", str(tmp_path / "r2"),
                     "--optimizer-log", "--protocol", "reset", "--no-progress"]) == 2
