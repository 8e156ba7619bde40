"""MuZero's three functions as residual conv nets, for board and image observations.

The latent keeps the board's geometry, [channels, H, W], so the dynamics can
move stones locally. The action enters the dynamics as extra planes laid out
where it acts (`action_encoding`):

- "cell": one plane with a 1 on the cell played (games whose actions are
  their cells, A == H * W: tic-tac-toe, Go);
- "column": one plane of 1s down the column played (drop games whose actions
  are their columns, A == W: connect four). A convolution then sees the move
  next to the stones it lands on: on random connect-four games the reward
  path learns which moves win within 1,000 updates, where one-hot planes
  need several thousand (benchmarks/journal/connect4.md);
- "planes": A constant planes, one-hot (any other action set, e.g. Atari);
- "auto": "cell" if A == H * W, else "column" if A == W, else "planes".

`downsample` puts the MuZero paper's Atari front in the representation, for
large images: two stride-2 convolutions and two stride-2 average poolings,
with residual blocks between them, take 96x96 frames to a 6x6 latent (each
side divided by 16, rounded up), on which the dynamics and prediction then
work. The paper's widths are 128 then 256 planes; here half the channels,
then `channels`, one residual block at each stage (as EfficientZero's
lighter version). Actions then always enter as planes.

Head output layers start at zero (value 0, reward 0, uniform prior), as in
the MLP.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from zeroplan.nets.mlp import zero_


def conv_bn_relu(in_channels: int, out_channels: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, plus the input, then ReLU."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


def residual_tower(channels: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])


class ConvHead(nn.Module):
    """1x1 conv down to a few channels, flatten, then a hidden layer of `hidden`
    units and ReLU if `hidden` > 0 (AlphaZero's value head), and the output
    layer (zeroed)."""

    def __init__(self, channels: int, head_channels: int, cells: int, out_dim: int, hidden: int = 0):
        super().__init__()
        self.reduce = conv_bn_relu(channels, head_channels, kernel=1)
        width = head_channels * cells
        self.hidden = nn.Sequential(nn.Linear(width, hidden), nn.ReLU()) if hidden > 0 else nn.Identity()
        self.out = zero_(nn.Linear(hidden if hidden > 0 else width, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(self.reduce(x).flatten(1)))


ACTION_ENCODINGS = ("auto", "cell", "column", "planes")


class Downsample(nn.Module):
    """[B, C_in, H, W] -> [B, channels, ceil(H / 16), ceil(W / 16)]."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        half = max(1, channels // 2)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, half, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(half), nn.ReLU(),
            ResidualBlock(half),
            nn.Conv2d(half, channels, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            ResidualBlock(channels),
            nn.AvgPool2d(3, stride=2, padding=1),
            ResidualBlock(channels),
            nn.AvgPool2d(3, stride=2, padding=1),
        )

    @staticmethod
    def out_size(size: int) -> int:
        for _ in range(4):  # each stride-2 stage with padding 1 halves, rounding up
            size = (size + 1) // 2
        return size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def resolve_action_encoding(encoding: str, num_actions: int, height: int, width: int) -> str:
    """The concrete encoding for `encoding` ("auto" resolved); a ValueError naming
    the mismatch if the actions cannot be laid out that way."""
    if encoding not in ACTION_ENCODINGS:
        raise ValueError(f"unknown action encoding {encoding!r}; expected one of "
                         f"{', '.join(map(repr, ACTION_ENCODINGS))}")
    if encoding == "auto":
        return "cell" if num_actions == height * width else "column" if num_actions == width else "planes"
    if encoding == "cell" and num_actions != height * width:
        raise ValueError(f"action encoding 'cell' needs one action per cell ({height} x {width} = "
                         f"{height * width}), the env has {num_actions} actions")
    if encoding == "column" and num_actions != width:
        raise ValueError(f"action encoding 'column' needs one action per column ({width}), the env has "
                         f"{num_actions} actions")
    return encoding


class ResNetCore(nn.Module):
    """Representation, dynamics, reward and prediction for latents [B, channels, H, W]."""

    def __init__(self, obs_shape: tuple[int, int, int], num_actions: int, support_size: int,
                 channels: int, blocks: int, action_encoding: str = "auto", head_hidden: int = 0,
                 downsample: bool = False):
        super().__init__()
        in_channels, height, width = obs_shape
        if downsample:
            height, width = Downsample.out_size(height), Downsample.out_size(width)
            if action_encoding not in ("auto", "planes"):
                raise ValueError(f"action encoding {action_encoding!r} lays actions out on the board's cells; with "
                                 "net.downsample the latent is a smaller grid, so actions enter as 'planes'")
            action_encoding = "planes"
        cells = height * width
        support = 2 * support_size + 1
        head_channels = min(channels, 16)
        self.num_actions = num_actions
        self.height, self.width = height, width
        self.action_encoding = resolve_action_encoding(action_encoding, num_actions, height, width)
        action_channels = num_actions if self.action_encoding == "planes" else 1
        self.latent_shape: tuple[int, ...] = (channels, height, width)
        front = Downsample(in_channels, channels) if downsample else conv_bn_relu(in_channels, channels)
        self.representation_net = nn.Sequential(front, residual_tower(channels, blocks))
        self.dynamics_net = nn.Sequential(conv_bn_relu(channels + action_channels, channels),
                                          residual_tower(channels, blocks))
        # Value and reward are functions of the whole board (a threat, a line
        # completed): `head_hidden` > 0 gives their heads a hidden layer to
        # combine what the convolutions saw in different places.
        self.reward_head = ConvHead(channels, head_channels, cells, support, head_hidden)
        self.prediction_trunk = residual_tower(channels, blocks)
        self.policy_head = ConvHead(channels, head_channels, cells, num_actions)
        self.value_head = ConvHead(channels, head_channels, cells, support, head_hidden)

    def action_plane(self, action: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """[B] actions -> [B, 1, H, W] ("cell", "column") or [B, A, H, W] ("planes")."""
        batch, h, w = action.shape[0], self.height, self.width
        one_hot = F.one_hot(action, self.num_actions).to(dtype)
        if self.action_encoding == "cell":
            return one_hot.view(batch, 1, h, w)
        if self.action_encoding == "column":
            return one_hot.view(batch, 1, 1, w).expand(batch, 1, h, w)
        return one_hot.view(batch, self.num_actions, 1, 1).expand(batch, self.num_actions, h, w)

    def representation(self, obs: torch.Tensor) -> torch.Tensor:
        return self.representation_net(obs)

    def dynamics(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.dynamics_net(torch.cat([latent, self.action_plane(action.to(latent.device), latent.dtype)], dim=1))

    def reward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.reward_head(latent)

    def prediction(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.prediction_trunk(latent)
        return self.policy_head(x), self.value_head(x)
