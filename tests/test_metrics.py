"""Metrics: hand-computed cases, pytracking's rules for invalid frames, equality with the got10k toolkit."""

from __future__ import annotations

import numpy as np
import pytest

from atom_jax.errors import InputError
from track import metrics


def test_thresholds_are_the_standard_grids():
    assert len(metrics.OVERLAP_THRESHOLDS) == 21 and metrics.OVERLAP_THRESHOLDS[10] == 0.5
    assert metrics.OVERLAP_THRESHOLDS[15] == 0.75 and metrics.OVERLAP_THRESHOLDS[-1] == 1.0
    assert metrics.CENTER_THRESHOLDS[20] == 20 and len(metrics.CENTER_THRESHOLDS) == 51
    assert metrics.NORM_CENTER_THRESHOLDS[20] == pytest.approx(0.2)


def test_iou_and_center_error_hand_computed():
    gt = np.array([[10.0, 10, 10, 10], [10, 10, 10, 10], [10, 10, 10, 10]])
    pred = np.array([[0.0, 0, 1, 1], [15, 10, 10, 10], [30, 30, 4, 4]])
    e = metrics.frame_errors(pred, gt)
    # frame 0 is replaced by the ground truth; frame 1 overlaps 5x10 of a 150 union; frame 2 is disjoint
    np.testing.assert_allclose(e.iou, [1.0, 50 / 150, 0.0])
    # centers x + (w - 1) / 2: (14.5, 14.5) vs (19.5, 14.5) and (31.5, 31.5)
    np.testing.assert_allclose(e.center_error, [0.0, 5.0, np.hypot(17, 17)])
    # normalized: centers divided by the ground-truth size (10, 10) before the distance
    np.testing.assert_allclose(e.norm_center_error, [0.0, 0.5, np.hypot(1.7, 1.7)])
    c = metrics.sequence_curves(e)
    expected_success = np.array([(np.array([1.0, 1 / 3, 0]) > t).mean() for t in np.linspace(0, 1, 21)])
    np.testing.assert_allclose(c.success, expected_success)
    assert c.precision[0] == pytest.approx(1 / 3) and c.precision[5] == pytest.approx(2 / 3)
    assert c.precision[24] == pytest.approx(2 / 3) and c.precision[25] == pytest.approx(1.0)  # 24.04 px
    assert c.average_overlap == pytest.approx((1 + 1 / 3) / 3)
    s = metrics.scalars(c)
    assert s["AUC"] == pytest.approx(100 * expected_success.mean())
    assert s["OP50"] == pytest.approx(100 / 3) and s["OP75"] == pytest.approx(100 / 3)
    assert s["Precision"] == pytest.approx(200 / 3)
    # normalized errors 0, 0.5, 2.4: precise at t = 0.2 only the first; the area counts t >= 0.5 twice
    assert s["NormPrecision"] == pytest.approx(100 / 3)
    assert s["NormPrecisionAUC"] == pytest.approx(100 * (51 + 1) / (3 * 51))


def test_success_is_strictly_greater_than_threshold():
    gt = np.array([[1.0, 1, 10, 10]] * 2)
    pred = np.array([[1.0, 1, 10, 10], [1, 1, 5, 10]])  # IoU exactly 0.5 in frame 1
    c = metrics.sequence_curves(metrics.frame_errors(pred, gt))
    assert c.success[9] == 1.0 and c.success[10] == 0.5


def test_invalid_frames_follow_pytracking():
    gt = np.array([[5.0, 5, 10, 10], [0, 5, 10, 10], [np.nan] * 4, [5, 5, 10, 10], [5, 5, 10, 10]])
    pred = np.array([[5.0, 5, 10, 10]] * 5)
    e = metrics.frame_errors(pred, gt)
    # a ground truth with a coordinate <= 0 or NaN is invalid: IoU -1, center error inf, normalized -1
    np.testing.assert_array_equal(e.valid, [True, False, False, True, True])
    np.testing.assert_array_equal(e.iou[1:3], [-1, -1])
    assert np.isinf(e.center_error[1:3]).all() and (e.norm_center_error[1:3] == -1).all()
    c = metrics.sequence_curves(e)
    assert c.success[0] == pytest.approx(3 / 5)  # invalid frames still count in the denominator
    assert c.norm_precision[0] == pytest.approx(1.0)  # ... and count as normalized-precise, as in pytracking
    # UAV123: invalid center errors are -1, i.e. precise
    assert metrics.sequence_curves(metrics.frame_errors(pred, gt, "uav")).precision[0] == 1.0
    # LaSOT: invisible frames are never precise, normalized or not
    visible = np.array([True, True, True, False, True])
    e = metrics.frame_errors(pred, gt, "lasot", visible)
    assert not e.valid[3] and np.isinf(e.center_error[3]) and np.isinf(e.norm_center_error[3])
    assert metrics.sequence_curves(e, exclude_invalid_frames=True).success[0] == 1.0


def test_prediction_clean_up():
    gt = np.array([[1.0, 1, 4, 4]] * 4)
    pred = np.array([[9.0, 9, 1, 1], [2, 2, 4, 4], [7, 7, 0, 3]])
    fixed = metrics.prepare_prediction(pred, gt)
    np.testing.assert_array_equal(fixed, [[1, 1, 4, 4], [2, 2, 4, 4], [2, 2, 4, 4], [0, 0, 0, 0]])
    np.testing.assert_array_equal(metrics.prepare_prediction(np.ones((6, 4)), gt).shape, (4, 4))
    with pytest.raises(InputError, match="res.txt"):
        metrics.prepare_prediction([[1, 1, -1, 2]], gt, source="res.txt")
    with pytest.raises(InputError):
        metrics.prepare_prediction([[np.nan, 1, 1, 2]], gt)


def test_mean_curves_average_sequences_equally():
    a = metrics.SequenceCurves(np.ones(21), np.ones(51), np.ones(51), 1.0)
    b = metrics.SequenceCurves(np.zeros(21), np.zeros(51), np.zeros(51), 0.0)
    s = metrics.summarize({"a": a, "b": b})
    assert s["overall"]["AUC"] == 50.0 and s["num_sequences"] == 2
    assert s["per_sequence"]["a"]["Precision"] == 100.0


def _random_track(gt, rng):
    noise = rng.normal(scale=0.25, size=gt.shape) * np.concatenate([gt[:, 2:], gt[:, 2:]], axis=1)
    pred = gt + noise
    pred[:, 2:] = np.maximum(pred[:, 2:], 1.0)
    return pred


def _got10k_curves(pred, gt):
    from got10k.experiments.otb import ExperimentOTB
    from got10k.utils.metrics import center_error, rect_iou

    pred = pred.copy()
    pred[0] = gt[0]  # as got10k's OTB report does
    exp = ExperimentOTB.__new__(ExperimentOTB)  # no dataset download: only its curve function is used
    exp.nbins_iou, exp.nbins_ce = 21, 51
    return exp._calc_curves(rect_iou(pred, gt.copy()), center_error(pred, gt))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_got10k_toolkit_on_random_tracks(seed):
    pytest.importorskip("got10k")
    rng = np.random.default_rng(seed)
    n = 300
    gt = np.concatenate([rng.uniform(1, 300, (n, 2)), rng.uniform(5, 80, (n, 2))], axis=1)
    pred = _random_track(gt, rng)
    ours = metrics.sequence_curves(metrics.frame_errors(pred, gt))
    succ, prec = _got10k_curves(pred, gt)
    # got10k adds eps = 2.2e-16 to the union; a tie with a threshold would need an IoU within 1e-15 of it
    np.testing.assert_allclose(ours.success, succ, atol=1e-12)
    np.testing.assert_allclose(ours.precision, prec, atol=1e-12)


def test_equals_got10k_toolkit_on_real_annotations(sequences_dir):
    pytest.importorskip("got10k")
    from atom_jax.data.folders import generic

    rng = np.random.default_rng(7)
    for seq in generic(sequences_dir):
        gt = seq.ground_truth_xywh
        pred = _random_track(gt, rng)
        ours = metrics.sequence_curves(metrics.frame_errors(pred, gt))
        succ, prec = _got10k_curves(pred, gt)
        np.testing.assert_allclose(ours.success, succ, atol=1e-12, err_msg=seq.name)
        np.testing.assert_allclose(ours.precision, prec, atol=1e-12, err_msg=seq.name)
