"""The command line: subcommands listed, and every bad input a new user meets (issue 13) ends with one line that
names the fault and points at the fix, a non-zero exit code and no traceback."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from atom_jax import cli


def test_help_lists_every_subcommand(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    for name in cli.SUBCOMMANDS:
        assert name in out


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "atom_jax.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "convert" in proc.stdout


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two OTB-style sequence folders whose names are not in OTB-100, a video without ground truth, a text file."""
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    for name in ("MyCar", "MyDog"):
        (root / "data" / name / "img").mkdir(parents=True)
        for i in range(4):
            cv2.imwrite(str(root / "data" / name / "img" / f"{i + 1:04d}.png"),
                        rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
        (root / "data" / name / "groundtruth_rect.txt").write_text("5\t6\t20\t15\n" * 4)
    writer = cv2.VideoWriter(str(root / "surf.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30, (48, 40))
    for _ in range(5):
        writer.write(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))
    writer.release()
    (root / "README.md").write_text("# not weights\n")
    # a valid weights file (zeros: never run, every case fails before compiling)
    from atom_jax.weights import PARTS, expected_shapes, save_weights, unflatten_tree

    save_weights(root / "w.npz", {part: unflatten_tree({path: np.zeros(shape, np.float32)
                                                        for path, shape in expected_shapes(part).items()})
                                  for part in PARTS})
    return root


def _cases(root):
    seq, data, video, text = root / "data" / "MyCar", root / "data", root / "surf.mp4", root / "README.md"
    out = ["--out", str(root / "boxes.txt")]
    weights = ["--weights", str(root / "w.npz")]
    tab_box = "5\t6\t20\t15"  # a ground-truth line as `track` writes it: parsed first, and accepted
    return [
        # (argv, what the one line must say)
        (["track", *weights, "--frames", str(seq), "--init", tab_box, *out],
         f"{seq / 'img'} has 4 frames: use --frames {seq / 'img'}"),
        (["track", *weights, "--video", str(seq), "--init", tab_box, *out],
         f"a folder, not a video file: for a folder of frames use --frames {seq / 'img'}"),
        (["track", *weights, "--frames", str(video), "--init", tab_box, *out],
         f"not a folder of frames (for a video use --video {video})"),
        (["track", "--weights", str(text), "--frames", str(seq / "img"), "--init", tab_box, *out],
         "nor an atom-jax weights file; weights are read from an atom-jax .npz"),
        (["track", "--weights", str(text), "--frames", str(seq / "img"), "--init", "5\t6\t20", *out],
         "--init expects 4 numbers"),
        (["convert", str(text), "-o", str(root / "w.npz")], "weights are read from an atom-jax .npz"),
        (["eval", "--dataset", "otb", "--root", str(data), "--tracker", "static", "--results", str(root / "r")],
         "--dataset otb reads only OTB-100's sequence names; use --dataset generic for the 2 OTB/VOT-style"),
        (["eval", "--dataset", "otb", "--root", str(data), "--sequences", "MyDog", "--tracker", "static",
          "--results", str(root / "r")], "use --dataset generic"),
        (["eval", "--dataset", "video", "--root", str(video), "--tracker", "static", "--results", str(root / "r")],
         "no ground truth surf.txt beside the video (one x,y,w,h line per frame); or give the first frame's box: "
         "--init x,y,w,h"),
        (["eval", "--dataset", "video", "--root", str(data), "--tracker", "static", "--results", str(root / "r")],
         "a folder, not a video file; for a folder of sequence folders use --dataset generic"),
        (["eval", "--dataset", "generic", "--root", str(data), "--init", "1,2,3,4", "--tracker", "static",
          "--results", str(root / "r")], "--init is for --dataset video"),
        (["score", "--dataset", "video", "--root", str(video), "--results", str(root / "r")],
         "surf.txt beside the video (one x,y,w,h line per frame) to score it"),
    ]


def test_bad_input_is_one_line_that_points_at_the_fix(files, capsys):
    for argv, message in _cases(files):
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (argv, err)
        assert err.startswith(f"atom-jax {argv[0]}: error: ")


def test_bad_input_in_a_process_has_no_traceback(files):
    argv, message = _cases(files)[3]  # the weights error: reached after frames and box were read
    proc = subprocess.run([sys.executable, "-m", "atom_jax.cli", *argv], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_eval_of_a_video_from_an_initial_box(files, capsys):
    results = files / "video_results"
    assert cli.main(["eval", "--dataset", "video", "--root", str(files / "surf.mp4"), "--init", "3 4\t20,15",
                     "--tracker", "static", "--results", str(results), "--no-progress"]) == 0
    boxes = np.loadtxt(results / "surf.txt", delimiter="\t")
    np.testing.assert_array_equal(boxes, np.tile([3, 4, 20, 15], (5, 1)))
    assert "tracked 1" in capsys.readouterr().out


def test_score_json_follows_the_documented_schema(files, capsys):
    from track.cli_score import JSON_SCHEMA
    from track.scoring import SCORED_KEYS

    data, results = files / "data", files / "static_results"
    common = ["--dataset", "generic", "--root", str(data)]
    assert cli.main(["eval", *common, "--tracker", "static", "--results", str(results), "--no-progress"]) == 0
    assert cli.main(["score", *common, "--results", str(results), "--json", str(files / "s.json"),
                     "--name", "ATOM"]) == 0
    summary = json.loads((files / "s.json").read_text())
    assert list(summary) == ["ATOM"]
    entry = summary["ATOM"]
    for key in entry:
        assert f'"{key}"' in JSON_SCHEMA, key
    for key in entry["curves"]:
        assert f'"{key}"' in JSON_SCHEMA, key
    assert set(entry["overall"]) == set(SCORED_KEYS) and set(entry["per_sequence"]) == {"MyCar", "MyDog"}
    assert ", ".join(SCORED_KEYS) in JSON_SCHEMA
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(["score", "--help"])
    assert '{NAME: {"overall"' in capsys.readouterr().out
