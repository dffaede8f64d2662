"""``atom-jax demo`` end to end on a short sequence (slow: it compiles the tracker)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from atom_jax.cli import main


def test_missing_weights_is_a_one_line_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--weights", str(tmp_path / "none.npz"), "--frames", "3"]) == 2
    err = capsys.readouterr().err
    assert "weights file not found" in err and "Traceback" not in err


@pytest.mark.xdist_group("builtin_tracker")
@pytest.mark.slow
def test_demo_writes_everything(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--frames", "6"]) == 0
    out = capsys.readouterr().out
    assert "AUC" in out and "FPS" in out
    for name in ("demo.mp4", "success_plot.png", "boxes_atom.txt", "boxes_csrt.txt", "summary.json",
                 "sequence/groundtruth_rect.txt", "sequence/img/0006.jpg"):
        assert (tmp_path / name).is_file(), name
    boxes = np.loadtxt(tmp_path / "boxes_atom.txt", delimiter=",")
    gt = np.loadtxt(tmp_path / "sequence" / "groundtruth_rect.txt", delimiter=",")
    assert boxes.shape == gt.shape == (6, 4)
    np.testing.assert_allclose(boxes[0], gt[0], atol=0.01)  # frame 1 is the initial box
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert 0 <= summary["trackers"]["ATOM (demo weights)"]["AUC"] <= 100
