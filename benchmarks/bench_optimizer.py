"""Online optimisation study (paper Sec. 4.2, Table 2's GD / GD++ rows, extended with optax's L-BFGS and Adam)
on the features the tracker runs on, and optimizer wall times.

1. Objective against backprop-equivalents for each optimizer at equal budgets, on two kinds of problem:
   * first frame (filter + projection): pytracking's own recorded Crossing problem (ResNet-18), and the first
     frame of validation sequences with the built-in Lite0 weights' features (the tracker's own augmented
     samples, labels and 'randn' start); budget B = 126 (6 GN x 10 CG, 21 backprops per GN iteration);
   * update (filter over the sample memory): the memory and filter of real runs of the default tracker at
     frame t (built-in weights); budget B = 11 (one linearisation, 5 CG).
   Each optimizer runs to 5 B: GN-CG (more GN iterations at the first frame, more CG per update), GD (step
   and momentum tuned per problem on a grid, best objective at B), GD++ (the three best GD settings re-tuned
   at 5 B), optax L-BFGS (its default zoom line search; its backprops are its evaluations) and optax Adam
   (learning rate tuned per problem, at B and at 5 B). Same start point for all.
2. Wall time on this CPU, jitted JAX (compile time separate) vs an eager PyTorch implementation with
   pytracking's semantics (``tests/parity/torch_optim.py``) in the same run: the first-frame optimisation
   (6 GN x 10 CG, 30 samples of 18 x 18 x 256) and one update (5 CG over a full 250-sample memory of
   18 x 18 x 64) for each operator strategy. Variants are timed round-robin; min and median per call.
   A GEMM of the update's size is timed in the same rounds as a load calibration (the machine is shared).

    python -m benchmarks.bench_optimizer [--repeats 10] [--no-timing] [--quick]

Writes benchmarks/results/optimizer.json, optimizer_convergence.png (objective curves) and
optimizer_budget.png (objective at B and 5 B relative to the start).
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
from atom_jax import optimizers, solvers  # noqa: E402

SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference" / "pytracking_atom_seed0"
TRAIN = SHARED / "data" / "train"
RESULTS = REPO / "benchmarks" / "results"
NUM_GN, NUM_CG = 6, 10
BUDGET = {"first_frame": NUM_GN * (1 + 2 * NUM_CG), "update": 1 + 2 * 5}  # 126, 11
GD_STEPS = np.logspace(-8, -3, 6)
GD_MOMENTA = (0.5, 0.9, 0.95)
ADAM_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)
FIRST_FRAME_SEQUENCES = ("Biker", "Girl", "uav_car14", "vot14_basketball", "vot14_gymnastics", "vot14_woman")
UPDATE_SEQUENCES = ("Biker", "vot14_basketball", "vot14_woman")
UPDATE_FRAMES = (30, 60, 90)
ORDER = ("gn_cg", "gd", "gd_pp", "lbfgs", "adam")


# ----------------------------------------------------------------------------------------------------------
# Problems: a residual function's data and its start point


def _joint(x, y):
    sw = jnp.full((x.shape[0],), 1.0 / x.shape[0], jnp.float32)
    return lambda w: C.joint_residuals(w, x, y, sw)


def crossing_problem():
    with np.load(REFERENCE / "crossing_frame1.npz") as d:
        x = jnp.asarray(d["init_samples_layer3"].transpose(0, 2, 3, 1))
        y = jnp.asarray(d["init_label_y"][:, 0])
        w0 = C.weights_from_pytracking(d["filter_init"], d["projection_matrix_init"])
    return {"name": "Crossing frame 1 (pytracking, ResNet-18)", "kind": "first_frame", "data": (x, y), "w0": w0}


def first_frame_problems(names, weights, config):
    """First-frame problems built as ``atom_jax.tracker.init`` builds them (augmented samples, dropout copies,
    shifted labels, 1/N weights, the 'randn' start)."""
    from atom_jax import tracker
    from atom_jax.config import derived
    from atom_jax.data.registry import load_dataset
    from atom_jax.init_samples import init_training_samples

    d = derived(config)

    @jax.jit
    def build(image, box_xywh, key):
        center, size = box_xywh[:2] + (box_xywh[2:] - 1) / 2, box_xywh[2:]
        scale = jnp.sqrt(jnp.prod(size * config.search_area_scale) / config.max_image_sample_size)
        k_aug, k_drop, k_proj, k_filt = jax.random.split(key, 4)
        smp = init_training_samples(config, image, center, scale, k_aug, k_drop)
        _, x = tracker._features(weights, config, smp.images)
        x = jnp.concatenate([x, x[:1] * smp.dropout_scale[:, None, None, :]], axis=0)
        sigma = C.label_sigma(d.feature_size, d.sample_size, size / scale, config.output_sigma_factor)
        offset = center - jnp.round(center)
        y = jax.vmap(lambda s: tracker.label_for(config, sigma, offset, scale, s))(smp.shifts_xy.astype(jnp.float32))
        w0 = {"filter": C.init_filter(k_filt, config.kernel_size, config.compressed_dim),
              "projection": C.init_projection(k_proj, x, config.compressed_dim)}
        return x, y, w0

    out = []
    for i, seq in enumerate(load_dataset("generic", TRAIN, list(names))):
        x, y, w0 = build(jnp.asarray(seq.frame(0)), jnp.asarray(seq.init_box_xywh, jnp.float32),
                         jax.random.PRNGKey(i))
        out.append({"name": f"{seq.name} frame 1 (Lite0)", "kind": "first_frame", "data": (x, y), "w0": w0})
    return out


def update_problems(names, frames, weights_name=None):
    """The filter problem of real runs of the default tracker (built-in weights): its sample memory and
    filter after frame t, for each t in ``frames``."""
    from atom_jax.data.registry import load_dataset
    from track.api import make_tracker

    out = []
    for seq in load_dataset("generic", TRAIN, list(names)):
        trk = make_tracker(weights_name)
        images = seq.images()
        trk.initialize(next(images), seq.init_box_xywh)
        for t, image in enumerate(images, start=1):
            trk.update(image)
            if t in frames:
                mem, filt = trk.state.memory, trk.state.filter
                data = tuple(jnp.asarray(np.asarray(a)) for a in (mem.samples, mem.labels, mem.weights))
                out.append({"name": f"{seq.name} frame {t} update (Lite0)", "kind": "update", "data": data,
                            "w0": jnp.asarray(np.asarray(filt)), "stored": int(mem.num_stored)})
            if t >= max(frames):
                break
    return out


def residual_fn(problem):
    if problem["kind"] == "first_frame":
        return _joint(*problem["data"])
    z, y, sw = problem["data"]
    return lambda f: C.filter_residuals(f, z, y, sw)


# ----------------------------------------------------------------------------------------------------------
# Objective curves


def _loss_curve(stats) -> tuple[list, list]:
    """(cumulative backprops, objective) at each outer iteration's start and at the result."""
    bp = np.concatenate([[0.0], np.cumsum(np.asarray(stats.backprops, np.float64))])
    return bp.tolist(), np.asarray(stats.loss, np.float64).tolist()


def _gn(problem, scale: int):
    """GN-CG to ``scale`` times the budget: first frame, scale x 6 GN iterations of 10 CG; update, one GN
    iteration with each CG count up to 5 * scale (11 * scale backprops), one run per count."""
    fn = residual_fn(problem)
    if problem["kind"] == "first_frame":
        opt = optimizers.GaussNewtonCG(NUM_GN * scale, NUM_CG, preconditioner=(("filter", 0.1), ("projection", 1e-4)))
        stats = jax.jit(lambda w: opt(fn, w, opt.init(w))[2])(problem["w0"])
        return _loss_curve(stats)
    bp, loss = [0.0], []
    for k in sorted({1, 2, 3, 5, 8, 12, 17, 22, 27}):
        if 1 + 2 * k > BUDGET["update"] * scale:
            break
        opt = optimizers.GaussNewtonCG(1, k, fletcher_reeves=False, final_stats="loss")
        st = jax.jit(lambda w, opt=opt: opt(fn, w, opt.init(w))[2])(problem["w0"])
        loss = loss or [float(st.loss[0])]
        bp.append(1 + 2 * k)
        loss.append(float(st.loss[-1]))
    return bp, loss


def _at(bp, loss, budget) -> float:
    """The objective reached within ``budget`` backprops (the last point not beyond it)."""
    bp, loss = np.asarray(bp), np.asarray(loss)
    return float(loss[bp <= budget + 1e-9][-1])


def _grid(problem, make, settings, num_iter):
    """Losses (settings, num_iter + 1) of ``make(setting)`` optimizers, vmapped over the settings."""
    fn = residual_fn(problem)

    def run(setting):
        return make(setting, num_iter)(fn, problem["w0"], ())[2].loss

    return np.asarray(jax.jit(jax.vmap(run))(jnp.asarray(settings, jnp.float32)))


def _finite_best(losses, at):
    final = np.where(np.isfinite(losses[:, at]), losses[:, at], np.inf)
    return np.argsort(final)


def convergence(problem, scale: int = 5):
    import optax

    budget = BUDGET[problem["kind"]]
    fn = residual_fn(problem)
    row = {"problem": problem["name"], "kind": problem["kind"], "budget": budget}
    bp, loss = _gn(problem, scale)
    row["gn_cg"] = {"backprops": bp, "loss": loss}
    row["initial"] = loss[0]

    steps, moms = (a.ravel() for a in np.meshgrid(GD_STEPS, GD_MOMENTA, indexing="ij"))
    gd = lambda s, n: optimizers.GradientDescentL2(n, s[0], s[1])
    losses = _grid(problem, gd, np.stack([steps, moms], 1), budget)
    order = _finite_best(losses, budget)
    best = int(order[0])
    row["gd"] = {"step_length": float(steps[best]), "momentum": float(moms[best]),
                 "backprops": list(range(budget + 1)), "loss": losses[best].tolist()}
    top = order[:3]
    losses_pp = _grid(problem, gd, np.stack([steps[top], moms[top]], 1), scale * budget)
    best_pp = int(_finite_best(losses_pp, scale * budget)[0])
    row["gd_pp"] = {"step_length": float(steps[top][best_pp]), "momentum": float(moms[top][best_pp]),
                    "backprops": list(range(scale * budget + 1)), "loss": losses_pp[best_pp].tolist()}

    adam = lambda s, n: optimizers.Optax(optax.adam(s[0]), n)
    losses_adam = _grid(problem, adam, np.asarray(ADAM_RATES)[:, None], scale * budget)
    b1, b5 = int(_finite_best(losses_adam, budget)[0]), int(_finite_best(losses_adam, scale * budget)[0])
    row["adam"] = {"learning_rate": ADAM_RATES[b1], "learning_rate_5x": ADAM_RATES[b5],
                   "backprops": list(range(scale * budget + 1)), "loss": losses_adam[b1].tolist(),
                   "loss_5x": losses_adam[b5].tolist(),
                   "final_by_rate": {str(r): float(losses_adam[i, budget]) for i, r in enumerate(ADAM_RATES)}}

    lbfgs = optimizers.Optax(optax.lbfgs(), scale * budget)
    st = jax.jit(lambda w: lbfgs(fn, w, ())[2])(problem["w0"])
    bp, loss = _loss_curve(st)
    row["lbfgs"] = {"backprops": bp, "loss": loss}

    row["at_budget"] = {
        "gn_cg": _at(row["gn_cg"]["backprops"], row["gn_cg"]["loss"], budget),
        "gd": row["gd"]["loss"][budget],
        "lbfgs": _at(bp, loss, budget),
        "adam": row["adam"]["loss"][budget],
    }
    row["at_5x_budget"] = {
        "gn_cg": _at(row["gn_cg"]["backprops"], row["gn_cg"]["loss"], scale * budget),
        "gd_pp": row["gd_pp"]["loss"][-1],
        "lbfgs": _at(bp, loss, scale * budget),
        "adam": row["adam"]["loss_5x"][-1],
    }
    return row


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(rows)
    cols = min(4, n)
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.0 * cols, 3.2 * nrows), squeeze=False)
    for ax, row in zip(axes.ravel(), rows):
        ax.semilogy(row["gn_cg"]["backprops"], row["gn_cg"]["loss"], "o-", ms=3, label="GN-CG")
        ax.semilogy(row["gd_pp"]["backprops"], row["gd_pp"]["loss"], label="GD++ (tuned at 5B)")
        ax.semilogy(row["gd"]["backprops"], row["gd"]["loss"], "--", lw=2, label="GD (tuned at B)")
        ax.semilogy(row["lbfgs"]["backprops"], row["lbfgs"]["loss"], label="optax L-BFGS")
        ax.semilogy(row["adam"]["backprops"], row["adam"]["loss_5x"], label="optax Adam (tuned)")
        ax.axvline(row["budget"], color="k", ls=":", lw=1)
        ax.set_title(row["problem"], fontsize=8)
        ax.set_xlabel("backprop-equivalents (B dotted)", fontsize=8)
        ax.set_ylabel("objective ||r||^2", fontsize=8)
        ax.legend(fontsize=6)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_budget(rows, path):
    """Per optimizer, the objective reached at B and 5 B relative to the start, per problem kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = ("first_frame", "update")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, kind in zip(axes, kinds):
        sel = [r for r in rows if r["kind"] == kind]
        for j, (key, label) in enumerate((("at_budget", "B"), ("at_5x_budget", "5 B"))):
            names = list(sel[0][key]) if sel else []
            rel = [[r[key][nm] / r["initial"] for r in sel] for nm in names]
            pos = np.arange(len(names)) + (j - 0.5) * 0.38
            ax.bar(pos, [np.exp(np.mean(np.log(v))) for v in rel], width=0.36, label=f"at {label}")
            for p, v in zip(pos, rel):
                ax.plot([p] * len(v), v, "k.", ms=3)
            for p, nm in zip(pos, names):
                ax.text(p, 1.02, nm, rotation=90, fontsize=7, ha="center", va="bottom",
                        transform=ax.get_xaxis_transform())
        ax.set_yscale("log")
        ax.set_xticks([])
        ax.set_ylabel("objective / initial objective")
        ax.set_title(f"{kind.replace('_', ' ')} problems (geometric mean, dots: problems)", fontsize=9, pad=48)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


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
    (x, y), w0 = problem["data"], problem["w0"]
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


def _thin(row: dict, points: int = 160) -> dict:
    """The row with long curves thinned to about ``points`` points (for the JSON file) and 5 digits."""
    out = {}
    for key, value in row.items():
        if isinstance(value, dict) and "loss" in value:
            value = dict(value)
            n = len(value["loss"])
            keep = np.unique(np.r_[np.linspace(0, n - 1, min(n, points)).round().astype(int), n - 1])
            for k in ("backprops", "loss", "loss_5x"):
                if k in value and len(value[k]) == n:
                    value[k] = [float(f"{value[k][i]:.5g}") for i in keep]
        out[key] = value
    return out


def table(rows) -> str:
    cols = [("at_budget", "gn_cg"), ("at_budget", "gd"), ("at_budget", "lbfgs"), ("at_budget", "adam"),
            ("at_5x_budget", "gn_cg"), ("at_5x_budget", "gd_pp"), ("at_5x_budget", "lbfgs"),
            ("at_5x_budget", "adam")]
    head = "| problem | B | initial | " + " | ".join(f"{n} @{'B' if k == 'at_budget' else '5B'}" for k, n in cols)
    lines = [head + " |", "|" + "---|" * (3 + len(cols))]
    for r in rows:
        vals = " | ".join(f"{r[k][n]:.4g}" for k, n in cols)
        lines.append(f"| {r['problem']} | {r['budget']} | {r['initial']:.4g} | {vals} |")
    for kind in ("first_frame", "update"):
        sel = [r for r in rows if r["kind"] == kind]
        if sel:
            gm = " | ".join(f"{np.exp(np.mean([np.log(r[k][n] / r['initial']) for r in sel])):.3f}" for k, n in cols)
            lines.append(f"| {kind} (geometric mean of objective / initial, {len(sel)} problems) | | 1 | {gm} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from train.configs.lite0 import VAL_NAMES

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=10, help="timed calls per JAX variant")
    ap.add_argument("--torch-repeats", type=int, default=3, help="timed calls per PyTorch variant")
    ap.add_argument("--torch-threads", type=int, default=2, help="PyTorch intra-op threads (pytracking: all cores)")
    ap.add_argument("--no-timing", action="store_true", help="only the objective study (keeps the JSON's timing)")
    ap.add_argument("--first-frames", default=",".join(FIRST_FRAME_SEQUENCES),
                    help="validation sequences whose first frame is a problem (empty: none)")
    ap.add_argument("--updates", default=",".join(UPDATE_SEQUENCES), help="validation sequences run for updates")
    ap.add_argument("--update-frames", default=",".join(map(str, UPDATE_FRAMES)), help="frames t of the updates")
    ap.add_argument("--quick", action="store_true", help="one first-frame and one update problem (a smoke run)")
    args = ap.parse_args(argv)
    if not (REFERENCE / "crossing_frame1.npz").is_file():
        print(f"pytracking reference not found at {REFERENCE}", file=sys.stderr)
        return 1
    first = [n for n in args.first_frames.split(",") if n]
    updates = [n for n in args.updates.split(",") if n]
    frames = tuple(int(t) for t in args.update_frames.split(",") if t)
    if args.quick:
        first, updates, frames = first[:1], updates[:1], frames[:1]
    bad = sorted(set(first + updates) - set(VAL_NAMES))
    if bad:
        print(f"not validation sequences (train.configs.lite0.VAL_NAMES): {bad}", file=sys.stderr)
        return 1
    RESULTS.mkdir(parents=True, exist_ok=True)
    problems = [crossing_problem()]
    if TRAIN.is_dir():
        from track.api import prepare

        weights, config = prepare(None)  # the built-in weights and their settings (Lite0)
        problems += first_frame_problems(first, weights, config)
        problems += update_problems(updates, frames)
    else:
        print(f"training sequences not found at {TRAIN}: only the Crossing problem", file=sys.stderr)

    rows = []
    for p in problems:
        t0 = time.perf_counter()
        row = convergence(p)
        rows.append(row)
        print(f"{row['problem']:40s} initial {row['initial']:.4g}  @B " +
              "  ".join(f"{k} {v:.4g}" for k, v in row["at_budget"].items()) + "  @5B " +
              "  ".join(f"{k} {v:.4g}" for k, v in row["at_5x_budget"].items()) +
              f"  (GD {row['gd']['step_length']:.0e}/{row['gd']['momentum']}, Adam {row['adam']['learning_rate']:g}; "
              f"{time.perf_counter() - t0:.0f} s)", flush=True)
    print("\n" + table(rows))
    plot(rows, RESULTS / "optimizer_convergence.png")
    plot_budget(rows, RESULTS / "optimizer_budget.png")

    path = RESULTS / "optimizer.json"
    out = json.loads(path.read_text()) if args.no_timing and path.is_file() else {}
    out.update({"convergence": [_thin(r) for r in rows], "table": table(rows),
                "machine": {"platform": platform.platform(), "jax": jax.__version__, "devices": str(jax.devices())}})
    if not args.no_timing:
        times, compile_s = timing(problems[0], args.repeats, args.torch_repeats, args.torch_threads)
        print(f"\n{'variant':34s} {'min ms':>9s} {'median ms':>10s} {'vs torch (median)':>18s} {'compile s':>10s}")
        for key, t in times.items():
            kind = key.split("/")[0]
            ref = times.get(f"{kind}/torch_eager", t)["median_s"]
            comp = compile_s.get(key)
            print(f"{key:34s} {1e3 * t['min_s']:9.1f} {1e3 * t['median_s']:10.1f} {ref / t['median_s']:17.1f}x "
                  f"{'' if comp is None else f'{comp:10.2f}'}")
        out.update({"timing": times, "compile_s": compile_s, "targets": {"first_frame_s": 0.35, "update_s": 0.025},
                    "torch_threads": args.torch_threads,
                    "note": "wall times on a shared 2-core CPU while other jobs run; min and median of round-robin "
                            "calls"})
    path.write_text(json.dumps(out))
    print(f"\nwrote {path}, {RESULTS / 'optimizer_convergence.png'} and {RESULTS / 'optimizer_budget.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
