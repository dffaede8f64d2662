"""``atom-jax track``: track one sequence (a frame folder or a video) from an initial box.

    atom-jax track [--weights W] (--frames DIR | --video FILE) --init x,y,w,h --out boxes.txt
                   [--save-video out.mp4] [--set name=value ...] [--json stats.json] [--seed N]
                   [--optimizer-log log.jsonl]

Writes one ``x<TAB>y<TAB>w<TAB>h`` line per frame (line 1 = the initial box; pytracking's results format with
two decimals), shows a progress bar with frames/s, and prints timing: initialisation, per-frame mean and
median, and the compile times of init and step, measured apart (ahead-of-time compilation).
``--optimizer-log F.jsonl`` writes the online optimizer's statistics, one JSON object per frame
(:func:`atom_jax.optimizers.log_record`; frame 0: the first-frame optimisation), fetched with each frame's box.

Frames: a folder of images in frame order (numeric names by value, as :func:`atom_jax.data.files.list_images`),
decoded to RGB (grayscale and RGBA become RGB), or any video OpenCV reads. Bad input (missing or empty
folder, unreadable image, bad box, a frame whose size differs from the first, unknown ``--set`` name) ends
with a one-line error and exit code 2; boxes tracked before the error are still written.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import time

import numpy as np

from atom_jax.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=None, help="atom-jax .npz weights, a pytracking .pth checkpoint or a "
                        "built-in name (default: the built-in demo weights)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", help="folder of frames (jpg/png/...) in frame order")
    src.add_argument("--video", help="video file (anything OpenCV reads)")
    parser.add_argument("--init", required=True,
                        help="initial box x,y,w,h (pixels, top-left corner; commas, spaces or tabs between the "
                             "numbers, so a ground-truth line works as it is)")
    parser.add_argument("--out", required=True, help="output text file, one x y w h line per frame")
    parser.add_argument("--save-video", help="write the frames with the tracked box drawn (mp4)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a TrackerConfig field (repeatable), e.g. --set use_iou_net=false")
    parser.add_argument("--ablation", help="start from a paper ablation config (multiscale_no_iounet, "
                                           "no_classifier, gd, gd_plus_plus, no_hard_negative)")
    parser.add_argument("--json", help="write timing statistics and run info as JSON")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    parser.add_argument("--optimizer-log", metavar="F.jsonl",
                        help="write the online optimizer's statistics per frame (update kind, objective before "
                             "and after, CG lists) as JSON lines (docs/optimizer.md)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def parse_box(text: str) -> np.ndarray:
    """``x,y,w,h`` separated by commas and/or whitespace (spaces, tabs: any ground-truth line)."""
    parts = [p for p in re.split(r"[\s,]+", text) if p]
    try:
        box = np.asarray([float(p) for p in parts], np.float64)
    except ValueError:
        raise InputError(f"--init expects x,y,w,h numbers, got {text!r}") from None
    if box.shape != (4,):
        raise InputError(f"--init expects 4 numbers x,y,w,h, got {text!r}")
    return box


def frame_source(frames_dir=None, video=None):
    """``(count or None, iterator of (name, RGB image))`` for a frame folder or a video; frames are decoded a
    few ahead in a background thread (:func:`atom_jax.data.files.read_ahead`)."""
    from atom_jax.data.files import list_images, read_ahead, read_image_rgb

    if frames_dir is not None:
        path = pathlib.Path(frames_dir)
        if path.is_file():
            raise InputError(f"{path}: a file, not a folder of frames (for a video use --video {path})")
        files = list_images(path)
        if not files:
            raise InputError(f"{path}: no image frames in the folder{_frames_hint(path)}")
        return len(files), read_ahead((pathlib.Path(f).name, read_image_rgb(f)) for f in files)
    import cv2

    path = pathlib.Path(video)
    if path.is_dir():
        raise InputError(f"{path}: a folder, not a video file: for a folder of frames use --frames "
                         f"{_frames_folder(path) or path}")
    if not path.is_file():
        raise InputError(f"{path}: video file not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise InputError(f"{path}: cannot open video")
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None

    def frames():
        try:
            index = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                if frame.ndim == 2:
                    frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
                else:
                    frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                yield f"{path.name}#{index}", frame
                index += 1
        finally:
            cap.release()

    return count, read_ahead(frames())


FRAME_SUBFOLDERS = ("img", "color", "imgs")  # where OTB / VOT style sequence folders keep their frames


def _frames_folder(folder: pathlib.Path) -> pathlib.Path | None:
    """``folder`` itself or its ``img/``, ``color/`` or ``imgs/`` subfolder, the first that holds images."""
    from atom_jax.data.files import list_images

    for candidate in (folder, *(folder / sub for sub in FRAME_SUBFOLDERS)):
        if candidate.is_dir() and list_images(candidate):
            return candidate
    return None


def _frames_hint(folder: pathlib.Path) -> str:
    """``"; SEQ/img has 120 frames: use --frames SEQ/img"`` when a frame subfolder has them, else ``""``."""
    from atom_jax.data.files import list_images

    found = _frames_folder(folder)
    if found is None or found == folder:
        return ""
    return f"; {found} has {len(list_images(found))} frames: use --frames {found}"


class _VideoWriter:
    def __init__(self, path, fps: float = 30.0):
        self.path, self.fps, self.writer = pathlib.Path(path), fps, None

    def write(self, image_rgb, box_xywh):
        import cv2

        frame = cv2.cvtColor(np.ascontiguousarray(image_rgb), cv2.COLOR_RGB2BGR)
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            h, w = frame.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise InputError(f"{self.path}: cannot write video")
        if np.all(np.isfinite(box_xywh)):
            x, y, w, h = (int(round(v)) for v in box_xywh)
            cv2.rectangle(frame, (x, y), (x + w, y + h), (0, 255, 0), 2)
        self.writer.write(frame)

    def close(self):
        if self.writer is not None:
            self.writer.release()


def write_boxes(path, boxes) -> None:
    from track.files import atomic_write_text

    atomic_write_text(path, "".join("\t".join(f"{v:.2f}" for v in b) + "\n" for b in boxes))


def run(args) -> int:
    import jax
    import jax.numpy as jnp

    from atom_jax import tracker as atom
    from atom_jax.config import parse_set_arguments
    from track.api import as_rgb, prepare
    from track.compiled import compile_tracker, timing_stats

    box0 = parse_box(args.init)
    overrides = parse_set_arguments(args.set)
    if args.ablation:
        overrides["ablation"] = args.ablation
    weights, config = prepare(args.weights, overrides)
    count, frames = frame_source(args.frames, args.video)
    try:
        name0, first = next(frames)
    except StopIteration:
        raise InputError(f"{args.video or args.frames}: no frames") from None
    first = as_rgb(first)
    box0 = atom.validate_init(first.shape, box0)

    print(f"compiling for {first.shape[1]}x{first.shape[0]} frames ...", flush=True)
    log = args.optimizer_log is not None
    # init with its aux, logged or not: the programs of track.api.Tracker, so the two share JAX's persistent
    # compilation cache when it is on
    compiled = compile_tracker(weights, config, first.shape, init_aux=True)
    t0 = time.perf_counter()
    state, init_aux = compiled.init(weights, first, jnp.asarray(box0, jnp.float32), jax.random.PRNGKey(args.seed))
    jax.block_until_ready(state)
    init_seconds = time.perf_counter() - t0
    records = []
    if log:
        from atom_jax.optimizers import init_log_record, log_record

        records.append(init_log_record(jax.device_get(init_aux)))

    boxes, step_times, flags = [box0], [], []
    writer = _VideoWriter(args.save_video) if args.save_video else None
    if writer:
        writer.write(first, box0)
    from tqdm import tqdm

    bar = tqdm(total=count, initial=1, unit="frame", disable=args.no_progress, dynamic_ncols=True)
    error = None
    try:
        for name, image in frames:
            image = as_rgb(image)
            if image.shape != first.shape:
                raise InputError(f"frame {name}: size {image.shape[1]}x{image.shape[0]} differs from the first "
                                 f"frame's {first.shape[1]}x{first.shape[0]}")
            t = time.perf_counter()
            state, box, aux = compiled.step(weights, state, image)
            box, flag, stats = jax.device_get((box, aux["flag"], aux["optimizer"] if log else None))  # one fetch
            box = np.asarray(box, np.float64)
            step_times.append(time.perf_counter() - t)
            boxes.append(box)
            flags.append(int(flag))
            if log:
                records.append(log_record(len(records), int(stats["update"]), stats))
            if writer:
                writer.write(image, box)
            bar.update(1)
            bar.set_postfix(fps=f"{1.0 / max(np.mean(step_times[-20:]), 1e-9):.1f}")
    except InputError as err:
        error = err
    finally:
        bar.close()
        if writer:
            writer.close()
        write_boxes(args.out, boxes)
        if log:
            from track.files import atomic_write_jsonl

            atomic_write_jsonl(args.optimizer_log, records)

    stats = timing_stats(init_seconds, step_times, compiled.compile_seconds)
    from atom_jax.localize import FLAG_NAMES

    stats["flags"] = {n: int(sum(f == i for f in flags)) for i, n in enumerate(FLAG_NAMES)}
    stats["overrides"] = {k: str(v) for k, v in overrides.items()}
    stats["frames_source"] = str(args.frames or args.video)
    mean = stats["per_frame_mean_ms"]
    print(f"{stats['frames']} frames -> {args.out}")
    print(f"init {init_seconds * 1e3:.0f} ms; per frame mean {mean or float('nan'):.1f} ms, median "
          f"{stats['per_frame_median_ms'] or float('nan'):.1f} ms ({stats['fps'] or 0:.1f} frames/s); compile "
          f"init {stats['compile_seconds']['init']:.1f} s, step {stats['compile_seconds']['step']:.1f} s")
    if args.json:
        from track.files import atomic_write_text

        atomic_write_text(args.json, json.dumps(stats, indent=2) + "\n")
    if error is not None:
        raise error
    return 0
