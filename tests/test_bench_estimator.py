"""benchmarks/bench_estimator.py: its measures (IoU, jitter, the summary by target size) and, end to end on a
synthetic sequence, that a refinement which does nothing reports the box it started from (the patch <-> image
geometry of the tracker, including pytracking's half-pixel shift of the refined box)."""

from __future__ import annotations

import sys

import numpy as np

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import bench_estimator as E  # noqa: E402


def test_iou_and_jitter():
    np.testing.assert_allclose(E.iou_xywh([0, 0, 10, 10], [5, 0, 10, 10]), 50 / 150)
    assert E.iou_xywh([0, 0, 10, 10], [20, 20, 5, 5]) == 0.0
    rng = np.random.default_rng(0)
    boxes = np.stack([E.jitter_gt(rng, np.array([100.0, 50.0, 40.0, 10.0])) for _ in range(4000)])
    side = np.sqrt(400.0)
    centers = boxes[:, :2] + boxes[:, 2:] / 2
    np.testing.assert_allclose(centers.std(0), [0.1 * side] * 2, rtol=0.05)
    np.testing.assert_allclose(np.log(boxes[:, 2:] / [40.0, 10.0]).std(0), [0.2, 0.2], rtol=0.05)


def test_summary_by_target_size():
    rec = lambda side, before, after, top: {"side": side, "prev_before": before, "prev_after": after,
                                            "jit_before": before, "jit_after": after, "rank_top1": top,
                                            "rank_best": 0.9, "rank_mean": 0.5}
    s = E.summarize([rec(10, 0.5, 0.7, 0.8), rec(50, 0.6, 0.5, 0.6), rec(200, 0.4, 0.6, 0.9)])
    assert s["all"]["frames"] == 3 and s["small"]["frames"] == s["medium"]["frames"] == s["large"]["frames"] == 1
    np.testing.assert_allclose(s["all"]["prev_after"], 0.6)
    np.testing.assert_allclose(s["all"]["prev_improved"], 2 / 3)
    np.testing.assert_allclose(s["medium"]["rank_top1"], 0.6)
    assert "| x | small | 1 | 0.500 -> 0.700 (100 %)" in E.format_rows("x", s)


def test_a_refinement_that_does_nothing_returns_the_start_box():
    from atom_jax.data import synthetic
    from atom_jax.data.sequence import Sequence
    from track.api import prepare

    syn = synthetic.make_sequence(3, synthetic.bundled_images(),
                                  synthetic.SyntheticConfig(num_frames=4, frame_wh=(160, 120)))
    frames = [synthetic.render_frame(syn, t) for t in range(4)]
    gt = np.asarray(syn.boxes_xywh, np.float64)
    seq = Sequence("syn", "synthetic", (), gt, source=lambda t: frames[t])
    weights, config = prepare(None, {"box_refinement_iter": 0, "num_init_random_boxes": 0, "iounet_k": 1})
    records = E.evaluate(weights, config, [seq], every=3, seed=0)
    assert len(records) == 1 and records[0]["frame"] == 4
    # pytracking maps the refined patch box back with center xy + wh/2 (not (wh - 1)/2): half a patch pixel.
    start = gt[2]
    scale = np.sqrt(np.prod(start[2:] * config.search_area_scale) / config.max_image_sample_size)
    expected = np.concatenate([start[:2] + 0.5 * scale, start[2:]])
    np.testing.assert_allclose(records[0]["prev_after"], E.iou_xywh(expected, gt[3]), rtol=1e-4)
    np.testing.assert_allclose(records[0]["prev_before"], E.iou_xywh(start, gt[3]), rtol=1e-9)
    assert 0.0 <= records[0]["rank_top1"] <= records[0]["rank_best"] <= 1.0
