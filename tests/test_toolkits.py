"""The got10k toolkit runs our trackers through the adapter over our datasets (no download), its OTB report equals
our scores, and its VOT experiment makes the trajectories of our reset-based protocol."""

from __future__ import annotations

import numpy as np
import pytest

from atom_jax.data.folders import polygon_to_xywh
from atom_jax.data.registry import load_dataset
from atom_jax.errors import InputError
from track import baselines, results, scoring

got10k = pytest.importorskip("got10k", reason="the got10k toolkit is not installed (pip install got10k six)")


def test_got10k_runs_adapter_and_its_report_equals_our_scores(sequences_dir, tmp_path):
    from track.got10k_adapter import Got10kTracker, otb_experiment

    seqs = [s for s in load_dataset("otb", sequences_dir) if s.name in ("Crossing", "Football1")]
    exp = otb_experiment(seqs, tmp_path / "results", tmp_path / "reports")  # no download
    tracker = Got10kTracker("kcf")
    exp.run(tracker)
    report = exp.report([tracker.name])[tracker.name]

    # the toolkit's record files (comma-separated) are a results folder our scorer reads as they are
    ours = scoring.score_results(seqs, tmp_path / "results" / tracker.name)
    for seq in seqs:
        theirs = report["seq_wise"][seq.name]
        mine = ours["per_sequence"][seq.name]
        assert mine["AUC"] == pytest.approx(100 * theirs["success_score"], abs=1e-9)
        assert mine["Precision"] == pytest.approx(100 * theirs["precision_score"], abs=1e-9)
        assert mine["OP50"] == pytest.approx(100 * theirs["success_rate"], abs=1e-9)
    assert ours["overall"]["AUC"] == pytest.approx(100 * report["overall"]["success_score"], abs=1e-9)
    np.testing.assert_allclose(ours["curves"]["success"], 100 * np.array(report["overall"]["success_curve"]),
                               atol=1e-9)

    # the adapter gives the same boxes as our own runner with the same deterministic tracker
    from track import runner

    runner.evaluate(seqs, "kcf", tmp_path / "ours", progress=False)
    for seq in seqs:
        toolkit_boxes = results.read_boxes(tmp_path / "results" / tracker.name, seq.name)
        np.testing.assert_allclose(toolkit_boxes, results.read_boxes(tmp_path / "ours", seq.name), atol=0.01)


def test_got10k_vot_experiment_over_local_sequences(sequences_dir, tmp_path):
    """The toolkit's supervised VOT experiment on a polygon sequence and an OTB one, and ours with its choices
    (area-preserving initial box, exact overlap): the same trajectories."""
    from track import vot_protocol
    from track.got10k_adapter import Got10kTracker, vot_experiment

    seqs = load_dataset("generic", sequences_dir, ["vot15_ball1", "Crossing"])
    exp = vot_experiment(seqs, tmp_path / "results", tmp_path / "reports", experiments="supervised")
    tracker = Got10kTracker("kcf")
    exp.run(tracker)
    performance = exp.report([tracker.name])[tracker.name]
    assert 0 < performance["accuracy"] <= 1 and performance["robustness"] >= 0

    for seq in seqs:
        regions = seq.regions if seq.regions is not None else seq.ground_truth_xywh
        kinds, boxes, _ = vot_protocol.run_supervised(
            lambda: baselines.make_tracker("kcf"), seq.frames, regions, overlap="exact",
            init_box_fn=lambda r: polygon_to_xywh(np.asarray(r, dtype=np.float64)[None], "preserve_area")[0])
        record = tmp_path / "results" / tracker.name / "baseline" / seq.name / f"{seq.name}_001.txt"
        theirs_kinds, theirs_boxes = vot_protocol.parse_trajectory(record.read_text())
        np.testing.assert_array_equal(theirs_kinds, kinds)
        np.testing.assert_allclose(theirs_boxes[kinds == 3], boxes[kinds == 3], atol=1e-4)
    with pytest.raises(InputError, match="unknown VOT experiment baseline"):
        vot_experiment(seqs, experiments="baseline")
