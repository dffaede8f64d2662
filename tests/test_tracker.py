"""The jitted tracker: compiled once per frame size, vmapped batches equal single runs, sane boxes on real
sequences, bad input rejected with one-line errors.

Most tests use random network weights and a reduced config (fewer augmentations and iterations, a smaller
memory, an update every other frame) so that compilation stays short; what they check (shapes, tracing,
batching, input handling) does not depend on those numbers. The run on the shared sequences uses the
default config and pytracking's shared checkpoint.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax import tracker as atom
from atom_jax.config import TrackerConfig
from atom_jax.errors import InputError

SMALL = TrackerConfig(augmentation_rotate=(10,), augmentation_blur=((1, 1),), augmentation_relativeshift=((0.6, 0.6),),
                      augmentation_dropout=(2, 0.2), init_GN_iter=2, init_CG_iter=4, sample_memory_size=24,
                      train_skipping=2, CG_iter=2, hard_negative_CG_iter=2, box_refinement_iter=2)
FRAME_HW = (128, 256)  # a multiple of the batch canvas (128): batch and single runs share the init compilation


@pytest.fixture(scope="module")
def weights():
    return random_weights()


def random_weights(layers=("conv1", "layer1", "layer2", "layer3")):
    from atom_jax.backbone import init_backbone
    from atom_jax.iou_net import init_iou_net

    # Shapes from abstract initialisation, values from NumPy (He-normal kernels, unit BatchNorm): much faster
    # than running the Linen initialisers, and the tests below do not depend on the weight distribution.
    shapes = {"backbone": jax.eval_shape(lambda k: init_backbone(k, layers), jax.random.PRNGKey(0)),
              "iou_net": jax.eval_shape(init_iou_net, jax.random.PRNGKey(1))}
    rng = np.random.default_rng(0)

    def fill(path, leaf):
        name = jax.tree_util.keystr(path)
        if "kernel" in name:
            fan_in = int(np.prod(leaf.shape[:-1]))
            return jnp.asarray(rng.normal(0, np.sqrt(2 / fan_in), leaf.shape), jnp.float32)
        if "scale" in name or "var" in name:
            return jnp.ones(leaf.shape, jnp.float32)
        return jnp.zeros(leaf.shape, jnp.float32)

    return jax.tree_util.tree_map_with_path(fill, shapes)


def synthetic_frames(n, box_xywh, seed=0, velocity=(2.0, 1.0)):
    """A textured background with a brighter textured rectangle moving at ``velocity`` px/frame."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 120, FRAME_HW + (3,), dtype=np.uint8)
    target = rng.integers(120, 255, (int(box_xywh[3]), int(box_xywh[2]), 3), dtype=np.uint8)
    frames = []
    for t in range(n):
        frame = background.copy()
        x = int(round(box_xywh[0] + velocity[0] * t))
        y = int(round(box_xywh[1] + velocity[1] * t))
        y0, x0 = max(y, 0), max(x, 0)
        y1, x1 = min(y + target.shape[0], FRAME_HW[0]), min(x + target.shape[1], FRAME_HW[1])
        if y1 > y0 and x1 > x0:
            frame[y0:y1, x0:x1] = target[y0 - y:y1 - y, x0 - x:x1 - x]
        frames.append(frame)
    return frames


def assert_sane(box, image_hw=None, slack=1.0):
    """Finite, positive size, and (with ``image_hw``) the center within ``slack`` box sizes of the image.
    Random-weight networks may push the IoU-Net's box anywhere, so only real weights get the bounds check."""
    box = np.asarray(box)
    assert box.shape == (4,) and np.all(np.isfinite(box)), box
    assert box[2] > 0 and box[3] > 0, box
    if image_hw is None:
        return
    h, w = image_hw
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    assert -slack * box[2] <= cx <= w + slack * box[2] and -slack * box[3] <= cy <= h + slack * box[3], box


@pytest.mark.xdist_group("small_tracker")
def test_compiles_once_across_box_sizes(weights):
    from track.api import Tracker

    before = (atom.init._cache_size(), atom.step._cache_size())
    for seed, box in enumerate([(20, 30, 10, 12), (50, 40, 40, 25), (30, 15, 70, 90)]):
        trk = Tracker(weights, SMALL, seed)
        frames = synthetic_frames(3, box, seed)
        trk.initialize(frames[0], box)
        for frame in frames[1:]:
            assert_sane(trk.update(frame))
    # One compilation of init and one of step for this (config, frame shape), whatever the box.
    assert atom.init._cache_size() - before[0] <= 1
    assert atom.step._cache_size() - before[1] <= 1


@pytest.mark.xdist_group("small_tracker")
@pytest.mark.parametrize("update", ["vmap", "loop"])
def test_batch_equals_single_runs(weights, update):
    """Slot 1 runs one frame behind slot 0, so with ``train_skipping=2`` one slot updates its filter while the
    other does not on every call: the masked (vmap) and the per-slot (loop) update must both get it right."""
    from track.api import BatchTracker, Tracker

    boxes = [(20, 30, 16, 20), (60, 50, 30, 24)]
    seqs = [synthetic_frames(4, b, seed=i) for i, b in enumerate(boxes)]
    single = []
    for b, frames in zip(boxes, seqs):
        trk = Tracker(weights, SMALL, seed=3)
        trk.initialize(frames[0], b)
        single.append([trk.update(f) for f in frames[1:]])
    batch = BatchTracker(weights, SMALL, seed=3, batch_size=2, update=update)
    for slot, (b, frames) in enumerate(zip(boxes, seqs)):
        batch.initialize(slot, frames[0], b)
    # Slot 1 idles for one call: its state must not move.
    idle = batch.update([seqs[0][1], None])
    assert np.all(np.isnan(idle[1]))
    np.testing.assert_allclose(idle[0], single[0][0], atol=1e-3)
    out1 = [idle[0]]
    out2 = []
    for t in range(1, 3):
        res = batch.update([seqs[0][t + 1], seqs[1][t]])
        out1.append(res[0])
        out2.append(res[1])
    # Float tolerance: batched convolutions may sum in another order (measured: ~2e-5 px on real sequences).
    np.testing.assert_allclose(np.array(out1), np.array(single[0][:3]), atol=1e-3)
    np.testing.assert_allclose(np.array(out2), np.array(single[1][:2]), atol=1e-3)


@pytest.mark.xdist_group("small_tracker")
def test_target_leaving_the_frame_and_blank_frames(weights):
    from track.api import Tracker

    box = (225, 95, 20, 20)  # moves right/down out of the 256x128 frame
    frames = synthetic_frames(4, box, seed=5, velocity=(12.0, 8.0))
    frames.append(np.zeros(FRAME_HW + (3,), np.uint8))  # a black frame: constant features
    trk = Tracker(weights, SMALL, seed=0)
    trk.initialize(frames[0], box)
    for frame in frames[1:]:
        out = trk.update(frame)
        assert np.all(np.isfinite(out)) and out[2] > 0 and out[3] > 0


@pytest.mark.parametrize("box, shape, match", [
    ((np.nan, 1, 10, 10), (120, 160, 3), "NaN"),
    ((10, 10, 0, 10), (120, 160, 3), "<= 0"),
    ((10, 10, 10, -3), (120, 160, 3), "<= 0"),
    ((500, 10, 10, 10), (120, 160, 3), "outside"),
    ((-30, 10, 10, 10), (120, 160, 3), "outside"),
    ((0, 0, 1, 1), (1, 1, 3), "too small"),
    ((1, 2, 3), (120, 160, 3), "4 values"),
])
def test_bad_initial_box(box, shape, match):
    with pytest.raises(InputError, match=match):
        atom.validate_init(shape, box)


def test_box_larger_than_image_is_accepted():
    assert atom.validate_init((120, 160, 3), (-10, -10, 300, 200)).tolist() == [-10, -10, 300, 200]


@pytest.mark.xdist_group("small_tracker")
def test_frame_size_change_and_channel_layouts(weights):
    from track.api import Tracker, as_rgb

    gray = np.zeros((5, 7), np.uint8)
    assert as_rgb(gray).shape == (5, 7, 3)
    assert as_rgb(np.zeros((5, 7, 4), np.uint8)).shape == (5, 7, 3)
    with pytest.raises(InputError, match="expected an image"):
        as_rgb(np.zeros((5, 7, 2)))
    trk = Tracker(weights, SMALL, 0)
    with pytest.raises(InputError, match="before initialize"):
        trk.update(np.zeros(FRAME_HW + (3,), np.uint8))
    frames = synthetic_frames(2, (20, 30, 16, 20))
    trk.initialize(frames[0][:, :, 0], (20, 30, 16, 20))  # grayscale first frame
    with pytest.raises(InputError, match="frame size changed"):
        trk.update(np.zeros((100, 100, 3), np.uint8))
    assert np.all(np.isfinite(trk.update(np.dstack([frames[1], np.full(FRAME_HW, 255, np.uint8)]))))  # RGBA


def _cli(*argv):
    from atom_jax.cli import main

    return main(["track", *argv])


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    import cv2

    from atom_jax.weights import PARTS, expected_shapes, save_weights, unflatten_tree

    w = tmp_path / "w.npz"  # valid but zeros: loaded first, never run (every case below fails before compiling)
    save_weights(w, {part: unflatten_tree({path: np.zeros(shape, np.float32)
                                           for path, shape in expected_shapes(part).items()}) for part in PARTS})
    out = str(tmp_path / "b.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "0001.jpg").write_bytes(b"not an image")
    good = tmp_path / "good"
    good.mkdir()
    cv2.imwrite(str(good / "0001.png"), np.zeros((40, 50, 3), np.uint8))
    cases = [
        (["--frames", str(tmp_path / "missing")], "frame folder not found"),
        (["--frames", str(empty)], "no image frames"),
        (["--frames", str(broken)], "0001.jpg: cannot read image"),
        (["--video", str(tmp_path / "none.mp4")], "video file not found"),
    ]
    for source, message in cases:
        assert _cli("--weights", str(w), *source, "--init", "1,1,5,5", "--out", out) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    for init, message in [("1,1,5", "4 numbers"), ("a,b,c,d", "x,y,w,h"), ("1,1,0,5", "<= 0"),
                          ("100,100,5,5", "outside")]:
        assert _cli("--weights", str(w), "--frames", str(good), "--init", init, "--out", out) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert _cli("--weights", str(w), "--frames", str(good), "--init", "1,1,5,5", "--out", out,
                "--set", "bogus=1") == 2
    assert "unknown tracker setting" in capsys.readouterr().err


@pytest.mark.xdist_group("default_tracker")
def test_default_tracker_on_shared_sequence_via_cli(reference_dir, sequences_dir, tmp_path):
    """The whole default tracker, as a user runs it, on the first frames of Couple (pytracking's random
    reference weights). Its 240 x 320 frames are the size the per-step test of ``tests/test_scale.py`` gives
    its single tracker, and the two run in one worker (xdist group): ``atom-jax track`` loads that test's
    ``step`` from the session's compilation cache."""
    import json
    import shutil

    from atom_jax.data.folders import read_folder_sequence

    frames = tmp_path / "frames"
    frames.mkdir()
    seq = read_folder_sequence(sequences_dir / "Couple")
    for path in seq.frames[:8]:
        shutil.copy(path, frames)
    box = ",".join(str(v) for v in seq.init_box_xywh)
    out, stats, log = tmp_path / "boxes.txt", tmp_path / "stats.json", tmp_path / "optimizer.jsonl"
    assert _cli("--weights", str(reference_dir / "atom_random_seed0.pth"), "--frames", str(frames),
                "--init", box, "--out", str(out), "--json", str(stats), "--no-progress",
                "--optimizer-log", str(log)) == 0
    boxes = np.loadtxt(out, delimiter="\t")
    assert boxes.shape == (8, 4)
    np.testing.assert_allclose(boxes[0], seq.init_box_xywh, atol=0.01)
    for b in boxes:
        assert_sane(b, (240, 320))
    info = json.loads(stats.read_text())
    assert info["frames"] == 8 and info["per_frame_mean_ms"] > 0 and info["compile_seconds"]["step"] > 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(8))
    first = records[0]["optimizer"]  # the first frame's 6 x 10 GN-CG (undamped: not monotone, here +400 % once)
    assert len(first["loss"]) == 7 and first["loss"][-1] < 0.2 * first["loss"][0] and len(first["alpha"][0]) == 10
    assert all(r["update"] in (0, 1, 2) and (r["update"] == 0) == ("loss_before" not in r) for r in records[1:])


@pytest.mark.parametrize("name", ["multiscale_no_iounet", "no_classifier", "gd", "no_hard_negative"])
def test_ablation_configs_trace(weights, name):
    """Each paper ablation traces through init and step with consistent shapes (abstract evaluation only:
    compiling every variant would dominate the test time; ``atom-jax track --ablation`` runs them)."""
    from atom_jax.config import ablation

    cfg = ablation(name, SMALL)
    image = jax.ShapeDtypeStruct(FRAME_HW + (3,), jnp.uint8)
    box = jnp.asarray([20.0, 30.0, 16.0, 20.0])
    state = jax.eval_shape(lambda w, im: atom.init(w, cfg, im, box, jax.random.PRNGKey(0)), weights, image)
    new, out, aux = jax.eval_shape(lambda w, s, im: atom.step(w, cfg, s, im), weights, state, image)
    assert out.shape == (4,) and aux["flag"].dtype == jnp.int32
    assert jax.tree_util.tree_structure(new) == jax.tree_util.tree_structure(state)
    assert all(a.shape == b.shape for a, b in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(state)))


@pytest.mark.xdist_group("small_tracker")
def test_bench_records_what_each_frame_did(weights):
    """``atom-jax bench`` keeps each frame's flag and filter update (the PyTorch comparison replays them):
    they are the tracker's own ``aux`` values, one per frame after the first."""
    from track import bench
    from track.api import Tracker

    box = (40, 30, 20, 24)
    frames = synthetic_frames(5, box, seed=2)
    stats = bench.time_sequence(weights, SMALL, frames, box, repeats=1)
    assert stats["frames"] == 5 and stats["per_frame_mean_ms"] > 0
    trk = Tracker(weights, SMALL, seed=0)
    trk.initialize(frames[0], box)
    flags, trains = [], []
    for frame in frames[1:]:
        trk.update(frame)
        flags.append(int(trk.last_aux["flag"]))
        trains.append(int(trk.last_aux["train"]))
    assert stats["per_frame_flag"] == flags and stats["per_frame_train"] == trains
    assert any(trains)  # train_skipping=2: some frames update the filter
