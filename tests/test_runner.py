"""Runner: results format, resume after a killed run, batched = sequential, several runs, CLI, submissions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import cv2
import numpy as np
import pytest

from atom_jax import cli
from atom_jax.data.registry import load_dataset
from atom_jax.errors import InputError
from track import baselines, results, runner, scoring


def _make_dataset(root, n_seqs=6, n_frames=12):
    """Generic-layout sequences of a bright square moving right on a textured background."""
    rng = np.random.default_rng(0)
    for s in range(n_seqs):
        d = root / f"seq{s}"
        (d / "img").mkdir(parents=True)
        background = rng.integers(0, 80, (72, 96, 3), dtype=np.uint8)
        rows = []
        for i in range(n_frames):
            img = background.copy()
            x, y = 10 + 2 * i + s, 20 + s
            img[y:y + 24, x:x + 20] = (250, 200, 40)
            img[y + 8:y + 16, x + 6:x + 14] = (30, 60, 200)
            cv2.imwrite(str(d / "img" / f"{i + 1:04d}.png"), img)
            rows.append(f"{x},{y},20,24")
        (d / "groundtruth_rect.txt").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def dataset(tmp_path):
    return _make_dataset(tmp_path / "data")


def _snapshot(folder):
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.glob("*.txt")}


def test_results_round_trip_and_format(tmp_path):
    boxes = np.array([[1.5, 2.25, 3, 4], [5, 6, 7, 8.125]])
    results.write_sequence_result(tmp_path, "s", boxes, np.array([0.5, 0.25]))
    assert (tmp_path / "s.txt").read_text() == "1.50\t2.25\t3.00\t4.00\n5.00\t6.00\t7.00\t8.12\n"
    np.testing.assert_allclose(results.read_boxes(tmp_path, "s"), np.round(boxes, 2))
    np.testing.assert_allclose(results.read_times(tmp_path, "s"), [0.5, 0.25])
    assert results.run_folders(tmp_path) == [tmp_path]


def test_eval_writes_every_sequence_and_resumes(dataset, tmp_path):
    seqs = load_dataset("generic", dataset)
    out = tmp_path / "res"
    first = runner.evaluate(seqs[:2], "kcf", out, progress=False)
    assert len(first.finished) == 2
    before = _snapshot(out)
    second = runner.evaluate(seqs, "kcf", out, progress=False)
    assert len(second.skipped) == 2 and len(second.finished) == 4 and not second.failed
    after = _snapshot(out)
    assert all(after[k] == v for k, v in before.items())  # finished sequences untouched
    for seq in seqs:
        boxes = results.read_boxes(out, seq.name)
        assert boxes.shape == (len(seq), 4)
        np.testing.assert_array_equal(boxes[0], seq.init_box_xywh)
    summary = scoring.score_results(seqs, out)
    assert summary["overall"]["AUC"] > 50  # KCF follows an unoccluded, high-contrast square


def test_killed_run_resumes_without_losing_or_redoing(dataset, tmp_path):
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "atom_jax.cli", "eval", "--dataset", "generic", "--root", str(dataset),
           "--tracker", "static", "--set", "delay_s=0.03", "--results", str(out), "--no-progress", "--no-score"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while len(list(out.glob("seq*_time.txt"))) < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up: only atomic writes protect the results
    finally:
        proc.wait()
    finished = {p.stem for p in out.glob("seq?.txt")}
    assert 1 <= len(finished) < 6, "the run should have been killed part-way"
    before = _snapshot(out)
    for name in finished:  # every finished file is complete
        assert results.read_boxes(out, name).shape == (12, 4)

    seqs = load_dataset("generic", dataset)
    report = runner.evaluate(seqs, "static", out, progress=False)
    assert sorted(s.split("/")[1] for s in report.skipped) == sorted(finished)
    assert sorted(s.split("/")[1] for s in report.finished) == sorted({s.name for s in seqs} - finished)
    after = _snapshot(out)
    assert all(after[k] == before[k] for k in before if k[:-4] in finished or k[:-9] in finished)
    assert {p.stem for p in out.glob("seq?.txt")} == {s.name for s in seqs}


def test_batched_equals_sequential_and_runs_merge(dataset, tmp_path):
    seqs = load_dataset("generic", dataset)
    runner.evaluate(seqs, "kcf", tmp_path / "one", progress=False)
    runner.evaluate(seqs, "kcf", tmp_path / "three", batch=3, progress=False)
    for seq in seqs:
        np.testing.assert_array_equal(results.read_boxes(tmp_path / "one", seq.name),
                                      results.read_boxes(tmp_path / "three", seq.name))
    rep = runner.evaluate(seqs[:3], "static", tmp_path / "runs", runs=2, batch=2, progress=False)
    assert len(rep.finished) == 6
    assert [p.name for p in results.run_folders(tmp_path / "runs")] == ["run_000", "run_001"]
    summary = scoring.score_results(seqs[:3], tmp_path / "runs")
    assert summary["runs"] == ["run_000", "run_001"] and summary["std_over_runs"]["AUC"] == 0.0
    single = scoring.score_results(seqs[:3], tmp_path / "runs" / "run_000")
    assert summary["overall"] == pytest.approx(single["overall"])


def test_cli_eval_score_compare(dataset, tmp_path, capsys):
    common = ["--dataset", "generic", "--root", str(dataset), "--no-progress"]
    assert cli.main(["eval", *common, "--tracker", "kcf", "--results", str(tmp_path / "kcf")]) == 0
    assert cli.main(["eval", *common, "--tracker", "static", "--results", str(tmp_path / "static")]) == 0
    assert "already done 6" in (capsys.readouterr().out if cli.main(
        ["eval", *common, "--tracker", "kcf", "--results", str(tmp_path / "kcf")]) == 0 else "")
    assert cli.main(["score", "--dataset", "generic", "--root", str(dataset), "--results", str(tmp_path / "kcf"),
                     "--json", str(tmp_path / "s.json"), "--plot", str(tmp_path / "plots")]) == 0
    data = json.loads((tmp_path / "s.json").read_text())["kcf"]
    assert set(data["per_sequence"]) == {f"seq{i}" for i in range(6)} and len(data["curves"]["success"]) == 21
    for kind in ("success", "precision"):
        assert (tmp_path / "plots" / f"{kind}_plot.png").stat().st_size > 1000
        assert (tmp_path / "plots" / f"{kind}_plot.pdf").stat().st_size > 1000
    capsys.readouterr()
    assert cli.main(["compare", f"KCF={tmp_path / 'kcf'}", str(tmp_path / "static"), "--dataset", "generic",
                     "--root", str(dataset), "--markdown"]) == 0
    text = capsys.readouterr().out
    assert "| KCF |" in text and "| static |" in text and "seq5" in text


def test_cli_errors_are_one_line(dataset, tmp_path, capsys):
    assert cli.main(["score", "--dataset", "generic", "--root", str(dataset), "--results", str(tmp_path)]) == 2
    assert "result not found" in capsys.readouterr().err
    with pytest.raises(InputError, match="name=value"):
        runner.parse_overrides(["novalue"])
    assert runner.parse_overrides(["a=1", " b = x "]) == {"a": "1", "b": "x"}
    with pytest.raises(InputError, match="takes no --set"):
        baselines.make_tracker("kcf", overrides={"x": "1"})


def test_atom_without_api_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "track.api", None)  # as if track/api.py were absent
    with pytest.raises(InputError, match="track/api.py"):
        baselines.make_tracker("atom", "w.npz")


def test_several_trackers_in_one_command(dataset, tmp_path, capsys):
    args = ["eval", "--dataset", "generic", "--root", str(dataset), "--no-progress", "--sequences", "seq0,seq1",
            "--tracker", "kcf,static", "--results", str(tmp_path / "all"), "--markdown"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "| kcf |" in out and "| static |" in out
    assert results.is_finished(tmp_path / "all" / "kcf", "seq1")
    assert results.is_finished(tmp_path / "all" / "static", "seq0")
    assert cli.main(args[:-1] + ["--tracker", "kcf,nope"]) == 2
    assert "unknown tracker 'nope'" in capsys.readouterr().err


def test_submission_packs(dataset, tmp_path):
    seqs = load_dataset("generic", dataset)[:2]
    runner.evaluate(seqs, "static", tmp_path / "res", runs=2, progress=False)
    got = results.pack_got10k(tmp_path / "res", tmp_path / "got", seqs)
    with zipfile.ZipFile(got) as zf:
        names = sorted(zf.namelist())
        assert names == ["seq0/seq0_001.txt", "seq0/seq0_002.txt", "seq0/seq0_time.txt",
                         "seq1/seq1_001.txt", "seq1/seq1_002.txt", "seq1/seq1_time.txt"]
        first = zf.read("seq0/seq0_001.txt").decode().splitlines()
    assert len(first) == 12 and first[0] == ",".join("%.4f" % v for v in seqs[0].init_box_xywh)
    tn = results.pack_trackingnet(tmp_path / "res", tmp_path / "tn", seqs)
    with zipfile.ZipFile(tn) as zf:
        assert sorted(zf.namelist()) == ["seq0.txt", "seq1.txt"]
