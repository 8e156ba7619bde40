"""Time DeepMind's ``mctx`` MuZero search on CPU, for comparison with zeroplan.

The network is a tiny MuZero-like MLP whose weights are plain numpy float32
arrays (see :func:`make_weights`); the same dict can drive zeroplan's torch
model, so both engines search with exactly the same function:

* recurrent step ``(latent [B, L], action [B])``::

      x = concat(latent, one_hot(action, A))
      h = relu(x @ W_d1 + b_d1); h = relu(h @ W_d2 + b_d2)
      out = h @ W_d3 + b_d3                      # L + 1 columns
      next_latent = tanh(out[:, :L]); reward = out[:, L]

* prediction ``(latent [B, L])``::

      h = relu(latent @ W_p1 + b_p1); h = relu(h @ W_p2 + b_p2)
      out = h @ W_p3 + b_p3                      # A + 1 columns
      prior_logits = out[:, :A]; value = tanh(out[:, A])

``jax`` and ``mctx`` are imported lazily, inside the functions that need them,
so :func:`make_weights` and the numpy reference functions work without them.
Before the first import of jax this module asks for the CPU platform and no
memory preallocation (environment variables, only set if jax has not been
imported yet); the search itself is additionally pinned to the CPU device.

Run ``python benchmarks/mctx_timing.py`` for a small demo table.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

import numpy as np

if "jax" not in sys.modules:  # env vars only matter before jax's first import
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

__all__ = [
    "DISCOUNT",
    "POLICIES",
    "make_weights",
    "make_latents",
    "prediction_np",
    "recurrent_np",
    "build_search",
    "time_mctx",
    "tree_depths",
]

DISCOUNT = 0.997
PB_C_INIT = 1.25
PB_C_BASE = 19652
MAX_NUM_CONSIDERED_ACTIONS = 16
POLICIES = ("puct", "gumbel")

_WEIGHT_KEYS = (
    "W_d1", "b_d1", "W_d2", "b_d2", "W_d3", "b_d3",
    "W_p1", "b_p1", "W_p2", "b_p2", "W_p3", "b_p3",
)


# --------------------------------------------------------------------------
# Weights and a numpy reference of the network (no jax needed)
# --------------------------------------------------------------------------

def make_weights(
    num_actions: int, latent: int = 64, hidden: int = 64, seed: int = 0
) -> dict[str, np.ndarray]:
    """Random float32 weights for the tiny MLP.

    Matrices are ``normal / sqrt(fan_in)``; biases are ``normal * 0.01``.
    Shapes: W_d1 [L+A, H], W_d2 [H, H], W_d3 [H, L+1], W_p1 [L, H],
    W_p2 [H, H], W_p3 [H, A+1], each bias matching its matrix's columns.
    """
    if num_actions < 1 or latent < 1 or hidden < 1:
        raise ValueError("num_actions, latent and hidden must be positive")
    rng = np.random.default_rng(seed)
    shapes = {
        "d1": (latent + num_actions, hidden),
        "d2": (hidden, hidden),
        "d3": (hidden, latent + 1),
        "p1": (latent, hidden),
        "p2": (hidden, hidden),
        "p3": (hidden, num_actions + 1),
    }
    weights: dict[str, np.ndarray] = {}
    for name, (fan_in, fan_out) in shapes.items():
        w = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        b = rng.standard_normal(fan_out) * 0.01
        weights["W_" + name] = w.astype(np.float32)
        weights["b_" + name] = b.astype(np.float32)
    return weights


def _dims(weights: dict) -> tuple[int, int]:
    """(latent L, num_actions A) implied by the weights; checks consistency."""
    missing = [k for k in _WEIGHT_KEYS if k not in weights]
    if missing:
        raise KeyError(f"weights lack {missing}")
    latent = weights["W_p1"].shape[0]
    num_actions = weights["W_p3"].shape[1] - 1
    if weights["W_d1"].shape[0] != latent + num_actions:
        raise ValueError("W_d1 rows must equal latent + num_actions")
    if weights["W_d3"].shape[1] != latent + 1:
        raise ValueError("W_d3 columns must equal latent + 1")
    return latent, num_actions


def make_latents(batch: int, latent: int = 64, seed: int = 0) -> np.ndarray:
    """Random root latents [B, L] float32, in (-1, 1) like the dynamics' tanh."""
    rng = np.random.default_rng(seed)
    return np.tanh(rng.standard_normal((batch, latent))).astype(np.float32)


def prediction_np(weights: dict, latent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numpy reference: ``(prior_logits [B, A], value [B])``."""
    _, a = _dims(weights)
    h = np.maximum(latent @ weights["W_p1"] + weights["b_p1"], 0.0)
    h = np.maximum(h @ weights["W_p2"] + weights["b_p2"], 0.0)
    out = h @ weights["W_p3"] + weights["b_p3"]
    return out[:, :a], np.tanh(out[:, a])


def recurrent_np(
    weights: dict, latent: np.ndarray, action: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Numpy reference: ``(next_latent [B, L], reward [B])``."""
    l, a = _dims(weights)
    one_hot = np.eye(a, dtype=np.float32)[np.asarray(action)]
    x = np.concatenate([latent, one_hot], axis=1)
    h = np.maximum(x @ weights["W_d1"] + weights["b_d1"], 0.0)
    h = np.maximum(h @ weights["W_d2"] + weights["b_d2"], 0.0)
    out = h @ weights["W_d3"] + weights["b_d3"]
    return np.tanh(out[:, :l]), out[:, l]


# --------------------------------------------------------------------------
# jax / mctx
# --------------------------------------------------------------------------

def _cpu_device():
    import jax

    return jax.devices("cpu")[0]


def build_search(
    weights: dict, policy: str, num_actions: int, num_simulations: int = 50
):
    """Return ``(search, params)``.

    ``search(params, rng_key, latents)`` is a fresh ``jax.jit`` of root
    prediction + the mctx policy; it returns mctx's ``PolicyOutput``.
    ``params`` are the weights as jax arrays on the CPU device (passed as
    arguments, not baked into the program as constants).  Each call of
    ``build_search`` makes a new jitted function, so its first call compiles.
    """
    import jax
    import jax.numpy as jnp
    import mctx

    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    latent_size, a = _dims(weights)
    if a != num_actions:
        raise ValueError(f"weights are for {a} actions, not {num_actions}")
    if num_simulations < 1:
        raise ValueError("num_simulations must be >= 1")

    def predict(p, latent):
        h = jax.nn.relu(latent @ p["W_p1"] + p["b_p1"])
        h = jax.nn.relu(h @ p["W_p2"] + p["b_p2"])
        out = h @ p["W_p3"] + p["b_p3"]
        return out[:, :num_actions], jnp.tanh(out[:, num_actions])

    def recurrent_fn(p, rng_key, action, embedding):
        del rng_key  # the model is deterministic
        one_hot = jax.nn.one_hot(action, num_actions, dtype=embedding.dtype)
        x = jnp.concatenate([embedding, one_hot], axis=1)
        h = jax.nn.relu(x @ p["W_d1"] + p["b_d1"])
        h = jax.nn.relu(h @ p["W_d2"] + p["b_d2"])
        out = h @ p["W_d3"] + p["b_d3"]
        next_latent = jnp.tanh(out[:, :latent_size])
        reward = out[:, latent_size]
        prior_logits, value = predict(p, next_latent)
        step = mctx.RecurrentFnOutput(
            reward=reward,
            discount=jnp.full_like(reward, DISCOUNT),
            prior_logits=prior_logits,
            value=value,
        )
        return step, next_latent

    def search(p, rng_key, latents):
        prior_logits, value = predict(p, latents)
        root = mctx.RootFnOutput(
            prior_logits=prior_logits, value=value, embedding=latents
        )
        if policy == "puct":
            return mctx.muzero_policy(
                p, rng_key, root, recurrent_fn,
                num_simulations=num_simulations,
                pb_c_init=PB_C_INIT, pb_c_base=PB_C_BASE,
            )
        return mctx.gumbel_muzero_policy(
            p, rng_key, root, recurrent_fn,
            num_simulations=num_simulations,
            max_num_considered_actions=MAX_NUM_CONSIDERED_ACTIONS,
        )

    cpu = _cpu_device()
    params = {k: jax.device_put(np.asarray(weights[k], np.float32), cpu)
              for k in _WEIGHT_KEYS}
    return jax.jit(search), params


def time_mctx(
    weights: dict,
    policy: str,
    batch: int,
    num_actions: int,
    num_simulations: int = 50,
    repeats: int = 5,
    seed: int = 0,
) -> dict:
    """Time one jitted mctx search (root prediction + search) on CPU.

    ``compile_s`` is the wall time of the first call (trace + compile + one
    run, including ``block_until_ready``); then ``repeats`` further calls with
    fresh rng keys are timed and their median is ``seconds_per_search``.
    """
    import jax

    if batch < 1 or repeats < 1:
        raise ValueError("batch and repeats must be >= 1")
    latent_size, _ = _dims(weights)
    cpu = _cpu_device()
    with jax.default_device(cpu):
        search, params = build_search(weights, policy, num_actions, num_simulations)
        latents = jax.device_put(make_latents(batch, latent_size, seed), cpu)
        keys = jax.random.split(jax.random.PRNGKey(seed), repeats + 1)

        start = time.perf_counter()
        jax.block_until_ready(search(params, keys[0], latents))
        compile_s = time.perf_counter() - start

        times = []
        for i in range(1, repeats + 1):
            start = time.perf_counter()
            jax.block_until_ready(search(params, keys[i], latents))
            times.append(time.perf_counter() - start)

    median = statistics.median(times)
    return {
        "policy": policy,
        "model": "mctx",
        "batch": batch,
        "simulations": num_simulations,
        "actions": num_actions,
        "sims_per_s": batch * num_simulations / median,
        "compile_s": compile_s,
        "seconds_per_search": median,
    }


def tree_depths(policy_output: Any) -> np.ndarray:
    """Depth of every non-root node of an mctx search tree, int [B, N].

    Node i (1 <= i <= num_simulations) is the node expanded by simulation i.
    mctx walks the tree in a sequential loop per simulation, so its cost per
    simulation grows with these depths; useful to explain timing differences
    between policies or weight sets.
    """
    parents = np.asarray(policy_output.search_tree.parents)  # [B, N+1], root -1
    nodes = np.broadcast_to(np.arange(parents.shape[1]), parents.shape).copy()
    depth = np.zeros(parents.shape, dtype=np.int64)
    rows = np.arange(parents.shape[0])[:, None]
    while True:
        live = nodes > 0
        if not live.any():
            break
        depth += live
        nodes = np.where(live, parents[rows, np.maximum(nodes, 0)], nodes)
    return depth[:, 1:]


def _demo(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--actions", type=int, nargs="+", default=[2, 9])
    parser.add_argument("--policy", nargs="+", default=list(POLICIES),
                        choices=POLICIES)
    parser.add_argument("--simulations", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import jax
    import mctx  # noqa: F401  (fail early if missing)
    from importlib.metadata import version

    print(f"jax {jax.__version__}, mctx {version('mctx')}, "
          f"device {_cpu_device()}")
    header = (f"{'policy':<7} {'A':>3} {'B':>4} {'sims':>5} "
              f"{'compile_s':>10} {'s/search':>10} {'sims/s':>10}")
    print(header)
    for a in args.actions:
        weights = make_weights(a)
        for policy in args.policy:
            for b in args.batch:
                r = time_mctx(weights, policy, b, a, args.simulations,
                              args.repeats)
                print(f"{r['policy']:<7} {r['actions']:>3} {r['batch']:>4} "
                      f"{r['simulations']:>5} {r['compile_s']:>10.3f} "
                      f"{r['seconds_per_search']:>10.5f} "
                      f"{r['sims_per_s']:>10.0f}")


if __name__ == "__main__":
    _demo()
