"""The max_q bootstrap one state and one action at a time, through the
search's own model interface: max over legal a of r(s, a) + discount * v(s'),
v(s') negated when two players alternate; every action when none is listed
legal (with chance codes: max over legal a of the afterstate's Q(s, a)).
zeroplan.muzero.reanalyze.lookahead_values is checked against this."""

from __future__ import annotations

import numpy as np

from zeroplan.nets.muzero_net import MuZeroNet
from zeroplan.nets.search_model import SearchModel


def reference_lookahead(net: MuZeroNet, obs: np.ndarray, legal: np.ndarray, discount: float,
                        num_players: int) -> np.ndarray:
    model = SearchModel(net, "torch")
    sign = 1.0 if num_players == 1 else -1.0
    out = []
    for o, mask in zip(obs, legal):
        latent, _, _ = model.initial(o[None])
        best = -np.inf
        for a in np.flatnonzero(mask) if mask.any() else range(len(mask)):
            if net.chance is not None:  # Stochastic MuZero: the afterstate's value is Q(s, a) itself
                _, _, q, _ = model.recurrent_fn(latent, np.array([a]), np.array([False]))
                best = max(best, float(q[0]))
                continue
            _, reward, value, _ = model.recurrent_fn(latent, np.array([a]))
            best = max(best, float(reward[0]) + discount * sign * float(value[0]))
        out.append(best)
    return np.array(out)
