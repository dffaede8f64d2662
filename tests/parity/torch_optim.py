"""ATOM's online optimisation written in eager PyTorch with pytracking's semantics: the reference that the
parity tests and ``benchmarks/bench_optimizer.py`` compare the JAX solvers against.

Layouts are pytracking's: samples NCHW, ``filt`` (1, C, kh, kw), ``proj`` (C_comp, C_in, 1, 1). The
residual functions return lists of tensors (data term, then regularisers). :func:`gauss_newton_cg`
is Algorithm 1 of the paper with the operator built by autograd's double backprop (``J^T u`` with a
graph, differentiated again w.r.t. ``u`` for ``J p``), the CG loop of pytracking's
``ConjugateGradientBase`` (Fletcher-Reeves or Polak-Ribiere clamped at 0, standard alpha, forgetting factor,
diagonal preconditioner) and plain sums as inner products.

This module is a helper for tests and benchmarks (imported as ``tests.parity.torch_optim``), not a test.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def mlu(x, a: float = 0.05):
    return F.elu(F.leaky_relu(x, 1.0 / a), a)


def conv_same(x, w):
    """pytracking's 'same' conv: pad k // 2 on both sides, then drop the last row/column for even k."""
    kh, kw = w.shape[-2:]
    out = F.conv2d(x, w, padding=(kh // 2, kw // 2))
    return out[:, :, : x.shape[2], : x.shape[3]]


def factorized_residuals(params, samples, labels, sample_weights, filter_reg=0.1, projection_reg=1e-4):
    filt, proj = params
    compressed = F.conv2d(samples, proj)
    data = mlu(conv_same(compressed, filt)) - labels
    data = sample_weights.sqrt().view(-1, 1, 1, 1) * data
    return [data, math.sqrt(filter_reg) * filt, math.sqrt(projection_reg) * proj]


def filter_residuals(params, samples, labels, sample_weights, filter_reg=0.1):
    (filt,) = params
    data = sample_weights.sqrt().view(-1, 1, 1, 1) * (mlu(conv_same(samples, filt)) - labels)
    return [data, math.sqrt(filter_reg) * filt]


def _ip(a, b):
    return sum((x * y).sum() for x, y in zip(a, b))


class CGMemory:
    """The direction carried between CG calls (pytracking keeps it on the optimizer object)."""

    def __init__(self):
        self.p = None
        self.rho = torch.ones(())
        self.r_prev = None


def run_cg(matvec, b, num_iter, mem: CGMemory, fletcher_reeves=True, forget_factor=0.0, precond_diag=None):
    """pytracking's CG loop from ``x = 0``; returns ``(x, alphas, betas)``."""
    if forget_factor == 0:
        mem.p, mem.rho, mem.r_prev = None, torch.ones(()), None
    elif mem.p is not None:
        mem.rho = mem.rho / forget_factor
    r = [t.clone() for t in b]
    x = None
    alphas, betas = [], []
    for _ in range(num_iter):
        z = r if precond_diag is None else [t / d for t, d in zip(r, precond_diag)]
        rho1 = mem.rho
        mem.rho = _ip(r, z)
        if mem.rho.abs() == 0:
            break
        if mem.p is None:
            mem.p = [t.clone() for t in z]
            beta = torch.zeros(())
        else:
            beta = mem.rho / rho1 if fletcher_reeves else (mem.rho - _ip(mem.r_prev, z)) / rho1
            beta = beta.clamp(min=0)
            mem.p = [zi + beta * pi for zi, pi in zip(z, mem.p)]
        q = matvec(mem.p)
        alpha = mem.rho / _ip(mem.p, q)
        if not fletcher_reeves:
            mem.r_prev = [t.clone() for t in r]
        x = [alpha * pi for pi in mem.p] if x is None else [xi + alpha * pi for xi, pi in zip(x, mem.p)]
        r = [ri - alpha * qi for ri, qi in zip(r, q)]
        alphas.append(float(alpha))
        betas.append(float(beta))
    if x is None:
        x = [torch.zeros_like(t) for t in b]
    return x, alphas, betas


def gauss_newton_cg(residual_fn, params, num_gn, num_cg, fletcher_reeves=True, forget_factor=0.0,
                    precond_diag=None, mem: CGMemory | None = None):
    """Algorithm 1 with double backprop. Returns ``(params, losses)``: loss before each GN iteration and at
    the end. ``mem`` carries the CG direction across calls."""
    mem = CGMemory() if mem is None else mem
    x = [p.detach().clone() for p in params]
    losses = []
    for _ in range(num_gn):
        for t in x:
            t.requires_grad_(True)
        f0 = residual_fn(x)
        g = [t.detach().clone().requires_grad_(True) for t in f0]
        losses.append(float(_ip(f0, f0).detach()))
        h = torch.autograd.grad(f0, x, g, create_graph=True)

        def matvec(p):
            jp = torch.autograd.grad(h, g, p, retain_graph=True)
            return [t.detach() for t in torch.autograd.grad(f0, x, jp, retain_graph=True)]

        b = [-t.detach() for t in h]
        dx, _, _ = run_cg(matvec, b, num_cg, mem, fletcher_reeves, forget_factor, precond_diag)
        x = [(xi.detach() + di).detach() for xi, di in zip(x, dx)]
    with torch.no_grad():
        f = residual_fn(x)
        losses.append(float(_ip(f, f)))
    return x, losses


def gradient_descent(residual_fn, params, num_iter, step_length, momentum=0.0):
    """pytracking's ``GradientDescentL2``; returns ``(params, losses)``."""
    x = [p.detach().clone() for p in params]
    d = None
    losses = []
    for _ in range(num_iter):
        for t in x:
            t.requires_grad_(True)
        f = residual_fn(x)
        loss = _ip(f, f)
        grad = torch.autograd.grad(loss, x)
        d = list(grad) if d is None else [gi + momentum * di for gi, di in zip(grad, d)]
        x = [(xi - step_length * di).detach() for xi, di in zip(x, d)]
        losses.append(float(loss.detach()))
    with torch.no_grad():
        f = residual_fn(x)
        losses.append(float(_ip(f, f)))
    return x, losses
