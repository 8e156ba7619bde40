"""The model a run's searches step: the learned one (MuZero) or the real game's
rules with the network evaluating positions (AlphaZero), as `search.model` says."""

from __future__ import annotations

from zeroplan.config import Config, ConfigError
from zeroplan.mcts.model import Model
from zeroplan.mcts.rules import RulesModel
from zeroplan.nets.muzero_net import MuZeroNet
from zeroplan.nets.search_model import SearchModel


def search_model(net: MuZeroNet, config: Config) -> Model:
    inner = SearchModel(net, config.net.inference)
    return RulesModel(inner) if config.search.model == "rules" else inner


def check_sampled(config: Config, spec) -> None:
    """Continuous actions need a sampled search (Sampled MuZero); said at start, not mid-run."""
    if spec.action_dim and not config.search.sampled_actions:
        raise ConfigError(f"{config.env.id} has continuous actions ({spec.action_dim} dimensions): MuZero searches "
                          "them by sampling; set search.sampled_actions (e.g. --set search.sampled_actions=16), "
                          "or train it with --algo pets")
    if spec.num_players != 1 and config.search.sampled_actions:
        raise ConfigError("search.sampled_actions (Sampled MuZero) is for single-player environments so far")
