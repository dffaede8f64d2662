"""ATOM's online target classifier (paper eq. 2-3; pytracking's ``FactorizedConvProblem`` / ``ConvProblem``).

Model: ``s(x) = phi2(conv_same(phi1(x * w1), w2))`` with the 1x1 projection ``w1`` (256 -> 64, ``phi1`` =
'none') and a 4x4 single-output filter ``w2``; ``phi2`` is the MLU/PELU activation with parameter 0.05 during
training. Scores used for localisation are the *raw* filter responses (no ``phi2``), as in pytracking.

Conventions. Activations NHWC, kernels HWIO: ``projection`` has shape ``(1, 1, C_in, C_comp)`` and
``filter`` ``(kh, kw, C_comp, 1)``; classifier weights are the dict ``{"filter": ..., "projection": ...}``.
Labels and scores have shape ``(N, H, W)``. Sample weights ``(N,)`` (pytracking: ``1/N`` for the first-frame
samples). pytracking's 'same' convolution for an even kernel pads ``k // 2`` before and ``(k - 1) // 2``
after (``((2, 1), (2, 1))`` for 4x4), which :func:`conv_same` spells out; XLA's ``'SAME'`` would shift scores
by one cell. Label centers are in feature cells relative to the map center (cell ``i`` sits at
``i - (size - 1) / 2``), (x, y) order, and include pytracking's half-cell offset for even kernels.

Residuals (objective ``||r||^2``): ``data = sqrt(w_j) * (phi2(conv_same(x_j * w1, w2)) - y_j)``,
``filter = sqrt(0.1) * w2``, ``projection = sqrt(1e-4) * w1``. :func:`fit_joint` is the first-frame
problem (both weights, Gauss-Newton, 6 x 10 CG; pytracking's settings: Fletcher-Reeves, diagonal
preconditioner ``[filter_reg, projection_reg]``); :func:`fit_filter` the update problem (filter only on the
projected memory, one linearisation, 5 CG; Polak-Ribiere, optional carried direction).

With an identity projection activation the two convolutions are applied as one: the 1x1 projection is
folded into the filter (``W = w1 @ w2``, 256 input channels), which is exact and 4x cheaper in its
derivatives; :func:`conv_same` itself is a GEMM followed by a shift-and-add over the kernel taps.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from atom_jax import solvers

Activation = tuple  # ("none",) | ("relu",) | ("elu",) | ("mlu", alpha)

RESPONSE_ACTIVATION = ("mlu", 0.05)
PROJECTION_ACTIVATION = ("none",)
FILTER_REG = 0.1
PROJECTION_REG = 1e-4


def activation(x: jax.Array, act: Activation) -> jax.Array:
    """pytracking's activations: 'none', 'relu', 'elu', and 'mlu' = ``elu(leaky_relu(x, 1/a), a)`` (PELU)."""
    kind = act[0]
    if kind == "none":
        return x
    if kind == "relu":
        return jax.nn.relu(x)
    if kind == "elu":
        return jax.nn.elu(x)
    if kind == "mlu":
        a = act[1]
        return jax.nn.elu(jax.nn.leaky_relu(x, 1.0 / a), a)
    raise ValueError(f"unknown activation {act!r}")


def same_padding(kernel_size: int) -> tuple[int, int]:
    """pytracking's 'same' padding along one axis: ``(k // 2, (k - 1) // 2)`` (``(2, 1)`` for k = 4)."""
    return kernel_size // 2, (kernel_size - 1) // 2


def conv_same(x: jax.Array, w: jax.Array) -> jax.Array:
    """Cross-correlation of ``x`` (N, H, W, C) with ``w`` (kh, kw, C, O) and pytracking's 'same' padding.

    Computed as one GEMM ``x @ w`` giving a response map per kernel tap, laid out tap-major
    ``(kh * kw, O*N, H, W)``, then each tap's map shifted into place (one ``lax.pad`` with a negative side,
    zero-filled) and the taps summed; returns (N, H, W, O). On CPU this runs, derivatives included, at about
    the cost of the GEMM, several times faster than ``lax.conv_general_dilated`` for one output channel.
    The taps are separated with ``lax.split`` and shifted one by one so that the transpose (the vjp used by
    the Gauss-Newton operator) is a concatenation of shifted copies of the cotangent: slicing them out of one
    padded tap array instead transposes to full-size zero-padded arrays per tap, ~15% slower CG iterations.
    """
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    taps = jnp.transpose(w, (0, 1, 3, 2)).reshape(kh * kw * o, c)  # rows (a, b, o); this GEMM form is fastest
    t = jnp.dot(x.reshape(-1, c), taps.T).T.reshape(kh * kw, o * n, h, wd)
    (pa, _), (pb, _) = same_padding(kh), same_padding(kw)
    zero = jnp.zeros((), t.dtype)
    out = None
    for tap, response in enumerate(jax.lax.split(t, [1] * (kh * kw), axis=0)):
        da, db = tap // kw - pa, tap % kw - pb  # out[:, i, j] += response[:, i + da, j + db]
        shifted = jax.lax.pad(response[0], zero, [(0, 0, 0), (-da, da, 0), (-db, db, 0)])
        out = shifted if out is None else out + shifted
    return jnp.moveaxis(out.reshape(o, n, h, wd), 0, -1)


def project(x: jax.Array, projection: jax.Array, act: Activation = PROJECTION_ACTIVATION) -> jax.Array:
    """1x1 projection (w1) of NHWC features: (N, H, W, C_in) -> (N, H, W, C_comp)."""
    return activation(jnp.dot(x, projection[0, 0]), act)


def compose(projection: jax.Array, filt: jax.Array) -> jax.Array:
    """The single filter equivalent to projection-then-filter when the projection activation is 'none'."""
    return jnp.einsum("ic,hwco->hwio", projection[0, 0], filt)


def scores(x_projected: jax.Array, filt: jax.Array) -> jax.Array:
    """Raw classifier scores (no response activation) of projected samples: (N, H, W, C) -> (N, H, W)."""
    return conv_same(x_projected, filt)[..., 0]


def scores_from_features(x: jax.Array, weights: dict, act: Activation = PROJECTION_ACTIVATION) -> jax.Array:
    """Raw scores of unprojected features (N, H, W, C_in) under classifier ``weights``."""
    if act[0] == "none":
        return conv_same(x, compose(weights["projection"], weights["filter"]))[..., 0]
    return scores(project(x, weights["projection"], act), weights["filter"])


def normalize_features(x: jax.Array, power: float = 2.0) -> jax.Array:
    """pytracking's feature normalisation (``normalize_power=2``): each sample divided by
    ``(mean(|x|^p) + 1e-10) ** (1/p)`` over its H, W, C (so that ``sum(x^2) = H*W*C``)."""
    m = jnp.mean(jnp.abs(x) ** power, axis=(1, 2, 3), keepdims=True)
    return x / (m + 1e-10) ** (1.0 / power)


# ----------------------------------------------------------------------------------------------------------
# Residuals and fitting


def _data_residual(s: jax.Array, labels: jax.Array, sample_weights: jax.Array, response_act: Activation):
    w = jnp.broadcast_to(sample_weights, labels.shape[:1])
    return jnp.sqrt(w)[:, None, None] * (activation(s, response_act) - labels)


def joint_residuals(
    weights: dict,
    samples: jax.Array,
    labels: jax.Array,
    sample_weights: jax.Array,
    *,
    filter_reg: float = FILTER_REG,
    projection_reg: float = PROJECTION_REG,
    response_act: Activation = RESPONSE_ACTIVATION,
    projection_act: Activation = PROJECTION_ACTIVATION,
) -> dict:
    """Residuals of the first-frame problem over ``weights = {"filter", "projection"}`` on raw samples
    (N, H, W, C_in); returns ``{"data": (N, H, W), "filter": ..., "projection": ...}``."""
    s = scores_from_features(samples, weights, projection_act)
    return {
        "data": _data_residual(s, labels, sample_weights, response_act),
        "filter": math.sqrt(filter_reg) * weights["filter"],
        "projection": math.sqrt(projection_reg) * weights["projection"],
    }


def filter_residuals(
    filt: jax.Array,
    samples_projected: jax.Array,
    labels: jax.Array,
    sample_weights: jax.Array,
    *,
    filter_reg: float = FILTER_REG,
    response_act: Activation = RESPONSE_ACTIVATION,
) -> dict:
    """Residuals of the update problem (filter only) on projected samples (N, H, W, C_comp)."""
    s = scores(samples_projected, filt)
    return {
        "data": _data_residual(s, labels, sample_weights, response_act),
        "filter": math.sqrt(filter_reg) * filt,
    }


def objective(residuals: Any) -> jax.Array:
    """``||r||^2`` of a residual pytree (the loss pytracking's optimizers report)."""
    return solvers.tree_vdot(residuals, residuals)


def fit_joint(
    weights: dict,
    samples: jax.Array,
    labels: jax.Array,
    sample_weights: jax.Array,
    *,
    num_gn: int = 6,
    num_cg: int = 10,
    operator: str = "jvp_vjp",
    filter_reg: float = FILTER_REG,
    projection_reg: float = PROJECTION_REG,
    response_act: Activation = RESPONSE_ACTIVATION,
    projection_act: Activation = PROJECTION_ACTIVATION,
) -> tuple[dict, solvers.GNStats]:
    """First-frame optimisation of filter and projection (pytracking's joint ``GaussNewtonCG``: 6 GN x 10 CG,
    Fletcher-Reeves, standard alpha, no carried direction, preconditioner ``1/filter_reg``,
    ``1/projection_reg``). Returns ``(weights, stats)``."""

    def residual_fn(wts):
        return joint_residuals(
            wts,
            samples,
            labels,
            sample_weights,
            filter_reg=filter_reg,
            projection_reg=projection_reg,
            response_act=response_act,
            projection_act=projection_act,
        )

    precond = solvers.diagonal_preconditioner({"filter": filter_reg, "projection": projection_reg})
    weights, _, stats = solvers.gauss_newton_cg(
        residual_fn,
        weights,
        num_gn=num_gn,
        num_cg=num_cg,
        operator=operator,
        fletcher_reeves=True,
        standard_alpha=True,
        forget_factor=0.0,
        preconditioner=precond,
    )
    return weights, stats


def fit_filter(
    filt: jax.Array,
    samples_projected: jax.Array,
    labels: jax.Array,
    sample_weights: jax.Array,
    cg_state: solvers.CGState | None = None,
    *,
    num_cg: int = 5,
    forget_factor: float | jax.Array = 0.0,
    fletcher_reeves: bool = False,
    operator: str = "jvp_vjp",
    filter_reg: float = FILTER_REG,
    response_act: Activation = RESPONSE_ACTIVATION,
    final_stats: bool = False,
) -> tuple[jax.Array, solvers.CGState, solvers.GNStats]:
    """Filter update on the (projected) memory: pytracking's ``ConjugateGradient`` on ``ConvProblem``
    (one linearisation, ``num_cg`` CG iterations, Polak-Ribiere by default). The CG state carries the
    search direction between updates when ``forget_factor != 0`` (pytracking's default is 0).
    Returns ``(filter, cg_state, stats)``; ``final_stats=False`` saves one residual evaluation."""

    def residual_fn(f):
        return filter_residuals(
            f, samples_projected, labels, sample_weights, filter_reg=filter_reg, response_act=response_act
        )

    return solvers.gauss_newton_cg(
        residual_fn,
        filt,
        num_gn=1,
        num_cg=num_cg,
        operator=operator,
        cg_state=cg_state,
        fletcher_reeves=fletcher_reeves,
        standard_alpha=True,
        forget_factor=forget_factor,
        final_stats=final_stats,
    )


# ----------------------------------------------------------------------------------------------------------
# Initialisation and labels


def init_filter(key: jax.Array, kernel_hw=(4, 4), channels: int = 64, method: str = "randn") -> jax.Array:
    """pytracking's filter init: zeros, or 'randn' with standard deviation ``1 / numel``; HWIO ``(kh, kw, C, 1)``."""
    shape = (kernel_hw[0], kernel_hw[1], channels, 1)
    if method == "zeros":
        return jnp.zeros(shape, jnp.float32)
    if method == "randn":
        return jax.random.normal(key, shape, jnp.float32) / math.prod(shape)
    raise ValueError(f"unknown filter init method {method!r}")


def init_projection(key: jax.Array, samples: jax.Array, compressed_dim: int = 64, method: str = "randn") -> jax.Array:
    """pytracking's projection init from the raw first-frame samples (N, H, W, C_in); HWIO ``(1, 1, C_in, C_comp)``.

    'randn' (ATOM's default): i.i.d. normal with standard deviation ``1/sqrt(C_in)`` (``samples`` only gives the
    shape). 'pca': the leading ``compressed_dim`` left singular vectors of the centred feature covariance
    (``C_in x C_in``), i.e. principal directions; their signs are arbitrary.
    """
    c = samples.shape[-1]
    if method == "randn":
        return jax.random.normal(key, (1, 1, c, compressed_dim), jnp.float32) / math.sqrt(c)
    if method == "pca":
        xm = samples.reshape(-1, c)
        xm = xm - jnp.mean(xm, axis=0, keepdims=True)
        cov = jnp.dot(xm.T, xm, precision=jax.lax.Precision.HIGHEST)
        u, _, _ = jnp.linalg.svd(cov)
        return u[:, :compressed_dim][None, None]
    raise ValueError(f"unknown projection init method {method!r}")


def label_sigma(feature_wh, support_wh, base_target_wh, output_sigma_factor: float = 0.25) -> float | jax.Array:
    """Gaussian label sigma in feature cells: ``sqrt(prod(feature / support * base_target_size)) * factor``."""
    ratio = jnp.asarray(feature_wh, jnp.float32) / jnp.asarray(support_wh, jnp.float32)
    return jnp.sqrt(jnp.prod(ratio * jnp.asarray(base_target_wh, jnp.float32))) * output_sigma_factor


def label_center_xy(offset_xy, sample_scale, support_wh, feature_wh, kernel_wh=(4, 4)) -> jax.Array:
    """Label center (feature cells from the map center, (x, y)) for a target ``offset_xy`` pixels (image
    coordinates) away from the sample center, a sample of ``sample_scale * support_wh`` image pixels, plus
    pytracking's ``0.5 * ((k + 1) % 2)`` offset for even kernels."""
    feature_wh = jnp.asarray(feature_wh, jnp.float32)
    norm = jnp.asarray(offset_xy, jnp.float32) / (sample_scale * jnp.asarray(support_wh, jnp.float32))
    even = jnp.asarray([(kernel_wh[0] + 1) % 2, (kernel_wh[1] + 1) % 2], jnp.float32)
    return feature_wh * norm + 0.5 * even


def gaussian_label(output_hw, sigma, center_xy) -> jax.Array:
    """Separable Gaussian ``exp(-d^2 / (2 sigma^2))`` on an ``output_hw`` grid whose cell ``i`` sits at
    ``i - (size - 1) / 2`` (pytracking's ``label_function_spatial``); ``sigma`` scalar or (sx, sy)."""
    h, w = output_hw
    sigma = jnp.broadcast_to(jnp.asarray(sigma, jnp.float32), (2,))
    center_xy = jnp.asarray(center_xy, jnp.float32)
    ky = jnp.arange(h, dtype=jnp.float32) - (h - 1) / 2
    kx = jnp.arange(w, dtype=jnp.float32) - (w - 1) / 2
    gy = jnp.exp(-0.5 / sigma[1] ** 2 * (ky - center_xy[1]) ** 2)
    gx = jnp.exp(-0.5 / sigma[0] ** 2 * (kx - center_xy[0]) ** 2)
    return gy[:, None] * gx[None, :]


def weights_from_pytracking(filter_oihw, projection_oihw) -> dict:
    """pytracking's ``filter`` (1, C, kh, kw) and ``projection_matrix`` (C_comp, C_in, 1, 1) as HWIO weights."""
    return {
        "filter": jnp.asarray(np.transpose(np.asarray(filter_oihw), (2, 3, 1, 0))),
        "projection": jnp.asarray(np.transpose(np.asarray(projection_oihw), (2, 3, 1, 0))),
    }
