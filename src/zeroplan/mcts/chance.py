"""Chance nodes (Stochastic MuZero, Antonoglou et al. 2022).

With a model that has chance codes, each step of the tree is two: an action
leads from a state (a decision node) to an afterstate (a chance node), and one
of C chance codes leads from the afterstate to the next state. The model
answers both kinds of expansion with one call per simulation:

    recurrent_fn(embeddings [B, ...], edges [B] int, from_chance [B] bool)
        -> (next embeddings, rewards [B], values [B], logits [B, W])

where a row with `from_chance` false expands an action into an afterstate
(reward 0, value Q(s, a), logits the C codes' logits in its first C columns)
and a row with `from_chance` true expands a code into a state (reward, value,
the A actions' logits in its first A columns). W = max(A, C) is the tree's
width; the columns past a row's own width are ignored (any finite number) and
become illegal slots. Selection at a chance node and the backup through it are
the tree's (`tree.chance_child`, `tree._backup`); `ChanceNodes` only pads the
roots and the model's answers to the tree's width and trims the result back to
the A actions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroplan.mcts.loop import SearchResult, SearchRoot


@dataclass(frozen=True)
class ChanceNodes:
    num_actions: int  # A
    num_codes: int  # C

    def __post_init__(self):
        if self.num_actions < 1 or self.num_codes < 1:
            raise ValueError(f"chance nodes need at least one action and one code, got A={self.num_actions}, "
                             f"C={self.num_codes}")

    @property
    def width(self) -> int:
        return max(self.num_actions, self.num_codes)

    def pad_root(self, root: SearchRoot) -> SearchRoot:
        """The roots (decision nodes over A actions) widened to the tree's width, the extra slots illegal."""
        logits = np.asarray(root.prior_logits, dtype=np.float64)
        if logits.ndim != 2 or logits.shape[1] != self.num_actions:
            raise ValueError(f"root prior_logits must be [batch, {self.num_actions}], got shape {logits.shape}")
        extra = self.width - self.num_actions
        legal = np.asarray(root.legal_mask, dtype=np.bool_)
        return SearchRoot(root.embeddings, np.pad(logits, ((0, 0), (0, extra)), constant_values=-np.inf),
                          root.values, np.pad(legal, ((0, 0), (0, extra))), root.to_play)

    def edge_logits(self, logits: np.ndarray, from_chance: np.ndarray) -> np.ndarray:
        """The model's logits [B, W] with each row's slots past its own width (A for a new
        state, C for a new afterstate) set to -inf."""
        out = np.array(logits, dtype=np.float64)
        if out.shape != (len(from_chance), self.width):
            raise ValueError(f"a model with chance codes returns logits [B, {self.width}], got {out.shape}")
        out[from_chance, self.num_actions:] = -np.inf
        out[~from_chance, self.num_codes:] = -np.inf
        return out

    def trim(self, result: SearchResult) -> SearchResult:
        """The root's statistics over the A actions only (the padded slots are never visited)."""
        a = self.num_actions
        result.visit_counts = result.visit_counts[:, :a]
        result.policy_targets = result.policy_targets[:, :a]
        return result
