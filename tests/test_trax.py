"""TraX entry point (what the VOT toolkit runs) driven by a TraX client, and the VOT workspace builder."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from atom_jax.data import files
from atom_jax.data.registry import load_dataset
from atom_jax.errors import InputError
from track import baselines


def _frames(tmp_path, n=8):
    rng = np.random.default_rng(1)
    background = rng.integers(0, 60, (72, 96, 3), dtype=np.uint8)
    paths = []
    for i in range(n):
        img = background.copy()
        img[20:44, 10 + 2 * i:30 + 2 * i] = (40, 200, 250)
        paths.append(str(tmp_path / f"{i:04d}.jpg"))
        cv2.imwrite(paths[-1], img)
    return paths


def test_trax_session_matches_in_process_tracker(tmp_path):
    trax = pytest.importorskip("trax", reason="vot-trax is not installed (pip install -e '.[vot]')")
    from trax.client import Client

    paths = _frames(tmp_path)
    init = [10.0, 20.0, 20.0, 24.0]
    env = dict(os.environ, ATOM_JAX_TRACKER="kcf")
    to_parent_r, to_parent_w = os.pipe()
    to_child_r, to_child_w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "track.trax_entry"], stdin=to_child_r, stdout=to_parent_w,
                            env=env)
    os.close(to_parent_w)
    os.close(to_child_r)
    try:
        client = Client(stream=(to_child_w, to_parent_r), timeout=60, log=lambda message: None)
        assert client.tracker_name == "atom-jax kcf" and client.region_formats == ["rectangle"]

        def image(p):
            return {"color": trax.image.FileImage.create(p)}

        objects, _ = client.initialize(image(paths[0]), [(trax.Rectangle.create(*init), {})], {})
        got = [objects[0][0].bounds()]
        for p in paths[1:]:
            objects, _ = client.frame(image(p), {}, [])
            got.append(objects[0][0].bounds())
        client.quit()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    reference = baselines.make_tracker("kcf")
    reference.initialize(files.read_image_rgb(paths[0]), np.array(init))
    expected = [init] + [reference.update(files.read_image_rgb(p)).tolist() for p in paths[1:]]
    np.testing.assert_allclose(got, expected, atol=1e-3)  # TraX carries float32
    assert got[-1][0] > init[0]  # the tracker moved with the target


def test_settings_from_env():
    from track.trax_entry import settings_from_env

    cfg = settings_from_env({"ATOM_JAX_TRACKER": "atom", "ATOM_JAX_WEIGHTS": "/w.npz",
                             "ATOM_JAX_SET": "a=1; b=x", "ATOM_JAX_SEED": "3"})
    assert cfg == {"name": "atom", "weights": "/w.npz", "overrides": {"a": "1", "b": "x"}, "seed": 3}


def test_vot_workspace_from_shared_sequences(sequences_dir, tmp_path):
    from track.vot_workspace import build_workspace

    seqs = load_dataset("generic", sequences_dir, ["Crossing", "vot15_ball1"])
    ws = build_workspace(seqs, tmp_path / "ws", tracker="mil")
    seq_dir = ws / "sequences"
    assert (seq_dir / "list.txt").read_text().split() == ["Crossing", "vot15_ball1"]
    meta = dict(line.split("=", 1) for line in (seq_dir / "Crossing" / "sequence").read_text().split())
    assert meta["length"] == "120" and meta["width"] == "360" and meta["channels.color"] == "color/%08d.jpg"
    # OTB's 1-based boxes become 0-based; VOT polygons are kept
    np.testing.assert_array_equal(files.load_table(seq_dir / "Crossing" / "groundtruth.txt")[0], [204, 150, 17, 50])
    assert files.load_table(seq_dir / "vot15_ball1" / "groundtruth.txt", ncols=8).shape == (105, 8)
    assert (seq_dir / "Crossing" / "color" / "00000120.jpg").is_file()
    [back] = load_dataset("vot", seq_dir, ["vot15_ball1"])  # our own VOT reader reads the workspace
    np.testing.assert_allclose(back.ground_truth_xywh, seqs[1].ground_truth_xywh)
    ini = (ws / "trackers.ini").read_text()
    assert "command = track.trax_entry" in ini and "env_ATOM_JAX_TRACKER = mil" in ini and "timeout = 600" in ini
    assert "  baseline:\n    type: supervised" in (ws / "stack.yaml").read_text()
    assert "unsupervised" not in (ws / "stack.yaml").read_text()


def test_vot_workspace_experiments(tmp_path):
    import yaml

    from track.vot_workspace import main, stack_text

    stack = yaml.safe_load(stack_text(("baseline", "unsupervised"), repetitions=3, eao_range=(10, 60)))
    assert list(stack["experiments"]) == ["baseline", "unsupervised"]
    base, unsup = stack["experiments"]["baseline"], stack["experiments"]["unsupervised"]
    assert base["type"] == "supervised" and base["repetitions"] == 3 and base["skip_initialize"] == 5
    assert base["analyses"][1] == {"type": "supervised_eao_score", "low": 10, "high": 60}
    assert unsup == {"type": "unsupervised", "repetitions": 3, "analyses": [{"type": "average_accuracy"}]}
    with pytest.raises(InputError, match="unknown VOT experiment realtime; choose from baseline, unsupervised"):
        stack_text(("baseline", "realtime"))
    seq = tmp_path / "data" / "seq"
    (seq / "img").mkdir(parents=True)
    _frames(seq / "img", n=3)
    (seq / "groundtruth_rect.txt").write_text("11,21,20,24\n" * 3)
    assert main(["--dataset", "generic", "--root", str(tmp_path / "data"), "--out", str(tmp_path / "ws"),
                 "--tracker", "mil", "--experiments", "unsupervised"]) == 0
    assert list(yaml.safe_load((tmp_path / "ws" / "stack.yaml").read_text())["experiments"]) == ["unsupervised"]
    with pytest.raises(InputError, match="use --dataset generic for the 1 OTB/VOT-style sequence folder"):
        main(["--dataset", "otb", "--root", str(tmp_path / "data"), "--out", str(tmp_path / "ws2")])
