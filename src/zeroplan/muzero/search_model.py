"""The model a run's searches step: the learned one (MuZero) or the real game's
rules with the network evaluating positions (AlphaZero), as `search.model` says."""

from __future__ import annotations

from zeroplan.config import Config
from zeroplan.mcts.model import Model
from zeroplan.mcts.rules import RulesModel
from zeroplan.nets.muzero_net import MuZeroNet, SearchModel


def search_model(net: MuZeroNet, config: Config) -> Model:
    inner = SearchModel(net, config.net.inference)
    return RulesModel(inner) if config.search.model == "rules" else inner
