"""Sampled MuZero (Hubert et al. 2021): search over K actions drawn per node.

Where the action space is continuous, or too large to expand every action,
each node the search creates gets K actions drawn from a proposal beta built
from the network's policy pi at that node, and the tree's children are those
K samples. The search itself is unchanged: a child is still an index 0..K-1,
and the prior it searches with is the sample-based correction of the paper,

    prior(a) proportional to  beta_hat(a) / beta(a) * pi(a)

(beta_hat the empirical distribution of the K draws), handed to the tree as
logits log beta_hat + log pi - log beta. Here beta is pi at temperature
`search.sample_temperature` (beta = pi at 1, where the prior is beta_hat).

What the network's policy head says, per kind of action:

- continuous (a Box of D dimensions): 2D numbers, the mean and log standard
  deviation of a Gaussian over pre-squash codes u; the action is tanh(u) in
  [-1, 1]^D, which the environment adapter scales to its bounds. Codes, not
  actions, are what is stored and scored, so a log density never needs
  atanh of a value next to +-1 (the tanh's Jacobian does not depend on the
  network and drops out of the policy loss).
- discrete with many actions: the logits over all A actions; codes are the
  action indices, drawn with replacement, duplicates merged into one child.

The K codes of every node live beside the tree in `SampledActions.codes`
[B, N, K, *code_shape], indexed like the tree's children.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0  # the Gaussian head's log standard deviation is clipped to this range
_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_params(params: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The head's [B, 2D] output -> (mean [B, D], log std [B, D], clipped)."""
    params = np.asarray(params, dtype=np.float64)
    if params.ndim != 2 or params.shape[1] != 2 * dim:
        raise ValueError(f"a Gaussian policy over {dim} dimensions needs [B, {2 * dim}] parameters, "
                         f"got shape {params.shape}")
    return params[:, :dim], np.clip(params[:, dim:], LOG_STD_MIN, LOG_STD_MAX)


def gaussian_log_density(codes: np.ndarray, mean: np.ndarray, log_std: np.ndarray) -> np.ndarray:
    """log N(codes; mean, exp(log_std)^2), summed over the last axis.
    codes [B, K, D]; mean and log_std [B, D]."""
    z = (codes - mean[:, None, :]) * np.exp(-log_std)[:, None, :]
    return (-0.5 * z * z - log_std[:, None, :] - 0.5 * _LOG_2PI).sum(-1)


@dataclass(frozen=True)
class GaussianSampler:
    """K codes per node from a diagonal Gaussian over D dimensions."""

    dim: int
    num_samples: int
    temperature: float = 1.0

    @property
    def code_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    code_dtype = np.float32

    def sample(self, params: np.ndarray, legal: np.ndarray | None, rng: np.random.Generator,
               include_mode: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(codes [B, K, D] float32, prior logits [B, K]) for policy parameters [B, 2D].
        `legal` must be None (every action of a Box is legal). `include_mode` puts
        the mean itself in slot 0 (for a search without exploration)."""
        if legal is not None and not np.all(legal):
            raise ValueError("a continuous action space has no illegal actions")
        mean, log_std = gaussian_params(params, self.dim)
        batch, k = len(mean), self.num_samples
        beta_log_std = log_std + 0.5 * math.log(self.temperature)
        codes = mean[:, None, :] + np.exp(beta_log_std)[:, None, :] * rng.standard_normal((batch, k, self.dim))
        if include_mode:
            codes[:, 0] = mean
        codes = codes.astype(np.float32)
        wide = codes.astype(np.float64)
        logits = gaussian_log_density(wide, mean, log_std) - gaussian_log_density(wide, mean, beta_log_std)
        return codes, logits

    def inputs(self, codes: np.ndarray) -> np.ndarray:
        """What the dynamics network is given for codes [..., D]: the actions tanh(u) in [-1, 1]."""
        return np.tanh(codes).astype(np.float32)


@dataclass(frozen=True)
class CategoricalSampler:
    """K draws per node, with replacement, from the policy over A discrete actions at a
    temperature; duplicates are merged and unused slots padded (illegal, logit -inf)."""

    num_actions: int
    num_samples: int
    temperature: float = 1.0

    code_shape: tuple[int, ...] = ()
    code_dtype = np.int64

    def sample(self, params: np.ndarray, legal: np.ndarray | None, rng: np.random.Generator,
               include_mode: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(codes [B, K] int64, prior logits [B, K]) for logits [B, A] over the `legal` actions
        ([B, A] bool, or None for all). `include_mode` makes the most likely action one of the draws."""
        logits = np.asarray(params, dtype=np.float64)
        batch, a = logits.shape
        if a != self.num_actions:
            raise ValueError(f"expected logits over {self.num_actions} actions, got shape {logits.shape}")
        mask = np.ones((batch, a), bool) if legal is None else np.asarray(legal, bool)
        log_pi = _log_softmax(logits, mask)
        log_beta = _log_softmax(logits / self.temperature, mask)
        beta = np.exp(log_beta)
        cdf = np.cumsum(beta, axis=1)
        u = rng.random((batch, self.num_samples)) * cdf[:, -1:]
        draws = np.minimum((cdf[:, None, :] <= u[:, :, None]).sum(-1), a - 1)  # [B, K]
        if include_mode:
            draws[:, 0] = np.argmax(np.where(mask, logits, -np.inf), axis=1)
        codes = np.zeros((batch, self.num_samples), np.int64)
        out = np.full((batch, self.num_samples), -np.inf)
        for b in range(batch):
            actions, counts = np.unique(draws[b], return_counts=True)
            n = len(actions)
            codes[b, :n] = actions
            out[b, :n] = np.log(counts / self.num_samples) + log_pi[b, actions] - log_beta[b, actions]
        return codes, out

    def inputs(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(codes, dtype=np.int64)


def _log_softmax(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    x = np.where(mask, logits, -np.inf)
    top = x.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        return x - top - np.log(np.exp(x - top).sum(axis=1, keepdims=True))


Sampler = GaussianSampler | CategoricalSampler


class SampledActions:
    """The K codes of every node of B trees of N nodes, [B, N, K, *code_shape],
    filled as the search creates nodes (node 0 at the root)."""

    def __init__(self, sampler: Sampler, batch: int, num_nodes: int, rng: np.random.Generator,
                 include_mode: bool = False):
        self.sampler = sampler
        self.rng = rng
        self.include_mode = include_mode  # the roots' first slot holds the policy's mode (acting without noise)
        self.codes = np.zeros((batch, num_nodes, sampler.num_samples) + tuple(sampler.code_shape),
                              dtype=sampler.code_dtype)
        self._rows = np.arange(batch)

    def root(self, params: np.ndarray, legal: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Draw the roots' samples: (prior logits [B, K], legal [B, K])."""
        codes, logits = self.sampler.sample(params, legal, self.rng, include_mode=self.include_mode)
        self.codes[:, 0] = codes
        return logits, np.isfinite(logits)

    def edge_inputs(self, parent: np.ndarray, child: np.ndarray) -> np.ndarray:
        """The dynamics' action inputs for the edges (parent node, child index) [B]."""
        return self.sampler.inputs(self.codes[self._rows, parent, child])

    def expand(self, node: int, params: np.ndarray) -> np.ndarray:
        """Draw node `node`'s samples in every tree from its policy parameters; its prior logits [B, K]."""
        codes, logits = self.sampler.sample(params, None, self.rng)
        self.codes[:, node] = codes
        return logits

    def root_codes(self) -> np.ndarray:
        """The roots' codes [B, K, ...], a copy: kept with the data, they must not hold the whole table alive."""
        return self.codes[:, 0].copy()


def make_sampler(num_samples: int, temperature: float, action_dim: int, num_actions: int) -> Sampler:
    """The sampler for an env's actions: Gaussian over `action_dim` > 0 dimensions, else
    categorical over `num_actions`."""
    if action_dim > 0:
        return GaussianSampler(action_dim, num_samples, temperature)
    return CategoricalSampler(num_actions, num_samples, temperature)
