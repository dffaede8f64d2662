"""``atom-jax demo [--out DIR]``: track a generated sequence with the built-in weights; nothing downloaded.

Steps: render a synthetic sequence with known ground truth from scikit-image's bundled photos
(:mod:`atom_jax.data.synthetic`), track it with ATOM (``track.api``, the built-in weights ``atom_jax/weights/demo.npz``)
and with OpenCV's CSRT for comparison, then write into ``DIR`` (default ``demo_out``):

    sequence/img/0001.jpg ...  sequence/groundtruth_rect.txt   the generated sequence (generic layout)
    boxes_atom.txt, boxes_csrt.txt                              tracked boxes, x,y,w,h per line
    demo.mp4                                                    frames with ground truth (green), ATOM (red),
                                                                CSRT (blue)
    success_plot.png / .pdf                                     success curves with AUC
    summary.json                                                AUC, FPS, settings

The weights default to the built-in ``demo`` (:data:`atom_jax.weights.BUILTIN`), with the tracker settings their
file names. Prints AUC and FPS (frames per second of ``update``, first frame and compilation excluded).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

from atom_jax.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--weights", default=None,
                        help="weights file or built-in name (default: the built-in demo weights)")
    parser.add_argument("--seed", type=int, default=0, help="which synthetic sequence to generate")
    parser.add_argument("--frames", type=int, default=100, help="sequence length")
    parser.add_argument("--no-video", action="store_true", help="skip writing demo.mp4")
    parser.add_argument("--no-csrt", action="store_true", help="do not run the CSRT comparison")


def _track(tracker, frames, gt0):
    boxes = [np.asarray(gt0, np.float64)]
    tracker.initialize(frames[0], gt0)
    t0 = None
    for i, frame in enumerate(frames[1:]):
        if i == 1:  # the first update compiles; time the rest
            t0 = time.perf_counter()
        boxes.append(np.asarray(tracker.update(frame), np.float64))
    fps = (len(frames) - 2) / (time.perf_counter() - t0) if t0 is not None and len(frames) > 2 else float("nan")
    return np.stack(boxes), fps


def _write_video(path, frames, tracks, colors):
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (w, h))
    if not writer.isOpened():
        return False
    for t, frame in enumerate(frames):
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        for boxes, color in zip(tracks, colors):
            x, y, bw, bh = boxes[t]
            cv2.rectangle(bgr, (int(round(x)), int(round(y))), (int(round(x + bw)), int(round(y + bh))), color, 2)
        cv2.putText(bgr, f"#{t + 1}", (5, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        writer.write(bgr)
    writer.release()
    return True


def run(args) -> int:
    from track import metrics, plots
    from track.api import Tracker, prepare
    from atom_jax.data import synthetic

    if args.frames < 3:
        raise InputError(f"--frames must be at least 3, got {args.frames}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    cfg = synthetic.SyntheticConfig(num_frames=args.frames, frame_wh=(480, 360))
    seq = synthetic.make_sequence(args.seed, synthetic.bundled_images(), cfg)
    synthetic.write_sequence(seq, out / "sequence")
    frames = [synthetic.render_frame(seq, t) for t in range(args.frames)]
    gt = seq.boxes_xywh

    results = {}
    weights, config = prepare(args.weights)
    results["ATOM (demo weights)"] = _track(Tracker(weights, config, 0), frames, gt[0])
    np.savetxt(out / "boxes_atom.txt", results["ATOM (demo weights)"][0], fmt="%.2f", delimiter=",")
    if not args.no_csrt:
        from track.baselines import OpenCVTracker

        results["CSRT (OpenCV)"] = _track(OpenCVTracker("csrt"), frames, gt[0])
        np.savetxt(out / "boxes_csrt.txt", results["CSRT (OpenCV)"][0], fmt="%.2f", delimiter=",")

    summaries, report = {}, {}
    for name, (boxes, fps) in results.items():
        curves = metrics.sequence_curves(metrics.frame_errors(boxes, gt, "otb"))  # OTB: every frame counts
        summaries[name] = metrics.summarize({"demo": curves})
        report[name] = {"AUC": summaries[name]["overall"]["AUC"], "FPS": fps}
    plots.plot_curves(summaries, out, kinds=("success",), title_prefix="Synthetic demo: ")
    if not args.no_video:
        _write_video(out / "demo.mp4", frames, [gt] + [r[0] for r in results.values()],
                     [(0, 255, 0), (0, 0, 255), (255, 0, 0)])
    (out / "summary.json").write_text(json.dumps({"sequence_seed": args.seed, "frames": args.frames,
                                                  "trackers": report}, indent=1))
    for name, r in report.items():
        print(f"{name:22s} AUC {r['AUC']:5.1f}   FPS {r['FPS']:6.1f}")
    print(f"wrote {out}/ (demo.mp4, success_plot.png, boxes_*.txt, sequence/) in "
          f"{time.perf_counter() - t_start:.0f} s")
    return 0
