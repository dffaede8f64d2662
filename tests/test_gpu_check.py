"""``benchmarks/gpu_check.sh --cpu``: the CPU form of the GPU check, which CI runs (marker ``gpu_check_cpu``), so
the script that a lent GPU machine runs once is known to work before the machine is there: every stage passes
and writes the JSON the README's GPU table is read from."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.gpu_check_cpu
def test_gpu_check_cpu_form_writes_its_json(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHON=sys.executable)  # the interpreter running the tests
    env.pop("XLA_FLAGS", None)
    res = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--cpu", "--out", str(tmp_path)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["form"] == "cpu" and summary["backend"] == "cpu" and summary["passed"]
    assert list(summary["stages"]) == ["tests", "bench_eval_scale", "bench_train"]
    assert summary["frames_per_second_by_batch"]["1"] > 0 and summary["train_pairs_per_second"] > 0
    tests = json.loads((tmp_path / "tests.json").read_text())
    assert tests["counts"]["passed"] == len(tests["tests"]) >= 1
    scale = json.loads((tmp_path / "bench_eval_scale.json").read_text())
    assert [(r["devices"], r["batch"]) for r in scale["rows"]] == [(1, 1)]
    assert 0 < scale["rows"][0]["step_ms"] <= scale["rows"][0]["loop_ms"]
    env_info = json.loads((tmp_path / "environment.json").read_text())
    assert env_info["dependencies"]["jax"] and env_info["devices"]
