"""A trained agent's networks as ONNX files, for a search without torch.

`export_onnx(agent, out_dir)` writes MuZero's three functions as the paper
names them (`representation.onnx`: observations -> latent; `dynamics.onnx`:
latent, action index -> next latent, reward logits; `prediction.onnx`:
latent -> policy logits, value logits) and `search.json`: what a search
needs beside them (shapes, the value support and its transform, the
discount, the agent's search settings). The latent comes out of each file
already min-max scaled, as the search sees it. `OnnxModel` reads the files
back with onnxruntime and has the face of a search model (`initial`,
`recurrent_fn`, numpy in and out), so zeroplan's own search runs on it;
docs/export.md shows a search loop with numpy and onnxruntime alone.

Needs `pip install 'zeroplan[onnx]'` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from zeroplan.nets.numpy_inference import support_scalars
from zeroplan.nets.support import EPS

FORMAT = 1
FILES = {"representation": "representation.onnx", "dynamics": "dynamics.onnx", "prediction": "prediction.onnx"}
OPSET = 18


class ExportError(ValueError):
    """An agent, a directory or an environment that cannot be exported or read back."""


def _modules(net):
    """The three functions as torch modules with plain tensor inputs and outputs."""
    from torch import nn

    from zeroplan.nets.muzero_net import scale_latent

    class Representation(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, obs):
            return scale_latent(self.net.core.representation(obs))

    class Dynamics(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, latent, action):
            nxt = scale_latent(self.net.core.dynamics(latent, action))
            return nxt, self.net.core.reward(nxt)

    class Prediction(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, latent):
            return self.net.core.prediction(latent)

    return Representation().eval(), Dynamics().eval(), Prediction().eval()


def search_spec(agent) -> dict[str, Any]:
    """`search.json`: everything beside the three networks that a search needs."""
    config, net = agent.config, agent.net
    return {
        "format": FORMAT,
        "env": config.env.id,
        "files": FILES,
        "obs_shape": list(net.obs_shape),
        "stack_frames": config.replay.stack_frames,
        "latent_shape": list(net.latent_shape),
        "num_actions": agent.spec.num_actions,
        "num_players": agent.spec.num_players,
        "action_encoding": "the dynamics takes the action index, int64 [B]; the network encodes it itself",
        "support_size": net.support_size,
        "value_transform": {
            "eps": EPS,
            "to_scalar": "p = softmax(logits) over the atoms -S..S; y = sum(p * atoms); "
                         "x = sign(y) * (((sqrt(1 + 4 eps (|y| + 1 + eps)) - 1) / (2 eps))^2 - 1)",
        },
        "discount": config.search.discount,
        "search": config.search.model_dump(mode="json"),
        "inputs": {"representation": ["obs"], "dynamics": ["latent", "action"], "prediction": ["latent"]},
        "outputs": {"representation": ["latent"], "dynamics": ["next_latent", "reward_logits"],
                    "prediction": ["policy_logits", "value_logits"]},
    }


def export_onnx(agent, out_dir: str | Path) -> dict[str, Any]:
    """Write the agent's three networks and `search.json` to `out_dir`; returns the spec."""
    try:
        import torch
        import onnx  # noqa: F401  (the exporter needs it; a clear message if it is missing)
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ExportError(f"ONNX export needs the onnx extra: pip install 'zeroplan[onnx]' ({err})") from None
    net = agent.net
    if agent.spec.action_dim or agent.config.search.sampled_actions:
        raise ExportError("this agent samples its actions (Sampled MuZero: search.sampled_actions); the export "
                          "covers searches over every discrete action only")
    if net.chance is not None:
        raise ExportError("this agent has chance codes (net.chance_codes, Stochastic MuZero); the export covers "
                          "MuZero's one-step dynamics only")
    if net.value_prefix is not None:
        raise ExportError("this agent predicts value prefixes (net.value_prefix, an LSTM across the unroll); "
                          "the export covers MuZero's per-step reward head only")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep, dyn, pred = _modules(copy.deepcopy(net).cpu().eval())  # the caller's net stays where it is
    batch = torch.export.Dim("batch", min=1, max=65_536)
    obs = torch.zeros((2,) + tuple(net.obs_shape))
    latent = torch.zeros((2,) + tuple(net.latent_shape))
    action = torch.zeros(2, dtype=torch.long)
    jobs = [(rep, (obs,), ["obs"], ["latent"]), (dyn, (latent, action), ["latent", "action"],
                                                  ["next_latent", "reward_logits"]),
            (pred, (latent,), ["latent"], ["policy_logits", "value_logits"])]
    for (name, path), (module, args, inputs, outputs) in zip(FILES.items(), jobs):
        shapes = {arg: {0: batch} for arg in module.forward.__code__.co_varnames[1:len(args) + 1]}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on its own internals
            program = torch.onnx.export(module, args, dynamo=True, input_names=inputs, output_names=outputs,
                                        dynamic_shapes=shapes, opset_version=OPSET, verbose=False)
        program.save(str(out / path))
    spec = search_spec(agent)
    (out / "search.json").write_text(json.dumps(spec, indent=1) + "\n")
    return spec


class OnnxModel:
    """Exported networks run by onnxruntime, with a search model's face:
    `initial(obs)` and `recurrent_fn(latent, action)`, numpy in and out."""

    def __init__(self, directory: str | Path):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ExportError("reading exported networks needs onnxruntime: pip install 'zeroplan[onnx]'") from None
        directory = Path(directory)
        try:
            self.spec = json.loads((directory / "search.json").read_text())
        except (OSError, ValueError) as err:
            raise ExportError(f"{directory}: no readable search.json ({err})") from None
        if self.spec.get("format") != FORMAT:
            raise ExportError(f"{directory}: search.json format {self.spec.get('format')!r}, expected {FORMAT}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.sessions = {}
        for name, file in FILES.items():
            try:
                self.sessions[name] = ort.InferenceSession(str(directory / file), options,
                                                           providers=["CPUExecutionProvider"])
            except Exception as err:  # onnxruntime raises its own types for a missing or broken file
                raise ExportError(f"{directory / file}: cannot be read as an ONNX network ({err})") from None
        self.support = int(self.spec["support_size"])

    def run(self, name: str, **inputs: np.ndarray) -> list[np.ndarray]:
        return self.sessions[name].run(None, inputs)

    def initial(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        (latent,) = self.run("representation", obs=np.ascontiguousarray(obs, dtype=np.float32))
        policy, value = self.run("prediction", latent=latent)
        return latent, support_scalars(value, self.support), policy.astype(np.float64)

    def recurrent_fn(self, latent: np.ndarray, action: np.ndarray):
        nxt, reward = self.run("dynamics", latent=np.ascontiguousarray(latent, dtype=np.float32),
                               action=np.asarray(action, dtype=np.int64))
        policy, value = self.run("prediction", latent=nxt)
        return (nxt, support_scalars(reward, self.support), support_scalars(value, self.support),
                policy.astype(np.float64))
