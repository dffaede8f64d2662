"""BatchNorm over the last (channel) axis with PyTorch's ``BatchNorm2d`` semantics.

Flax's ``nn.BatchNorm`` updates its running variance with the biased batch variance; PyTorch uses the
unbiased one (``n / (n - 1)``). This module follows PyTorch so that training runs and converted checkpoints
mean the same thing: ``eps = 1e-5``, running average weight ``momentum = 0.1`` on the new batch value.
Parameters ``scale``/``bias`` (collection ``params``), statistics ``mean``/``var`` (``batch_stats``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import flax.linen as nn

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


class BatchNorm(nn.Module):
    """``train=False``: normalise with the running statistics. ``train=True``: with the batch statistics
    (biased variance), and update the running ones (unbiased variance) when ``batch_stats`` is mutable."""

    scale_init: nn.initializers.Initializer = nn.initializers.ones

    @nn.compact
    def __call__(self, x, train: bool = False):
        features = x.shape[-1]
        scale = self.param("scale", self.scale_init, (features,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (features,), jnp.float32)
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((features,), jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((features,), jnp.float32))
        if train:
            axes = tuple(range(x.ndim - 1))
            mean = jnp.mean(x, axis=axes)
            var = jnp.mean(jnp.square(x - mean), axis=axes)
            if not self.is_initializing() and self.is_mutable_collection("batch_stats"):
                n = x.size // features
                unbiased = var * (n / max(n - 1, 1))
                ra_mean.value = (1 - BN_MOMENTUM) * ra_mean.value + BN_MOMENTUM * jax.lax.stop_gradient(mean)
                ra_var.value = (1 - BN_MOMENTUM) * ra_var.value + BN_MOMENTUM * jax.lax.stop_gradient(unbiased)
        else:
            mean, var = ra_mean.value, ra_var.value
        return (x - mean) * (scale * jax.lax.rsqrt(var + BN_EPS)) + bias
