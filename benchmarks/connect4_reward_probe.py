"""Can the MuZero network learn which connect-four moves win, from random games?

    python benchmarks/connect4_reward_probe.py [--games 5000] [--updates 6000] [--set net.hidden=[128,128] ...] [--json]

Plays `--games` uniformly random games, then trains on the same transitions
for the same number of updates (batch 128):

- `muzero`: zeroplan's Learner with the connect4 preset (plus `--set`
  overrides), the reward coming out of representation -> dynamics -> reward
  head as in training;
- `plain`: a plain MLP of the first hidden width, (board, one-hot move) ->
  "this move wins", binary cross-entropy: the same question asked directly.

Every 1,000 updates: for 200 positions from random play where the mover can
win at once, how often the highest predicted reward among the legal moves is
a winning one (chance is about 0.18), and the mean prediction for winning and
other moves. One row per learner and checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from connect4_tactics import positions, reward_figures  # noqa: E402

from zeroplan.config import load_config  # noqa: E402
from zeroplan.envs.games.connect4 import COLS, Connect4  # noqa: E402
from zeroplan.muzero.episode import Episode, EpisodeBuilder  # noqa: E402
from zeroplan.muzero.learner import Learner  # noqa: E402
from zeroplan.muzero.replay import Replay  # noqa: E402
from zeroplan.nets.search_model import SearchModel  # noqa: E402
from zeroplan.nets.build import build_net  # noqa: E402


def random_games(count: int, rng: np.random.Generator) -> list[Episode]:
    """Uniformly random games, recorded as self-play records them: the search's
    policy is the uniform one over the legal moves and every root value 0."""
    out = []
    for _ in range(count):
        game = Connect4()
        builder = EpisodeBuilder(game.reset(), game.legal_mask(), game.to_play())
        done = False
        while not done:
            legal = game.legal_mask()
            a = int(rng.choice(np.flatnonzero(legal)))
            builder.record_search(0.0, legal / legal.sum())
            obs, reward, done, _ = game.step(a)
            builder.record_step(a, reward, obs, game.legal_mask(), game.to_play())
        out.append(builder.finish(terminated=True, final_value=0.0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--games", type=int, default=5000)
    ap.add_argument("--updates", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], help="config overrides for the MuZero learner")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config("connect4", dotted=args.set)
    rng = np.random.default_rng(args.seed)
    episodes = random_games(args.games, rng)
    probe = positions(200, np.random.default_rng(args.seed + 1))["take a win"]
    probe_obs = np.stack([p[0] for p in probe])
    rows = []

    def report(learner: str, step: int, seconds: float, figures: dict) -> None:
        row = {"learner": learner, "updates": step, "seconds": round(seconds, 1), **figures}
        rows.append(row)
        if not args.json:
            print(json.dumps(row), flush=True)

    # MuZero's learner, as in training.
    replay = Replay(cfg.replay, COLS, cfg.search.discount)
    for ep in episodes:
        replay.add(ep)
    torch.manual_seed(args.seed)
    net = build_net(cfg, (3, 6, 7), COLS)
    learner = Learner(net, cfg.train, cfg.net.support_size, cfg.replay.unroll_steps)
    start = time.perf_counter()
    for step in range(1, args.updates + 1):
        learner.train_step(replay.sample(cfg.replay.batch_size, rng))
        if step % 1000 == 0:
            model = SearchModel(net, "torch")
            latent, _, _ = model.initial(probe_obs)
            report("muzero", step, time.perf_counter() - start, reward_figures(
                lambda i: model.recurrent_fn(np.repeat(latent[i:i + 1], COLS, 0), np.arange(COLS))[1], probe))

    # The same question asked directly of a plain MLP.
    x = np.concatenate([ep.obs[:-1].reshape(len(ep), -1) for ep in episodes]).astype(np.float32)
    a = np.concatenate([ep.actions for ep in episodes])
    y = torch.as_tensor(np.concatenate([ep.rewards for ep in episodes]))
    inputs = torch.cat([torch.as_tensor(x), torch.nn.functional.one_hot(torch.as_tensor(a), COLS).float()], 1)
    width = cfg.net.hidden[0]
    torch.manual_seed(args.seed)
    mlp = torch.nn.Sequential(torch.nn.Linear(inputs.shape[1], width), torch.nn.ELU(),
                              torch.nn.Linear(width, width), torch.nn.ELU(), torch.nn.Linear(width, 1))
    opt = torch.optim.Adam(mlp.parameters(), lr=3e-3)
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(args.seed)
    for step in range(1, args.updates + 1):
        idx = torch.randint(0, len(y), (128,), generator=gen)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(mlp(inputs[idx]).squeeze(1), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 1000 == 0:
            with torch.no_grad():
                boards = torch.as_tensor(probe_obs.reshape(len(probe), -1))
                moves = torch.eye(COLS)
                preds = [torch.sigmoid(mlp(torch.cat([boards[i].expand(COLS, -1), moves], 1))).squeeze(1).numpy()
                         for i in range(len(probe))]
            report("plain", step, time.perf_counter() - start, reward_figures(lambda i: preds[i], probe))
    print(json.dumps({"games": args.games, "transitions": int(len(y)), "wins": int(y.sum()), "seed": args.seed,
                      "overrides": args.set, "results": rows}))


if __name__ == "__main__":
    main()
