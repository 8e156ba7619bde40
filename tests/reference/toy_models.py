"""Deterministic toy models usable by both the reference and the fast search.

A state is a uint64 hash of the path of actions that led to it (embeddings of
shape ``[B, 1]``).  Everything the model outputs is a pure function of the
next hash and the seed, so a root is fully defined by its hash and any two
engines that take the same actions see exactly the same float64 numbers.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)

# Salts that pick independent streams out of one hash.
_SALT_SEED = np.uint64(0x5EED5EED5EED5EED)
_SALT_REWARD = np.uint64(0x00000000000000A1)
_SALT_VALUE = np.uint64(0x00000000000000B2)
_SALT_LOGITS = np.uint64(0x0000000000010000)
_SALT_ROOT = np.uint64(0x00000000000000C3)
_SALT_LEGAL = np.uint64(0x0000000001000000)

_INV_2_53 = 1.0 / float(2**53)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (vectorised; uint64 wraparound is intended)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        z = z ^ (z >> _S31)
    return z


def _seed_key(seed: int) -> np.uint64:
    return _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64) ^ _SALT_SEED)[0]


def _unit(h: np.ndarray) -> np.ndarray:
    """Top 53 bits of a uint64 as a float64 in [0, 1)."""
    return (h >> _S11).astype(np.float64) * _INV_2_53


def _signed_unit(h: np.ndarray) -> np.ndarray:
    """float64 in [-1, 1)."""
    return 2.0 * _unit(h) - 1.0


def _outputs(hashes: np.ndarray, num_actions: int, key: np.uint64):
    """(reward, value, logits) as float64 from a [B] uint64 hash."""
    h = np.asarray(hashes, dtype=np.uint64).reshape(-1)
    reward = _signed_unit(_mix(h ^ key ^ _SALT_REWARD))
    value = _signed_unit(_mix(h ^ key ^ _SALT_VALUE))
    salts = _SALT_LOGITS + np.arange(num_actions, dtype=np.uint64)
    logits = 3.0 * _signed_unit(_mix(h[:, None] ^ key ^ salts[None, :]))
    return reward, value, logits


def root_hashes(batch: int, seed: int) -> np.ndarray:
    """``[batch, 1]`` uint64 root embeddings."""
    key = _seed_key(seed)
    return _mix(np.arange(batch, dtype=np.uint64) ^ key ^ _SALT_ROOT)[:, None]


def root_outputs_from_hash(hashes: np.ndarray, num_actions: int, seed: int):
    """float64 ``(logits [B, A], values [B])`` of the roots with these hashes ([B, 1] or [B])."""
    _, value, logits = _outputs(hashes, num_actions, _seed_key(seed))
    return logits, value


def hash_model(num_actions: int, seed: int, reward_scale: float = 1.0, illegal: float = 0.0):
    """A ``recurrent_fn(embeddings [B, 1] uint64, actions [B] int)`` returning
    ``(next_embeddings [B, 1] uint64, rewards [B], values [B], logits [B, A])``.

    Rewards lie in ``[-reward_scale, reward_scale]``, values in ``[-1, 1]`` and
    logits in ``[-3, 3]`` (all float64). With ``illegal`` > 0 the model knows
    rules: each action of a new state is illegal (logit -inf) with that
    probability, the lowest action with a finite logit staying legal when every
    draw says illegal.
    """
    key = _seed_key(seed)
    scale = float(reward_scale)

    def recurrent_fn(embeddings, actions):
        h = np.asarray(embeddings, dtype=np.uint64).reshape(-1)
        a = np.asarray(actions).astype(np.uint64).reshape(-1)
        if h.shape != a.shape:
            raise ValueError(f"embeddings {h.shape} and actions {a.shape} disagree")
        with np.errstate(over="ignore"):
            nxt = _mix(_mix(h ^ key) ^ (a + np.uint64(1)))
        reward, value, logits = _outputs(nxt, num_actions, key)
        if illegal > 0:
            salts = _SALT_LEGAL + np.arange(num_actions, dtype=np.uint64)
            out = _unit(_mix(nxt[:, None] ^ key ^ salts[None, :])) < illegal
            out[out.all(axis=1), 0] = False
            logits = np.where(out, -np.inf, logits)
        return nxt[:, None], scale * reward, value, logits

    return recurrent_fn


def hash_model_continuous(dim: int, seed: int, reward_scale: float = 1.0):
    """`hash_model` for continuous actions: ``recurrent_fn(embeddings [B, 1] uint64,
    actions [B, dim] float32)``, the next hash mixing in the actions' bits; its last
    output is ``[B, 2 * dim]`` Gaussian policy parameters in ``[-3, 3]``."""
    key = _seed_key(seed)
    inner = hash_model(2 * dim, seed, reward_scale)

    def recurrent_fn(embeddings, actions):
        h = np.asarray(embeddings, dtype=np.uint64).reshape(-1)
        bits = np.ascontiguousarray(actions, dtype=np.float32).view(np.uint32).astype(np.uint64)
        if bits.shape != (len(h), dim):
            raise ValueError(f"actions must be [B, {dim}], got {np.shape(actions)}")
        code = np.zeros(len(h), dtype=np.uint64)
        for d in range(dim):
            code = _mix(code ^ bits[:, d] ^ key)
        return inner(embeddings, code)

    return recurrent_fn


def hash_model_chance(num_actions: int, num_codes: int, seed: int, reward_scale: float = 1.0):
    """`hash_model` with chance nodes (Stochastic MuZero): ``recurrent_fn(embeddings [B, 1]
    uint64, edges [B] int, from_chance [B] bool)``. A row from a state (from_chance
    false) makes an afterstate: reward 0, and C code logits; a row from an afterstate
    makes a state: a reward and A action logits. Logits come padded with zeros to
    max(A, C) columns, the two kinds of node hashed with different keys."""
    width = max(num_actions, num_codes)
    to_afterstate = hash_model(width, seed ^ 0xA5A5, reward_scale)
    to_state = hash_model(width, seed, reward_scale)

    def recurrent_fn(embeddings, edges, from_chance):
        chance = np.asarray(from_chance, dtype=bool).reshape(-1)
        nxt_a, _, value_a, logits_a = to_afterstate(embeddings, edges)
        nxt_s, reward_s, value_s, logits_s = to_state(embeddings, edges)
        logits_a[:, num_codes:] = 0.0
        logits_s[:, num_actions:] = 0.0
        return (np.where(chance[:, None], nxt_s, nxt_a), np.where(chance, reward_s, 0.0),
                np.where(chance, value_s, value_a), np.where(chance[:, None], logits_s, logits_a))

    return recurrent_fn
