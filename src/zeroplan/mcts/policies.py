"""One entry point per search policy, over the shared simulation loop.

Each entry point sets up the roots its own way (pUCT: Dirichlet noise; Gumbel:
noise and the sequential-halving schedule), runs `loop.simulate` with its
selection kernel, and reads its actions and policy targets off the finished
tree. `config.policy` is read by `zeroplan.mcts.search` only: the entry point
is the choice of policy, and it uses the fields of `config` that apply to it.
"""

from __future__ import annotations

import numpy as np

from zeroplan.config import SearchConfig
from zeroplan.mcts.gumbel import GumbelParams, considered_visit_table, root_improved_policy, select_gumbel
from zeroplan.mcts.loop import (RecurrentFn, SearchResult, SearchRoot, check_num_players, search_result,
                                simulate)
from zeroplan.mcts.chance import ChanceNodes
from zeroplan.mcts.sampled import SampledActions
from zeroplan.mcts.puct import PuctParams, add_dirichlet_noise, select_puct, visit_count_actions
from zeroplan.mcts.tree import BackupParams, Tree, init_roots


def puct_search(
    root: SearchRoot,
    recurrent_fn: RecurrentFn,
    rng: np.random.Generator,
    config: SearchConfig,
    *,
    num_players: int = 1,
    temperature: float | np.ndarray = 1.0,
    explore: bool = True,
    sampled: SampledActions | None = None,
    chance: ChanceNodes | None = None,
) -> SearchResult:
    """MuZero's pUCT search of B roots at once (docs/search.md).

    `explore=True` mixes Dirichlet noise into the root priors; the action is
    drawn from the root's visit counts at `temperature` (scalar or [B]; 0
    picks the most visited). `config.root_value` may be 'mean' or 'max_q'.
    """
    if config.root_value == "improved":
        raise ValueError("root_value 'improved' is the value of Gumbel's improved policy; "
                         "puct_search reports 'mean' or 'max_q'")
    tree, root, temps = _init_trees(root, config, num_players, temperature, with_log_prior=False)
    if explore and config.dirichlet_fraction > 0:
        add_dirichlet_noise(tree.prior[:, 0, :], root.legal_mask, config.dirichlet_alpha,
                            config.dirichlet_fraction, rng)
    # The kernels take structs as plain tuples (see zeroplan.mcts.tree).
    fields = tuple(tree)
    params = tuple(PuctParams(config.pb_c_init, config.pb_c_base, config.min_value_span))

    def select(sim: int, leaves: tuple) -> None:
        select_puct(fields, params, leaves)

    backup = BackupParams(config.discount, num_players, True, False, chance is not None)
    depth_stats = simulate(tree, root, recurrent_fn, select, config.num_simulations, backup,
                           config.model == "rules", sampled, chance)
    visit_counts = tree.root_visit_counts()
    actions = visit_count_actions(visit_counts, temps, rng)
    return search_result(tree, root, visit_counts, actions, visit_counts / config.num_simulations, depth_stats,
                         config.root_value, sampled)


def gumbel_search(
    root: SearchRoot,
    recurrent_fn: RecurrentFn,
    rng: np.random.Generator,
    config: SearchConfig,
    *,
    num_players: int = 1,
    temperature: float | np.ndarray = 1.0,
    explore: bool = True,
    gumbel: np.ndarray | None = None,
    sampled: SampledActions | None = None,
    chance: ChanceNodes | None = None,
) -> SearchResult:
    """Gumbel MuZero's search of B roots at once (docs/search.md).

    `explore=False` turns the Gumbel noise off; `temperature` (scalar or [B])
    scales it (0 takes the best action of the improved policy). `gumbel`
    overrides the noise [B, A] (already scaled: neither `gumbel_scale` nor
    `temperature` applies), for tests and for replaying a search.
    """
    tree, root, temps = _init_trees(root, config, num_players, temperature, with_log_prior=True)
    gumbel, considered = _gumbel_root_setup(root, config, rng, explore, gumbel, temps)
    # The kernels take structs as plain tuples (see zeroplan.mcts.tree).
    fields = tuple(tree)
    params = tuple(GumbelParams(config.c_visit, config.c_scale, config.min_value_span))

    def select(sim: int, leaves: tuple) -> None:
        select_gumbel(fields, gumbel, considered[sim], params, leaves)

    backup = BackupParams(config.discount, num_players, False, True, chance is not None)
    depth_stats = simulate(tree, root, recurrent_fn, select, config.num_simulations, backup,
                           config.model == "rules", sampled, chance)
    batch, num_actions = root.prior_logits.shape
    policy_targets = np.empty((batch, num_actions))
    actions = np.empty(batch, dtype=np.int32)
    root_improved_policy(fields, gumbel, params, policy_targets, actions)
    return search_result(tree, root, tree.root_visit_counts(), actions, policy_targets, depth_stats,
                         config.root_value, sampled)


def _init_trees(root: SearchRoot, config: SearchConfig, num_players: int, temperature: float | np.ndarray,
           with_log_prior: bool) -> tuple[Tree, SearchRoot, np.ndarray]:
    """Check the arguments both policies share; allocate and initialise the trees.
    Returns the trees, the validated root and the temperatures [B]."""
    check_num_players(num_players)
    root = root.validated()
    batch, num_actions = root.prior_logits.shape
    temps = np.broadcast_to(np.asarray(temperature, dtype=np.float64), (batch,))
    tree = Tree.allocate(config.num_simulations + 1, num_actions, root.embeddings)
    init_roots(tuple(tree), root.prior_logits, root.values, root.legal_mask, root.to_play, with_log_prior)
    return tree, root, temps


def _gumbel_root_setup(root: SearchRoot, config: SearchConfig, rng: np.random.Generator, explore: bool,
                       gumbel: np.ndarray | None, temps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Gumbel noise [B, A] and, per simulation, the visit count a root action
    needs to be considered, [S, B] (each root has its own number of legal actions).

    Drawn noise is scaled by `gumbel_scale` and by each root's temperature [B]: the
    argmax of T * g + score samples from softmax(score / T), so T plays the part
    it plays for pUCT's visit counts, and T = 0 is the greedy choice."""
    batch, num_actions = root.prior_logits.shape
    if gumbel is None:
        if np.any(temps < 0) or not np.all(np.isfinite(temps)):
            raise ValueError(f"temperature must be finite and >= 0, got {temps}")
        gumbel = rng.gumbel(size=(batch, num_actions)) * config.gumbel_scale * temps[:, None] if explore \
            else np.zeros((batch, num_actions))
    gumbel = np.ascontiguousarray(gumbel, dtype=np.float64)
    if gumbel.shape != (batch, num_actions):
        raise ValueError(f"gumbel noise must have shape {(batch, num_actions)}, got {gumbel.shape}")
    table = considered_visit_table(min(config.max_num_considered_actions, num_actions), config.num_simulations)
    num_considered = np.minimum(root.legal_mask.sum(axis=1), config.max_num_considered_actions)
    return gumbel, np.ascontiguousarray(table[num_considered].T)
