"""TraX entry point: lets the VOT toolkit (``vot-toolkit``) run atom-jax or a baseline, through ``vot-trax``.

The toolkit starts ``python -m track.trax_entry`` per sequence (``protocol = traxpython``) and talks TraX over
stdin/stdout; this module declares rectangles (libtrax turns VOT polygons into their bounding box) and image
paths. Settings come from environment variables, which ``trackers.ini`` sets with ``env_`` keys::

    [atom_jax]
    label = atom-jax
    protocol = traxpython
    command = track.trax_entry
    paths = /path/to/atom-jax                  # the repository (or omit when atom-jax is pip-installed)
    python = /path/to/python-with-atom-jax      # the toolkit may run in another environment
    timeout = 600                               # first-frame JIT compilation exceeds the default 30 s
    env_ATOM_JAX_TRACKER = atom                 # atom, csrt, kcf, mil, static
    env_ATOM_JAX_WEIGHTS = /abs/weights.npz
    env_ATOM_JAX_SET = num_init_random_samples=0;update_classifier=True   # optional --set list, ';'-separated
    env_ATOM_JAX_SEED = 0

For ATOM, set ``JAX_COMPILATION_CACHE_DIR`` too (``env_JAX_COMPILATION_CACHE_DIR``): one process per sequence
would otherwise compile every time.
"""

from __future__ import annotations

import os
import sys

import numpy as np


def settings_from_env(env=os.environ) -> dict:
    from track.runner import parse_overrides

    items = [s for s in env.get("ATOM_JAX_SET", "").split(";") if s.strip()]
    return {
        "name": env.get("ATOM_JAX_TRACKER", "atom"),
        "weights": env.get("ATOM_JAX_WEIGHTS") or None,
        "overrides": parse_overrides(items),
        "seed": int(env.get("ATOM_JAX_SEED", "0")),
    }


def _image_path(request_images) -> str:
    image = request_images["color"] if isinstance(request_images, dict) else request_images[0]
    return image.path()


def main() -> int:
    import trax

    from track.baselines import make_tracker
    from atom_jax.data.files import read_image_rgb

    cfg = settings_from_env()
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        import jax

        jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    tracker = None
    with trax.Server([trax.Region.RECTANGLE], [trax.Image.PATH], tracker_name=f"atom-jax {cfg['name']}") as server:
        while True:
            request = server.wait()
            if request.type in (trax.TraxStatus.QUIT, trax.TraxStatus.ERROR):
                break
            image = read_image_rgb(_image_path(request.image))
            if request.type == trax.TraxStatus.INITIALIZE:
                region = request.objects[0][0]
                box = np.asarray(region.bounds(), dtype=np.float64)
                tracker = make_tracker(cfg["name"], cfg["weights"], cfg["overrides"], cfg["seed"])
                tracker.initialize(image, box)
                server.status([(trax.Rectangle.create(*box.tolist()), {})])
            else:
                box = np.asarray(tracker.update(image), dtype=np.float64)
                server.status([(trax.Rectangle.create(*box.tolist()), {})])
    return 0


if __name__ == "__main__":
    sys.exit(main())
