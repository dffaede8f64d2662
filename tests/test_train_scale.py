"""Training across processes and devices, and resumption after ``kill -9``: each test runs subprocesses.

They share the session's persistent JAX compilation cache (``tests/conftest.py``), so that the programs are
compiled once per test session.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# 12 steps of 4 pairs, a checkpoint every 2 steps, no validation (it would only add compile time). A small
# learning rate: Adam moves every weight by ~lr per step even where the gradient is rounding noise (biases
# feeding a BatchNorm), which at 1e-3 makes runs that differ only in reduction order drift apart chaotically.
TINY = ["--config", "tiny", "--set", "steps_per_epoch=4", "--set", "num_epochs=3", "--set", "val_steps=0",
        "--set", "learning_rate=1e-5", "--no-progress"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env():
    e = dict(os.environ, PYTHONPATH=str(REPO))  # with the session's compilation cache (tests/conftest.py)
    e.pop("XLA_FLAGS", None)
    return e


def _train(workdir, env, extra=(), **kw):
    cmd = [sys.executable, "-m", "atom_jax.cli", "train", *TINY, "--workdir", str(workdir), *extra]
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def _weights(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files if k != "__header__"}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, env):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    proc = _train(workdir, env)
    out = proc.communicate(timeout=900)[0].decode()
    assert proc.returncode == 0, out
    return workdir


def test_kill_9_then_resume_reaches_the_same_parameters(tmp_path, env, uninterrupted):
    proc = _train(tmp_path, env)
    metrics = tmp_path / "metrics.jsonl"
    deadline = time.time() + 900
    # Kill once a checkpoint exists and training has gone past it.
    while time.time() < deadline and proc.poll() is None:
        ckpts = [p for p in (tmp_path / "checkpoints").glob("[0-9]*")] if (tmp_path / "checkpoints").exists() else []
        steps = [json.loads(ln)["step"] for ln in metrics.read_text().splitlines()] if metrics.exists() else []
        if ckpts and steps and max(steps) >= 5:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed: " + proc.communicate()[0].decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(json.loads(ln)["step"] for ln in metrics.read_text().splitlines())
    assert killed_at < 12 and not (tmp_path / "weights.npz").exists()

    proc = _train(tmp_path, env)
    out = proc.communicate(timeout=900)[0].decode()
    assert proc.returncode == 0, out
    a, b = _weights(uninterrupted / "weights.npz"), _weights(tmp_path / "weights.npz")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    steps = [json.loads(ln)["step"] for ln in metrics.read_text().splitlines()]
    assert steps == list(range(1, 13))  # lines of the killed run past its checkpoint were dropped


def test_two_devices_equal_one(env):
    """With two host devices, a sharded step gives the same loss and update as on one device."""
    script = textwrap.dedent("""
        import jax, numpy as np
        from train import train as T, pipeline, loop
        from train.configs import load_config, resolve_data
        assert jax.device_count() == 2
        cfg = resolve_data(load_config("tiny"))
        batch = next(pipeline.batches(loop._spec(cfg, "train"), [0], cfg["batch_size"]))[1]
        out = []
        for devices in ([jax.devices()[0]], jax.devices()):
            mesh = T.data_mesh(devices)
            state = T.replicate(T.init_state(cfg), mesh)
            state, m = T.make_train_step(cfg)(state, T.shard_batch(batch, mesh, cfg["batch_size"]))
            leaves = jax.tree_util.tree_leaves(state["weights"]["iou_net"])
            out.append((float(m["loss"]), [np.asarray(x) for x in leaves]))
        (l1, p1), (l2, p2) = out
        assert abs(l1 - l2) <= 1e-5 * abs(l1), (l1, l2)
        worst = max(float(np.abs(a - b).max()) for a, b in zip(p1, p2))
        print("LOSS", l1, l2, "MAXDIFF", worst)
        # Adam's first step moves each weight by ~lr; only reduction order differs (float32 rounding), except
        # where the gradient is rounding noise (biases before BatchNorm) and its sign may flip: <= 2 lr.
        assert worst <= 2.1e-3
    """)
    e = dict(env, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    res = subprocess.run([sys.executable, "-c", script], env=e, cwd=REPO, capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "LOSS" in res.stdout


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_train_together(tmp_path, env, uninterrupted):
    """jax.distributed on localhost: two processes, each making half of every batch, equal one process."""
    port = _free_port()
    procs = [_train(tmp_path, env, ["--coordinator", f"localhost:{port}", "--num-processes", "2",
                                    "--process-id", str(i)]) for i in range(2)]
    outs = [p.communicate(timeout=900)[0].decode() for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out
    # Same losses at every step and same weights: the global batch is the same, only the reduction order differs.
    loss = lambda d: [json.loads(ln)["loss"] for ln in (d / "metrics.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(loss(tmp_path), loss(uninterrupted), rtol=1e-4)
    a, b = _weights(uninterrupted / "weights.npz"), _weights(tmp_path / "weights.npz")
    assert a.keys() == b.keys()
    for k in a:
        # atol: where the true gradient is zero (biases feeding a BatchNorm), Adam steps +-lr on rounding noise,
        # so those weights may differ by a few lr (1e-5) after 12 steps; everything else agrees far closer.
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-4, err_msg=k)
