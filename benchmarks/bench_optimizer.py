"""Online optimisation study (paper Sec. 4.2, Table 2's GD / GD++ rows) and optimizer wall times.

1. Convergence: on first-frame classifier problems (pytracking's own recorded Crossing problem, plus the
   first frame of each shared sequence with features from the shared reference checkpoint: random weights,
   so these are real images through a random ResNet-18), objective vs backprop-equivalents for Gauss-Newton +
   CG (6 x 10, 21 backprops per GN iteration), GD with the same 126 backprops and GD++ with 5 times as many.
   GD's step length and momentum are tuned per problem on a grid (best final objective); GD++ re-tunes over
   the three best GD settings. Same start point for all (pytracking's recorded init on Crossing, pytracking's
   'randn' init otherwise).
2. Wall time on this CPU, jitted JAX (compile time separate) vs an eager PyTorch implementation with
   pytracking's semantics (``tests/parity/torch_optim.py``) in the same run: the first-frame optimisation
   (6 GN x 10 CG, 30 samples of 18 x 18 x 256) and one update (5 CG over a full 250-sample memory of
   18 x 18 x 64) for each operator strategy. Variants are timed round-robin; min and median per call.
   A GEMM of the update's size is timed in the same rounds as a load calibration (the machine is shared).

    python -m benchmarks.bench_optimizer [--repeats 10] [--no-sequences]

Writes benchmarks/results/optimizer.json and benchmarks/results/optimizer_convergence.png.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.parity.torch_optim when run as a script

from atom_jax import classifier as C  # noqa: E402
from atom_jax import solvers  # noqa: E402

SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference" / "pytracking_atom_seed0"
SEQUENCES = SHARED / "data" / "sequences"
RESULTS = REPO / "benchmarks" / "results"
NUM_GN, NUM_CG = 6, 10
BACKPROPS = NUM_GN * (1 + 2 * NUM_CG)  # 126
GD_STEPS = np.logspace(-8, -4.5, 8)
GD_MOMENTA = (0.0, 0.5, 0.9, 0.95, 0.99)


# ----------------------------------------------------------------------------------------------------------
# Problems


def crossing_problem():
    with np.load(REFERENCE / "crossing_frame1.npz") as d:
        x = jnp.asarray(d["init_samples_layer3"].transpose(0, 2, 3, 1))
        y = jnp.asarray(d["init_label_y"][:, 0])
        w0 = C.weights_from_pytracking(d["filter_init"], d["projection_matrix_init"])
        w_pt = C.weights_from_pytracking(d["filter"], d["projection_matrix"])
    return {"name": "Crossing (pytracking npz)", "x": x, "y": y, "w0": w0, "pytracking_result": w_pt}


def sequence_problems(names):
    """First-frame problems built as the tracker builds them (augmented samples, labels, 1/N weights)."""
    from atom_jax import backbone, init_samples, tracker
    from atom_jax.config import TrackerConfig, derived
    from atom_jax.image import normalize
    from atom_jax.weights import load_weights
    from atom_jax.data.folders import read_folder_sequence

    weights = load_weights(REFERENCE / "atom_random_seed0.pth")
    config = TrackerConfig()
    d = derived(config)

    @jax.jit
    def build(image, box_xywh, key):
        box_xywh = jnp.asarray(box_xywh, jnp.float32)
        center = box_xywh[:2] + (box_xywh[2:] - 1) / 2
        size = box_xywh[2:]
        scale = jnp.sqrt(jnp.prod(size * config.search_area_scale) / config.max_image_sample_size)
        k_aug, k_drop, k_proj, k_filt = jax.random.split(key, 4)
        smp = init_samples.init_training_samples(config, image, center, scale, k_aug, k_drop)
        feats = backbone.backbone_features(weights["backbone"], normalize(smp.images), ("layer3",))
        x = C.normalize_features(feats["layer3"])
        x = jnp.concatenate([x, x[:1] * smp.dropout_scale[:, None, None, :]], axis=0)
        sigma = C.label_sigma(d.feature_size, d.sample_size, size / scale, config.output_sigma_factor)
        offset = center - jnp.round(center)
        y = jax.vmap(lambda s: tracker.label_for(config, sigma, offset, scale, s))(smp.shifts_xy.astype(jnp.float32))
        w0 = {"filter": C.init_filter(k_filt, config.kernel_size, config.compressed_dim),
              "projection": C.init_projection(k_proj, x, config.compressed_dim)}
        return x, y, w0

    out = []
    for i, name in enumerate(names):
        seq = read_folder_sequence(SEQUENCES / name)
        image = next(seq.images())
        x, y, w0 = build(jnp.asarray(image), seq.init_box_xywh, jax.random.PRNGKey(i))
        out.append({"name": f"{name} frame 1", "x": x, "y": y, "w0": w0})
    return out


# ----------------------------------------------------------------------------------------------------------
# Convergence


def _residual_fn(x, y):
    sw = jnp.full((x.shape[0],), 1.0 / x.shape[0], jnp.float32)
    return lambda w: C.joint_residuals(w, x, y, sw)


@jax.jit
def _gn_losses(w0, x, y):
    return C.fit_joint(w0, x, y, jnp.full((x.shape[0],), 1.0 / x.shape[0]), num_gn=NUM_GN, num_cg=NUM_CG)[1].loss


def _gd_losses(num_iter):
    def run(step, momentum, w0, x, y):
        return solvers.gradient_descent(_residual_fn(x, y), w0, num_iter=num_iter, step_length=step,
                                        momentum=momentum)[1].loss

    return jax.jit(jax.vmap(run, in_axes=(0, 0, None, None, None)))


def convergence(problem, gd, gdpp):
    x, y, w0 = problem["x"], problem["y"], problem["w0"]
    gn = np.asarray(_gn_losses(w0, x, y))
    steps, moms = np.meshgrid(GD_STEPS, GD_MOMENTA, indexing="ij")
    steps, moms = steps.ravel().astype(np.float32), moms.ravel().astype(np.float32)
    losses = np.asarray(gd(steps, moms, w0, x, y))
    final = np.where(np.isfinite(losses[:, -1]), losses[:, -1], np.inf)
    order = np.argsort(final)
    best = int(order[0])
    top = order[:3]
    losses_pp = np.asarray(gdpp(steps[top], moms[top], w0, x, y))
    final_pp = np.where(np.isfinite(losses_pp[:, -1]), losses_pp[:, -1], np.inf)
    best_pp = int(np.argmin(final_pp))
    row = {
        "problem": problem["name"],
        "initial": float(gn[0]),
        "gn_cg": {"backprops": [i * (1 + 2 * NUM_CG) for i in range(NUM_GN + 1)], "loss": gn.tolist()},
        "gd": {"step_length": float(steps[best]), "momentum": float(moms[best]),
               "loss": losses[best].tolist()},
        "gd_pp": {"step_length": float(steps[top][best_pp]), "momentum": float(moms[top][best_pp]),
                  "loss": losses_pp[best_pp].tolist()},
    }
    if "pytracking_result" in problem:
        row["pytracking_final"] = float(C.objective(_residual_fn(x, y)(problem["pytracking_result"])))
    return row


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(rows)
    cols = min(3, n)
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(4.2 * cols, 3.4 * ((n + cols - 1) // cols)),
                             squeeze=False)
    for ax, row in zip(axes.ravel(), rows):
        ax.semilogy(row["gn_cg"]["backprops"], row["gn_cg"]["loss"], "o-", label="GN-CG 6x10")
        ax.semilogy(np.arange(len(row["gd_pp"]["loss"])), row["gd_pp"]["loss"], label="GD++ (5x, tuned)")
        ax.semilogy(np.arange(len(row["gd"]["loss"])), row["gd"]["loss"], "--", lw=2.5, label="GD (tuned)")
        if "pytracking_final" in row:
            ax.axhline(row["pytracking_final"], color="k", ls=":", lw=1, label="pytracking result")
        ax.set_title(row["problem"], fontsize=9)
        ax.set_xlabel("backprop-equivalents")
        ax.set_ylabel("objective ||r||^2")
        ax.legend(fontsize=7)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ----------------------------------------------------------------------------------------------------------
# Timing


def _round_robin(fns: dict, repeats: int) -> dict:
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: {"min_s": float(np.min(v)), "median_s": float(np.median(v)), "n": len(v)} for k, v in times.items()}


def timing(problem, repeats: int, torch_repeats: int, torch_threads: int):
    import torch

    from tests.parity import torch_optim as T

    torch.set_num_threads(torch_threads)
    torch.set_flush_denormal(True)
    x, y, w0 = problem["x"], problem["y"], problem["w0"]
    n = x.shape[0]
    rng = np.random.default_rng(0)
    mem_z = jnp.asarray(rng.standard_normal((250, 18, 18, 64)), jnp.float32)
    mem_y = jnp.broadcast_to(C.gaussian_label((18, 18), 1.2, (0.5, 0.5)), (250, 18, 18))
    mem_w = jnp.full((250,), 1.0 / 250, jnp.float32)
    f0 = w0["filter"]

    jax_fns, compile_s = {}, {}
    for op in solvers.OPERATORS:
        first = jax.jit(lambda w, x, y, op=op: C.fit_joint(w, x, y, jnp.full((n,), 1.0 / n), num_gn=NUM_GN,
                                                            num_cg=NUM_CG, operator=op)[0])
        update = jax.jit(lambda f, z, yy, sw, op=op: C.fit_filter(f, z, yy, sw, None, num_cg=5, operator=op)[0])
        t = time.perf_counter()
        jax.block_until_ready(first(w0, x, y))
        compile_s[f"first_frame/{op}"] = time.perf_counter() - t
        t = time.perf_counter()
        jax.block_until_ready(update(f0, mem_z, mem_y, mem_w))
        compile_s[f"update/{op}"] = time.perf_counter() - t
        jax_fns[f"first_frame/{op}"] = lambda first=first: jax.block_until_ready(first(w0, x, y))
        jax_fns[f"update/{op}"] = lambda update=update: jax.block_until_ready(update(f0, mem_z, mem_y, mem_w))

    # Load calibration: one GEMM of the update's size (250*18*18 x 64 @ 64 x 16, 83 MMAC), same run.
    gemm = jax.jit(lambda a, b: jnp.dot(a, b))
    a2d, b2d = mem_z.reshape(-1, 64), jnp.ones((64, 16), jnp.float32)
    jax.block_until_ready(gemm(a2d, b2d))
    jax_fns["calibration/gemm_83MMAC"] = lambda: jax.block_until_ready(gemm(a2d, b2d))

    tx = torch.tensor(np.asarray(x).transpose(0, 3, 1, 2).copy())
    ty = torch.tensor(np.asarray(y)[:, None].copy())
    tsw = torch.full((1,), 1.0 / n)
    tw0 = [torch.tensor(np.asarray(w0["filter"]).transpose(3, 2, 0, 1).copy()),
           torch.tensor(np.asarray(w0["projection"]).transpose(3, 2, 0, 1).copy())]
    tz = torch.tensor(np.asarray(mem_z).transpose(0, 3, 1, 2).copy())
    tmy = torch.tensor(np.asarray(mem_y)[:, None].copy())
    tmw = torch.tensor(np.asarray(mem_w))
    torch_fns = {
        "first_frame/torch_eager": lambda: T.gauss_newton_cg(lambda w: T.factorized_residuals(w, tx, ty, tsw), tw0,
                                                             NUM_GN, NUM_CG, precond_diag=[0.1, 1e-4]),
        "update/torch_eager": lambda: T.gauss_newton_cg(lambda w: T.filter_residuals(w, tz, tmy, tmw), tw0[:1],
                                                        1, 5, fletcher_reeves=False),
    }
    # JAX first: PyTorch's OpenMP workers keep spinning after a call and would slow whatever runs next.
    res = _round_robin(jax_fns, repeats)
    for fn in torch_fns.values():  # warm-up
        fn()
    res.update(_round_robin(torch_fns, torch_repeats))
    return res, compile_s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=10, help="timed calls per JAX variant")
    ap.add_argument("--torch-repeats", type=int, default=3, help="timed calls per PyTorch variant")
    ap.add_argument("--torch-threads", type=int, default=2, help="PyTorch intra-op threads (pytracking: all cores)")
    ap.add_argument("--no-sequences", action="store_true", help="only pytracking's recorded Crossing problem")
    ap.add_argument("--sequences", nargs="*", default=["Crossing", "Couple", "Football1", "uav_wakeboard10",
                                                        "vot15_ball1"])
    args = ap.parse_args(argv)
    if not (REFERENCE / "crossing_frame1.npz").is_file():
        print(f"pytracking reference not found at {REFERENCE}", file=sys.stderr)
        return 1
    RESULTS.mkdir(parents=True, exist_ok=True)
    problems = [crossing_problem()]
    if not args.no_sequences and SEQUENCES.is_dir():
        problems += sequence_problems(args.sequences)

    gd, gdpp = _gd_losses(BACKPROPS), _gd_losses(5 * BACKPROPS)
    rows = []
    print(f"{'problem':28s} {'initial':>9s} {'GN-CG':>9s} {'GD':>9s} {'GD++':>9s} {'pytracking':>10s}  GD (step, mom)")
    for p in problems:
        row = convergence(p, gd, gdpp)
        rows.append(row)
        pt = f"{row['pytracking_final']:10.4f}" if "pytracking_final" in row else f"{'-':>10s}"
        print(f"{row['problem']:28s} {row['initial']:9.4f} {row['gn_cg']['loss'][-1]:9.4f} "
              f"{row['gd']['loss'][-1]:9.4f} {row['gd_pp']['loss'][-1]:9.4f} {pt}  "
              f"({row['gd']['step_length']:.1e}, {row['gd']['momentum']:.2f})", flush=True)
    plot(rows, RESULTS / "optimizer_convergence.png")

    times, compile_s = timing(problems[0], args.repeats, args.torch_repeats, args.torch_threads)
    print(f"\n{'variant':34s} {'min ms':>9s} {'median ms':>10s} {'vs torch (median)':>18s} {'compile s':>10s}")
    for key, t in times.items():
        kind = key.split("/")[0]
        ref = times.get(f"{kind}/torch_eager", t)["median_s"]
        comp = compile_s.get(key)
        print(f"{key:34s} {1e3 * t['min_s']:9.1f} {1e3 * t['median_s']:10.1f} {ref / t['median_s']:17.1f}x "
              f"{'' if comp is None else f'{comp:10.2f}'}")
    out = {
        "convergence": rows,
        "timing": times,
        "compile_s": compile_s,
        "targets": {"first_frame_s": 0.35, "update_s": 0.025},
        "machine": {"platform": platform.platform(), "jax": jax.__version__, "devices": str(jax.devices())},
        "torch_threads": args.torch_threads,
        "note": "wall times on a shared 2-core CPU while other jobs run; min and median of round-robin calls",
    }
    (RESULTS / "optimizer.json").write_text(json.dumps(out, indent=1))
    print(f"\nwrote {RESULTS / 'optimizer.json'} and {RESULTS / 'optimizer_convergence.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
