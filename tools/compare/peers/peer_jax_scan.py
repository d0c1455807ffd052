"""JAX: a whole epoch as one jitted ``lax.scan`` over the batches (epochs only)."""
import jax
import jax.numpy as jnp

from compare.peers.peer_jax_jit import JaxJit


class JaxScan(JaxJit):
    def __init__(self, sizes, acts, dtype, lr):
        super().__init__(sizes, acts, dtype, lr)
        step = self.traced_step

        def epoch(P, Xb, Tb, Xr, Tr):
            P, _ = jax.lax.scan(lambda P, xt: (step(P, *xt), None), P, (Xb, Tb))
            if Xr.shape[0]:  # the last, smaller batch
                P = step(P, Xr, Tr)
            return P

        self.epoch_fn = jax.jit(epoch, donate_argnums=0)

    def batches(self, X, T, batch, n):
        """The full batches stacked (k, batch, features), then the rest."""
        def make():
            full = n // batch * batch
            d_in, d_out = X.shape[1], T.shape[1]
            return (jnp.asarray(X[:full].reshape(-1, batch, d_in)),
                    jnp.asarray(T[:full].reshape(-1, batch, d_out)),
                    jnp.asarray(X[full:n]), jnp.asarray(T[full:n]))

        return self.cached((id(X), id(T), batch, n), make)

    def epoch(self, X, T, batch, n):
        self.P = self.epoch_fn(self.P, *self.batches(X, T, batch, n))
