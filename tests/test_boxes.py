import numpy as np
import jax.numpy as jnp
import pytest

from atom_jax import boxes


def test_center_convention_matches_pytracking():
    # pytracking: pos = [y + (h-1)/2, x + (w-1)/2] for a box (x, y, w, h).
    center_xy, size_wh = boxes.xywh_to_center_size(np.array([10.0, 20.0, 5.0, 8.0]))
    np.testing.assert_allclose(center_xy, [12.0, 23.5])
    np.testing.assert_allclose(size_wh, [5.0, 8.0])
    np.testing.assert_allclose(boxes.center_size_to_xywh(center_xy, size_wh), [10.0, 20.0, 5.0, 8.0])


def test_xyxy_round_trip():
    box = jnp.array([[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 10.0, 0.0]])
    xyxy = boxes.xywh_to_xyxy(box)
    np.testing.assert_allclose(xyxy[0], [1.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(boxes.xyxy_to_xywh(xyxy), box)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 10, 10], 50 / 150),
        ([0, 0, 10, 10], [10, 10, 5, 5], 0.0),
        ([0, 0, 4, 4], [1, 1, 2, 2], 4 / 16),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),
    ],
)
def test_iou_known_pairs(a, b, expected):
    for xp in (np, jnp):
        got = boxes.iou_xywh(xp.asarray(a, dtype=xp.float32), xp.asarray(b, dtype=xp.float32))
        assert float(got) == pytest.approx(expected, abs=1e-7)


def test_clip():
    clipped = boxes.clip_xywh(np.array([-5.0, 2.0, 10.0, 4.0]), (20, 10))
    np.testing.assert_allclose(clipped, [0.0, 2.0, 5.0, 4.0])
    outside = boxes.clip_xywh(np.array([30.0, 2.0, 10.0, 4.0]), (20, 10))
    np.testing.assert_allclose(outside[2], 0.0)
