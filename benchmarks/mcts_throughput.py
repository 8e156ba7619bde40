"""Search throughput: simulations per second of zeroplan's batched search.

Rows: policy (puct, gumbel) x model x batch x actions, 50 simulations each.

- "constant": a recurrent_fn that returns ready-made arrays: the tree's own cost.
- "mlp": zeroplan's default small MuZero MLP network (nets.MuZeroNet with
  NetConfig's defaults: latent 64, hidden 128x128, LayerNorm, categorical
  value/reward support of 21 atoms), called through torch, as issue 2 defines
  it now that the networks exist; "reference": tests/reference's per-root
  Python search with the same network through torch, batch 1.
- "mlp_numpy_engine" / "reference_numpy_engine": the same two with the network
  computed by zeroplan's numpy engine (nets/numpy_inference.py, the default
  for MLP networks in search, `net.inference: auto`).
- "tiny_mlp": the issue's stand-in from before the networks existed, a small
  MuZero-shaped MLP in torch (dynamics and prediction, two hidden layers of
  64, latent 64), weights from benchmarks/mctx_timing.make_weights;
  "tiny_mlp_numpy" the same weights in numpy; "tiny_reference" the reference
  search with the tiny torch MLP. (Before 2026-11-29 evening these three rows
  were called "mlp", "mlp_numpy" and "reference", and the default network's
  rows "muzero_net_torch", "muzero_net_reference_torch", "muzero_net",
  "muzero_net_reference".)
- "mctx" (--vs-mctx): DeepMind's mctx on the tiny MLP's weights, jit-compiled (jax CPU).

    python benchmarks/mcts_throughput.py --json            # one JSON list on stdout
    python benchmarks/mcts_throughput.py --vs-mctx --json  # needs pip install -e '.[bench-mctx]'

Every row also reports the mean search depth, because pUCT trees over an
untrained network can be long chains and depth drives the cost of every engine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.reference
sys.path.insert(0, str(ROOT / "benchmarks"))

from mctx_timing import make_latents, make_weights  # noqa: E402

from zeroplan.config import SearchConfig  # noqa: E402
from zeroplan.mcts import SearchRoot, search  # noqa: E402

DISCOUNT = 0.997


class TinyMuZeroMLP:
    """The benchmark network in torch, called on numpy arrays."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.w = {k: torch.from_numpy(v) for k, v in weights.items()}
        self.latent = weights["W_p1"].shape[0]
        self.num_actions = weights["W_p3"].shape[1] - 1
        self.eye = torch.eye(self.num_actions)
        self.calls = 0
        self.seconds = 0.0

    def _predict(self, latent: torch.Tensor):
        w = self.w
        h = torch.relu(torch.addmm(w["b_p1"], latent, w["W_p1"]))
        h = torch.relu(torch.addmm(w["b_p2"], h, w["W_p2"]))
        out = torch.addmm(w["b_p3"], h, w["W_p3"])
        return out[:, : self.num_actions], torch.tanh(out[:, self.num_actions])

    def initial(self, latent: np.ndarray):
        with torch.inference_mode():
            logits, value = self._predict(torch.from_numpy(latent))
            return logits.numpy(), value.numpy()

    def recurrent_fn(self, latent: np.ndarray, action: np.ndarray):
        start = time.perf_counter()
        w = self.w
        with torch.inference_mode():
            x = torch.cat([torch.from_numpy(latent), self.eye[torch.from_numpy(action)]], dim=1)
            h = torch.relu(torch.addmm(w["b_d1"], x, w["W_d1"]))
            h = torch.relu(torch.addmm(w["b_d2"], h, w["W_d2"]))
            out = torch.addmm(w["b_d3"], h, w["W_d3"])
            nxt = torch.tanh(out[:, : self.latent])
            logits, value = self._predict(nxt)
            result = nxt.numpy(), out[:, self.latent].numpy(), value.numpy(), logits.numpy()
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return result


class TinyMuZeroMLPNumpy(TinyMuZeroMLP):
    """The same network and weights in numpy (the one-hot action input as a row
    of the first weight matrix), as zeroplan runs MLP networks during search."""

    def __init__(self, weights: dict[str, np.ndarray]):
        super().__init__(weights)
        self.np_w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}

    def _dense_relu(self, h: np.ndarray, name: str) -> np.ndarray:
        """h @ W + b, then ReLU, in place on the product."""
        y = h @ self.np_w[f"W_{name}"]
        y += self.np_w[f"b_{name}"]
        return np.maximum(y, 0.0, out=y)

    def recurrent_fn(self, latent: np.ndarray, action: np.ndarray):
        start = time.perf_counter()
        w, L = self.np_w, self.latent
        h = latent @ w["W_d1"][:L]
        h += w["W_d1"][L + action]  # the one-hot action's row of the first layer
        h += w["b_d1"]
        np.maximum(h, 0.0, out=h)
        out = self._dense_relu(h, "d2") @ w["W_d3"]
        out += w["b_d3"]
        nxt = np.tanh(out[:, :L])
        pred = self._dense_relu(self._dense_relu(nxt, "p1"), "p2") @ w["W_p3"]
        pred += w["b_p3"]
        result = nxt, out[:, L].copy(), np.tanh(pred[:, self.num_actions]), pred[:, : self.num_actions]
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return result


def muzero_net_model(num_actions: int, seed: int, inference: str = "auto"):
    from zeroplan.config import NetConfig
    from zeroplan.nets.muzero_net import MuZeroNet
    from zeroplan.nets.search_model import SearchModel

    torch.manual_seed(seed)
    n = NetConfig()
    net = MuZeroNet((8,), num_actions, kind="mlp", support_size=n.support_size, latent_dim=n.latent_dim,
                    hidden=n.hidden)
    for p in net.parameters():  # the zero-initialised heads would make every search trivial
        torch.nn.init.normal_(p, std=0.2)
    return SearchModel(net, inference)


def time_muzero_net(policy: str, batch: int, num_actions: int, sims: int, repeats: int, seed: int,
                    reference: bool = False, inference: str = "auto") -> dict:
    model = muzero_net_model(num_actions, seed, inference)
    obs = np.random.default_rng(seed).normal(size=(batch, 8)).astype(np.float32)
    latent, values, logits = model.initial(obs)
    cfg = SearchConfig(policy=policy, num_simulations=sims, discount=DISCOUNT)
    rng = np.random.default_rng(seed)
    times, depth = [], 0.0
    for i in range(repeats + 1):
        start = time.perf_counter()
        if reference:
            from tests.reference.mcts import reference_search

            out = reference_search(latent[0], logits[0], float(values[0]), np.ones(num_actions, bool), 0,
                                   model.recurrent_fn, policy=policy, num_simulations=sims, discount=DISCOUNT,
                                   num_players=1, gumbel=rng.gumbel(size=num_actions) if policy == "gumbel" else None)
            depth = float(np.mean(out["depths"]))
        else:
            out = search(SearchRoot(latent, logits, values, np.ones((batch, num_actions), bool),
                                    np.zeros(batch, dtype=np.int64)), model.recurrent_fn, rng, cfg)
            depth = out.mean_depth
        if i:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    name = ("reference" if reference else "mlp") + ("" if inference == "torch" else "_numpy_engine")
    return {"policy": policy, "model": name, "batch": batch,
            "simulations": sims, "actions": num_actions, "sims_per_s": batch * sims / seconds,
            "seconds_per_search": seconds, "mean_depth": depth}


def constant_model(batch: int, latent: int, num_actions: int):
    emb = np.zeros((batch, latent), dtype=np.float32)
    zeros, logits = np.zeros(batch), np.zeros((batch, num_actions))

    def recurrent_fn(latents, actions):
        return emb, zeros, zeros, logits

    return recurrent_fn


def time_ours(policy: str, model: str, batch: int, num_actions: int, sims: int, repeats: int, seed: int) -> dict:
    weights = make_weights(num_actions, seed=seed)
    net = (TinyMuZeroMLPNumpy if model == "tiny_mlp_numpy" else TinyMuZeroMLP)(weights)
    latents = make_latents(batch, seed=seed)
    logits, values = net.initial(latents)
    root = SearchRoot(latents, logits, values, np.ones((batch, num_actions), bool), np.zeros(batch, dtype=np.int64))
    fn = net.recurrent_fn if model != "constant" else constant_model(batch, latents.shape[1], num_actions)
    if model == "tiny_mlp_numpy":  # the numpy network must be the torch one, or its rows mean nothing
        probe = np.arange(batch) % num_actions
        for mine, ref in zip(net.recurrent_fn(latents, probe), TinyMuZeroMLP(weights).recurrent_fn(latents, probe)):
            np.testing.assert_allclose(mine, np.asarray(ref), rtol=1e-4, atol=1e-5)
    cfg = SearchConfig(policy=policy, num_simulations=sims, discount=DISCOUNT)
    rng = np.random.default_rng(seed)
    out = search(root, fn, rng, cfg)  # warm-up (numba kernels load from cache or compile)
    times, net_times = [], []
    for _ in range(repeats):
        net.seconds = 0.0
        start = time.perf_counter()
        out = search(root, fn, rng, cfg)
        times.append(time.perf_counter() - start)
        net_times.append(net.seconds)
    seconds = statistics.median(times)
    row = {"policy": policy, "model": model, "batch": batch, "simulations": sims, "actions": num_actions,
           "sims_per_s": batch * sims / seconds, "seconds_per_search": seconds, "mean_depth": out.mean_depth}
    if model != "constant":
        row["network_fraction"] = statistics.median(n / t for n, t in zip(net_times, times))
    return row


def time_reference(policy: str, num_actions: int, sims: int, repeats: int, seed: int) -> dict:
    from tests.reference.mcts import reference_search

    net = TinyMuZeroMLP(make_weights(num_actions, seed=seed))
    latents = make_latents(1, seed=seed)
    logits, values = net.initial(latents)
    rng = np.random.default_rng(seed)
    times, depths = [], []
    for i in range(repeats + 1):  # the first run is a warm-up
        start = time.perf_counter()
        out = reference_search(latents[0], logits[0], float(values[0]), np.ones(num_actions, bool), 0,
                               net.recurrent_fn, policy=policy, num_simulations=sims, discount=DISCOUNT,
                               num_players=1, gumbel=rng.gumbel(size=num_actions) if policy == "gumbel" else None)
        if i:
            times.append(time.perf_counter() - start)
            depths.append(float(np.mean(out["depths"])))
    seconds = statistics.median(times)
    return {"policy": policy, "model": "tiny_reference", "batch": 1, "simulations": sims, "actions": num_actions,
            "sims_per_s": sims / seconds, "seconds_per_search": seconds, "mean_depth": statistics.mean(depths)}


def time_mctx_row(policy: str, batch: int, num_actions: int, sims: int, repeats: int, seed: int) -> dict:
    from mctx_timing import build_search, time_mctx, tree_depths  # noqa: F401

    row = time_mctx(make_weights(num_actions, seed=seed), policy, batch, num_actions, num_simulations=sims,
                    repeats=repeats, seed=seed)
    return row


def summary(rows: list[dict]) -> list[str]:
    """The ratios the targets are stated in, at B=64."""
    def find(policy, model, batch, actions):
        return next((r for r in rows if (r["policy"], r["model"], r["batch"], r["actions"]) ==
                     (policy, model, batch, actions)), None)

    def ratio(a, b):
        return a["sims_per_s"] / b["sims_per_s"] if a and b else float("nan")

    lines = []
    for r in rows:
        if r["model"] != "mlp" or r["batch"] != 64:
            continue
        p, a = r["policy"], r["actions"]
        line = (f"{p} A={a} B=64: mlp / reference(B=1) = {ratio(r, find(p, 'reference', 1, a)):.1f}x (target >= 30x)"
                f"; mlp_numpy_engine / reference_numpy_engine(B=1) = "
                f"{ratio(find(p, 'mlp_numpy_engine', 64, a), find(p, 'reference_numpy_engine', 1, a)):.1f}x"
                f"; mlp_numpy_engine / mlp = {ratio(find(p, 'mlp_numpy_engine', 64, a), r):.2f}x"
                f"; tiny_mlp / tiny_reference(B=1) = "
                f"{ratio(find(p, 'tiny_mlp', 64, a), find(p, 'tiny_reference', 1, a)):.1f}x")
        mctx = find(p, "mctx", 64, a)
        if mctx:
            line += (f"; tiny_mlp_numpy / mctx = {ratio(find(p, 'tiny_mlp_numpy', 64, a), mctx):.2f}x (target >= 1x)"
                     f", tiny_mlp / mctx = {ratio(find(p, 'tiny_mlp', 64, a), mctx):.2f}x")
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON list (and nothing else) on stdout")
    parser.add_argument("--vs-mctx", action="store_true", help="also time mctx (jax) on the same network")
    parser.add_argument("--batches", default="1,16,64,256")
    parser.add_argument("--actions", default="2,9")
    parser.add_argument("--simulations", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    actions = [int(a) for a in args.actions.split(",")]
    rows = []

    def emit(row):
        rows.append(row)
        if not args.json:
            extra = f" compile {row['compile_s']:.2f}s" if "compile_s" in row else ""
            net = f" network {row['network_fraction']:.0%}" if "network_fraction" in row else ""
            print(f"{row['policy']:6s} {row['model']:22s} A={row['actions']} B={row['batch']:<4d} "
                  f"{row['sims_per_s']:>12,.0f} sims/s  depth {row.get('mean_depth', float('nan')):.1f}{net}{extra}",
                  flush=True)

    for policy in ("puct", "gumbel"):
        for num_actions in actions:
            emit(time_reference(policy, num_actions, args.simulations, 3 * args.repeats, args.seed))
            for model in ("constant", "tiny_mlp", "tiny_mlp_numpy"):
                for batch in batches:
                    emit(time_ours(policy, model, batch, num_actions, args.simulations, args.repeats, args.seed))
            for inference in ("torch", "auto"):
                emit(time_muzero_net(policy, 1, num_actions, args.simulations, 3 * args.repeats, args.seed,
                                     reference=True, inference=inference))
            for inference in ("torch", "auto"):
                for batch in batches:
                    emit(time_muzero_net(policy, batch, num_actions, args.simulations, args.repeats, args.seed,
                                         inference=inference))
    # mctx last: XLA's CPU thread pool stays busy for a while after a call and
    # would slow down whatever ran next on the 2 cores.
    if args.vs_mctx:
        for policy in ("puct", "gumbel"):
            for num_actions in actions:
                for batch in batches:
                    emit(time_mctx_row(policy, batch, num_actions, args.simulations, args.repeats, args.seed))
    if not args.json:
        for line in summary(rows):
            print(line)
    if args.json:
        print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()
