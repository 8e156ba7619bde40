"""SearchModel: the numpy face of a MuZeroNet that the torch-free tree search sees
(numpy in, numpy out), on the numpy engine (nets/numpy_inference.py) where it
applies and on torch otherwise."""

from __future__ import annotations

import math

import numpy as np
import torch

from zeroplan.nets.muzero_net import MuZeroNet, scale_latent
from zeroplan.nets.numpy_inference import NumpyMLPInference, Unsupported


def _as_tensor(x: np.ndarray, like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """numpy -> torch without a copy when the array is already contiguous, writable and on CPU."""
    arr = np.ascontiguousarray(x)
    if not arr.flags.writeable:
        arr = arr.copy()
    return torch.from_numpy(arr).to(device=like.device, dtype=dtype or like.dtype)


INFERENCE = ("auto", "numpy", "torch")


class SearchModel:
    """Wraps a MuZeroNet for zeroplan.mcts.search: numpy in, numpy out.

    `inference` picks the engine: "torch" runs the network itself under
    torch.inference_mode; "numpy" runs the MLP network's same functions with
    numpy and numba kernels on views of its weights (nets/numpy_inference.py;
    several times faster at the small batches of a search, where torch's
    per-operation overhead dominates); "auto" (the default) takes numpy where
    it applies (an MLP network on the CPU) and torch otherwise.

    Search always runs the network in eval mode (BatchNorm on its running
    statistics, which search latents must not update): a net found in train
    mode is switched to eval. Values and logits come back as float64, the
    search's own precision; latents in the network's dtype.

    With a value prefix (EfficientZero), the embeddings the search keeps per
    node are flat rows [latent, LSTM h, LSTM c, prefix, depth]: the reward of
    an edge is its child's prefix minus its parent's, or the child's whole
    prefix where the state was reset (every `value_prefix_horizon` steps from
    the root, as in training), so the search itself is unchanged.
    """

    def __init__(self, net: MuZeroNet, inference: str = "auto"):
        if inference not in INFERENCE:
            raise ValueError(f"inference must be one of {', '.join(map(repr, INFERENCE))}, got {inference!r}")
        self.net = net
        self.inference = inference
        net.eval()
        self._fast: NumpyMLPInference | None = None
        self._fast_engine()

    @property
    def action_dim(self) -> int:
        """0 for discrete actions; D for continuous ones (the search then samples them, mcts.sampled)."""
        return self.net.action_dim

    @property
    def chance_codes(self) -> int:
        """0, or C: the search then has chance nodes (mcts.chance) and `recurrent_fn` takes from_chance."""
        return self.net.chance_codes

    def _fast_engine(self) -> NumpyMLPInference | None:
        """The numpy engine, rebuilt if the network's parameters moved; None for torch."""
        if self.inference == "torch" or (self._fast is not None and self._fast.is_current()):
            return self._fast
        try:
            self._fast = NumpyMLPInference(self.net)
        except Unsupported:
            if self.inference == "numpy":
                raise
            self._fast = None
        return self._fast

    def _ready(self) -> torch.Tensor:
        if self.net.training:
            self.net.eval()
        return self.net._param()

    def initial(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """obs [B, *obs_shape] -> (latent float32 [B, ...], value float64 [B], policy logits float64 [B, A])."""
        fast = self._fast_engine()
        if fast is not None:
            self.net.check_obs_shape(np.shape(obs))
            latent, value, logits = fast.initial(obs)
        else:
            with torch.inference_mode():
                param = self._ready()
                out = self.net.initial_inference(_as_tensor(obs, param))
                value = self.net.value(out.value_logits.double()).cpu().numpy()
                latent, logits = out.latent.cpu().numpy(), out.policy_logits.double().cpu().numpy()
        if self.net.value_prefix is not None:  # a fresh recurrent state, prefix 0, depth 0
            fresh = np.zeros((len(latent), 2 * self.net.value_prefix.hidden + 2), latent.dtype)
            latent = np.concatenate([latent.reshape(len(latent), -1), fresh], axis=1)
        return latent, value, logits

    def _prefix_recurrent(self, embedding: torch.Tensor, action: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        net, hidden = self.net, self.net.value_prefix.hidden
        size = math.prod(net.latent_shape)
        latent = embedding[:, :size].view((-1,) + net.latent_shape)
        h, c = embedding[:, size:size + hidden], embedding[:, size + hidden:size + 2 * hidden]
        prefix, depth = embedding[:, -2].double(), embedding[:, -1]
        reset = torch.remainder(depth, net.value_prefix_horizon) == 0
        keep = (~reset).to(h.dtype)[:, None]
        nxt = scale_latent(net.core.dynamics(latent, net._action(action)))
        logits, (h, c) = net.value_prefix(nxt, (h * keep, c * keep))
        new_prefix = net.reward(logits.double())
        reward = new_prefix - torch.where(reset, torch.zeros_like(prefix), prefix)
        policy_logits, value_logits = net.core.prediction(nxt)
        row = torch.cat([nxt.flatten(1), h, c, new_prefix.to(h.dtype)[:, None], (depth + 1)[:, None]], dim=1)
        return row, reward, net.value(value_logits.double()), policy_logits.double()

    def _chance_recurrent(self, latent: np.ndarray, action: np.ndarray, from_chance: np.ndarray | None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if from_chance is None:
            raise ValueError("a network with chance codes is searched with chance nodes: recurrent_fn needs "
                             "from_chance (mcts.chance)")
        fast = self._fast_engine()
        if fast is not None:
            return fast.chance_step(latent, action, from_chance)
        with torch.inference_mode():
            param = self._ready()
            return _chance_step(self.net, _as_tensor(latent, param), _as_tensor(action, param, torch.long),
                                np.asarray(from_chance, dtype=bool).reshape(-1))

    def _action_tensor(self, action: np.ndarray, param: torch.Tensor) -> torch.Tensor:
        return _as_tensor(action, param, None if self.net.action_dim else torch.long)

    def recurrent_fn(self, latent: np.ndarray, action: np.ndarray, from_chance: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(latent [B, ...], action [B] int, or [B, D] continuous) -> (next latent float32, reward
        float64 [B], value float64 [B], policy logits float64 [B, A], or Gaussian parameters [B, 2D]).
        With chance codes, `from_chance` [B] says which rows step from an afterstate (mcts.chance)."""
        if self.net.chance is not None:
            return self._chance_recurrent(latent, action, from_chance)
        fast = self._fast_engine()
        if fast is not None:
            return fast.recurrent_prefix(latent, action) if fast.prefix is not None else fast.recurrent(latent, action)
        with torch.inference_mode():
            param = self._ready()
            if self.net.value_prefix is not None:
                row, reward, value, logits = self._prefix_recurrent(_as_tensor(latent, param),
                                                                    self._action_tensor(action, param))
                return row.cpu().numpy(), reward.cpu().numpy(), value.cpu().numpy(), logits.cpu().numpy()
            out = self.net.recurrent_inference(_as_tensor(latent, param), self._action_tensor(action, param))
            reward = self.net.reward(out.reward_logits.double())
            value = self.net.value(out.value_logits.double())
            return (out.latent.cpu().numpy(), reward.cpu().numpy(), value.cpu().numpy(),
                    out.policy_logits.double().cpu().numpy())


def _chance_step(net: MuZeroNet, latent: torch.Tensor, edge: torch.Tensor, from_chance: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One search step of a network with chance codes (the contract of mcts.chance):
    rows from a state expand an action into an afterstate, rows from an afterstate a code into a state."""
    batch, codes, actions = len(from_chance), net.chance_codes, net.num_actions
    nxt = torch.empty_like(latent)
    reward, value = np.zeros(batch), np.empty(batch)
    logits = np.zeros((batch, max(codes, actions)))
    to_after, to_state = np.flatnonzero(~from_chance), np.flatnonzero(from_chance)
    if len(to_after):
        rows = torch.as_tensor(to_after, device=latent.device)
        after, q, sigma = net.afterstate_inference(latent[rows], edge[rows])
        nxt[rows] = after
        value[to_after] = net.value(q.double()).cpu().numpy()
        logits[to_after, :codes] = sigma.double().cpu().numpy()
    if len(to_state):
        rows = torch.as_tensor(to_state, device=latent.device)
        out = net.chance_inference(latent[rows], edge[rows])
        nxt[rows] = out.latent
        reward[to_state] = net.reward(out.reward_logits.double()).cpu().numpy()
        value[to_state] = net.value(out.value_logits.double()).cpu().numpy()
        logits[to_state, :actions] = out.policy_logits.double().cpu().numpy()
    return nxt.cpu().numpy(), reward, value, logits
