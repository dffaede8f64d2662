"""The got10k toolkit runs our trackers through the adapter, and its OTB report equals our scores."""

from __future__ import annotations

import numpy as np
import pytest

from atom_jax.data.registry import load_dataset
from track import results, scoring

got10k = pytest.importorskip("got10k", reason="the got10k toolkit is not installed (pip install got10k six)")


class _Dataset:
    """The two things got10k's experiments use of a dataset: ``seq_names`` and ``(img_files, anno)`` items."""

    def __init__(self, sequences):
        self.sequences = sequences
        self.seq_names = [s.name for s in sequences]

    def __len__(self):
        return len(self.sequences)

    def __getitem__(self, index):
        seq = self.sequences[index]
        return list(seq.frames), seq.ground_truth_xywh.copy()


def _otb_experiment(sequences, tmp_path):
    from got10k.experiments.otb import ExperimentOTB

    exp = ExperimentOTB.__new__(ExperimentOTB)  # its constructor downloads OTB; set what run/report use
    exp.dataset = _Dataset(sequences)
    exp.result_dir = str(tmp_path / "results")
    exp.report_dir = str(tmp_path / "reports")
    exp.nbins_iou, exp.nbins_ce = 21, 51
    return exp


def test_got10k_runs_adapter_and_its_report_equals_our_scores(sequences_dir, tmp_path):
    from track.got10k_adapter import Got10kTracker

    seqs = [s for s in load_dataset("otb", sequences_dir) if s.name in ("Crossing", "Football1")]
    exp = _otb_experiment(seqs, tmp_path)
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
