"""VOT reset-based protocol: overlaps, the failure/re-initialisation pattern, accuracy, robustness and EAO."""

from __future__ import annotations

import numpy as np
import pytest

from track import vot_protocol as vp


def test_region_overlap_hand_computed():
    assert vp.region_overlap([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(50 / 150)
    # a diamond inscribed in a 4x4 square: area 8, inside the square -> IoU 8 / 16
    diamond = [2, 0, 4, 2, 2, 4, 0, 2]
    assert vp.region_overlap([0, 0, 4, 4], diamond) == pytest.approx(0.5)
    clockwise = [2, 0, 0, 2, 2, 4, 4, 2]  # the same diamond, other orientation
    assert vp.region_overlap(diamond, clockwise) == pytest.approx(1.0)
    assert vp.region_overlap([1, 1, 2, 2], diamond) == pytest.approx(4 / 8)  # square inside the diamond
    # clipping to the image: the half outside a 10x10 image does not count
    assert vp.region_overlap([-10, 0, 20, 10], [0, 0, 10, 10], image_wh=(10, 10)) == pytest.approx(1.0)
    assert vp.region_overlap([-10, 0, 20, 10], [0, 0, 10, 10]) == pytest.approx(0.5)
    assert vp.region_overlap([20, 20, 5, 5], [0, 0, 10, 10], image_wh=(10, 10)) == 0.0
    assert vp.region_overlap([20, 20, 5, 5], [30, 30, 5, 5], image_wh=(10, 10)) == 1.0  # both empty: VOT's rule


def test_raster_overlap_hand_computed():
    """The VOT toolkit's pixel overlap (vot-toolkit 0.7.4's calculate_overlap gives each of these values; the two
    agreed on 3000 random rectangle/rectangle and polygon/rectangle pairs: benchmarks/vot_raster_check.py)."""
    assert vp.raster_overlap([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(50 / 150)
    # coordinates round half to even: 9.5 -> 10 (no shared column), 10.5 -> 10, 8.5 -> 8 (two shared columns)
    assert vp.raster_overlap([0, 0, 10, 10], [9.5, 0, 10, 10]) == 0.0
    assert vp.raster_overlap([0, 0, 10, 10], [8.5, 0, 10, 10]) == pytest.approx(20 / 180)
    # an axis-aligned polygon covers its corner pixels inclusively: corners 0 and 9 give 10 x 10 pixels
    assert vp.raster_overlap([0, 0, 10, 10], [0, 0, 9, 0, 9, 9, 0, 9]) == 1.0
    # the diamond of test_region_overlap_hand_computed: rows 0..4 hold 1, 3, 5, 3, 1 pixels
    assert vp.raster_overlap([0, 0, 5, 5], [2, 0, 4, 2, 2, 4, 0, 2]) == pytest.approx(13 / 25)
    # cut to the image: only columns 0..9 count
    assert vp.raster_overlap([-10, 0, 20, 10], [0, 0, 10, 10], image_wh=(10, 10)) == 1.0
    assert vp.raster_overlap([20, 20, 5, 5], [0, 0, 10, 10], image_wh=(10, 10)) == 0.0
    assert vp.raster_overlap([20, 20, 5, 5], [30, 30, 5, 5], image_wh=(10, 10)) == 0.0  # union cut away
    assert vp.raster_overlap([3, 3, 0, 0], [3, 3, 0, 0]) == 1.0  # both empty at one place: VOT's rule
    assert vp.raster_overlap([3, 3, 0, 0], [5, 5, 0, 0]) == 0.0  # ... but the toolkit's rule only holds there


def test_sub_pixel_strip_is_a_failure_as_in_the_toolkit(tmp_path):
    """As on Human3 (OTB, rectangles), frame 54 under vot-toolkit 0.7.4: a box overlapping the ground truth by a
    0.30 px wide strip. Exactly that is an IoU above zero, no failure; the toolkit's raster shares no pixel: a
    failure, and the default follows the toolkit."""
    gt_box, strip_box = np.array([20.0, 10, 17, 40]), np.array([20.0 + 17 - 0.3, 10, 17, 40])
    assert vp.region_overlap(strip_box, gt_box, (80, 60), "exact") == pytest.approx(0.3 * 40 / (2 * 17 * 40 - 12))
    assert vp.region_overlap(strip_box, gt_box, (80, 60), "raster") == 0.0
    n = 12
    gt = np.tile(gt_box, (n, 1))
    tracker_gt = gt.copy()
    tracker_gt[4] = strip_box
    frames = _frames(tmp_path, n)
    kinds, _, _ = vp.run_supervised(lambda: _Scripted(tracker_gt, set()), frames, gt)
    assert kinds[4] == vp.FAILURE and kinds[9] == vp.INITIALIZATION  # the default: the toolkit's decision
    kinds, _, _ = vp.run_supervised(lambda: _Scripted(tracker_gt, set()), frames, gt, overlap="exact")
    assert kinds[4] == 3 and (kinds[1:] == 3).all()
    with pytest.raises(ValueError, match="raster.*exact"):
        vp.region_overlap(strip_box, gt_box, overlap="pixels")


class _Scripted:
    """Follows the ground truth except on frames listed as failures (then reports a far-away box)."""

    def __init__(self, gt, fail_on):
        self.gt, self.fail_on, self.frame = gt, set(fail_on), 0

    def initialize(self, image, box):
        self.frame = int(image[0, 0, 0])

    def update(self, image):
        self.frame = int(image[0, 0, 0])
        return np.array([500.0, 500, 5, 5]) if self.frame in self.fail_on else self.gt[self.frame]


def _frames(tmp_path, n):
    import cv2

    paths = []
    for i in range(n):
        p = tmp_path / f"{i:03d}.png"
        cv2.imwrite(str(p), np.full((60, 80, 3), i, np.uint8))  # the frame index is the pixel value
        paths.append(str(p))
    return paths


def test_failures_reinitialise_five_frames_later(tmp_path):
    n = 30
    gt = np.array([[10.0 + i, 10, 20, 20] for i in range(n)])
    gt[12, 0] += 5  # one frame where the tracker is off by 5 px
    tracker_gt = gt.copy()
    tracker_gt[12, 0] -= 5
    kinds, boxes, wh = vp.run_supervised(lambda: _Scripted(tracker_gt, {4, 20}), _frames(tmp_path, n), gt)
    assert wh == (80, 60)
    expected = np.full(n, 3)
    expected[[0, 9, 25]] = vp.INITIALIZATION
    expected[[4, 20]] = vp.FAILURE
    expected[[5, 6, 7, 8, 21, 22, 23, 24]] = vp.UNKNOWN
    np.testing.assert_array_equal(kinds, expected)
    text = vp.format_trajectory(kinds, boxes)
    k2, b2 = vp.parse_trajectory(text)
    np.testing.assert_array_equal(k2, kinds)
    np.testing.assert_allclose(b2[kinds == 3], boxes[kinds == 3])

    acc, fails, _ = vp.sequence_accuracy_failures(kinds, boxes, gt, (80, 60), burnin=3)
    assert fails == 2
    # kept frames: 3; 12..19 (9-11 burn-in); 28, 29 (25-27 burn-in); frame 12 overlaps 15x20 / 25x20
    kept = [1.0] + [0.6] + [1.0] * 7 + [1.0] * 2
    assert acc == pytest.approx(np.mean(kept))


def test_eao_curve_hand_computed():
    # one segment that fails after frames with overlaps 0.5, 0.5 and one that reaches the end with 1, 1, 1
    segments = [(np.array([0.0, 0.5, 0.5]), True), (np.array([0.0, 1.0, 1.0, 1.0, 1.0]), False)]
    curve = vp.eao_curve(segments)
    # length 3: failed segment (0.5 + 0.5) / 2; length 4: it is padded with zeros -> 1 / 3; the other is 1
    np.testing.assert_allclose(curve[1:], [(0.5 + 1) / 2, (0.5 + 1) / 2, (1 / 3 + 1) / 2, (0.25 + 1) / 2])
    summary = vp.summarize({"s": (np.zeros((5, 4)) + [1, 1, 2, 2], (10, 10),
                                  [(np.array([1, 3, 2, 0, 0]), np.array([[0, 0, 0, 0], [1, 1, 2, 2]] + [[0] * 4] * 3))])},
                           burnin=1, eao_range=(1, 2))
    assert summary["accuracy"] == 1.0 and summary["robustness"] == 1.0
    assert summary["eao"] == pytest.approx(1.0)  # one failed segment [init, 1.0]: curve 1.0 at lengths 1, 2


def test_reset_protocol_cli_resumes_and_scores(tmp_path, capsys):
    import cv2

    from atom_jax import cli

    # a VOT-layout sequence: a square that jumps away at frame 6, so the static tracker fails there
    seq = tmp_path / "vot" / "jump"
    (seq / "color").mkdir(parents=True)
    rows = []
    for i in range(30):
        x = 10 if i < 6 else 60
        img = np.zeros((60, 90, 3), np.uint8)
        img[10:30, x:x + 20] = 255
        cv2.imwrite(str(seq / "color" / f"{i + 1:08d}.jpg"), img)
        rows.append(f"{x},10,{x + 20},10,{x + 20},30,{x},30")
    (seq / "groundtruth.txt").write_text("\n".join(rows) + "\n")
    (tmp_path / "vot" / "list.txt").write_text("jump\n")
    args = ["eval", "--dataset", "vot", "--root", str(tmp_path / "vot"), "--tracker", "static", "--protocol",
            "reset", "--results", str(tmp_path / "res"), "--no-progress", "--eao-range", "1,5", "--runs", "2"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "tracked 2, already done 0" in out
    kinds, _ = vp.parse_trajectory((tmp_path / "res" / "jump" / "jump_001.txt").read_text())
    assert kinds[6] == vp.FAILURE and kinds[11] == vp.INITIALIZATION and (kinds[7:11] == vp.UNKNOWN).all()
    assert cli.main(args) == 0 and "tracked 0, already done 2" in capsys.readouterr().out
    assert cli.main(["score", "--dataset", "vot", "--root", str(tmp_path / "vot"), "--protocol", "reset",
                     "--results", str(tmp_path / "res"), "--eao-range", "1,5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # frames 21-29 (after burn-in): the box covers pixel columns x..x+19, the toolkit's raster of the polygon with
    # corners x and x+20 columns x..x+20 (rows likewise): 400 / 441. One failure.
    assert lines[-1].split()[:3] == ["overall", f"{400 / 441:.3f}", "1.000"]
    assert cli.main(["score", "--dataset", "vot", "--root", str(tmp_path / "vot"), "--protocol", "reset",
                     "--results", str(tmp_path / "res"), "--eao-range", "1,5", "--overlap", "exact"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split()[:3] == ["overall", "1.000", "1.000"]  # same area
