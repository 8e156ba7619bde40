"""Long episodes enter replay in segments (`replay.segment_length`) while they
are played: put together, the segments are the episode; each start is stored
once and stacks the same frames as in the whole episode; its targets away from
a cut are the whole episode's."""

from __future__ import annotations

import numpy as np
import pytest

import zeroplan
from zeroplan.envs.frames import stack_frames
from zeroplan.muzero.episode import Episode
from zeroplan.muzero.replay import Replay

STACK = 3
SEGMENT = 8
SETS = ["search.num_simulations=4", "train.num_envs=1", "net.hidden=[16]", "net.latent_dim=8",
        f"replay.stack_frames={STACK}", "replay.td_steps=3", "replay.unroll_steps=2", "replay.prioritized=false"]


def _play(segment_length: int, moves: int = 160):
    """CartPole self-play with a fixed untrained network: what comes back, step by step."""
    agent = zeroplan.MuZero("cartpole", set=SETS + [f"replay.segment_length={segment_length}", "run.seed=3"],
                            tensorboard=False)
    play, out, returns = agent.runner.selfplay, [], []
    for _ in range(moves):
        out += play.step(agent.runner.model, temperature=1.0)
        returns += play.ended_returns
    return agent, out, returns


@pytest.fixture(scope="module")
def runs():
    return _play(0), _play(SEGMENT)


def _whole(segments: list[Episode]) -> list[dict]:
    """One environment's segments joined back into episodes: the cut state is
    the last of one segment and the first state after the next one's context."""
    done, chain = [], None
    for seg in segments:
        c = seg.context
        part = dict(obs=seg.obs[c:], actions=seg.actions[c:], rewards=seg.rewards[c:],
                    values=seg.root_values[c:], policies=seg.policy_targets[c:])
        if chain is None:
            assert c == 0, "an episode's first segment has no context"
            chain = part
        else:
            assert c == STACK - 1
            np.testing.assert_array_equal(seg.obs[:c + 1], chain["obs"][-c - 1:])
            # states (and their values and policies) overlap at the cut; moves do not
            chain = {k: np.concatenate([chain[k] if k in ("actions", "rewards") else chain[k][:-1], part[k]])
                     for k in part}
        if seg.terminated:  # (CartPole's time limit is far past these episodes)
            done.append(chain)
            chain = None
    return done


def test_segments_put_together_are_the_episodes(runs):
    (_, whole, returns_whole), (_, segments, returns_seg) = runs
    assert len(segments) > 1.5 * len(whole), "the episodes were not cut"
    assert all(len(s) - s.context <= SEGMENT for s in segments)
    assert all(s.context == 0 or s.context == STACK - 1 for s in segments)
    cut = [s for s in segments if not s.terminated]
    assert cut
    # a cut bootstraps from the network's value of the state it was cut at, as a time limit does
    agent = runs[1][0]
    last = np.stack([stack_frames(list(s.obs), len(s), STACK) for s in cut])
    _, values, _ = agent.runner.model.initial(last)
    np.testing.assert_allclose([s.root_values[-1] for s in cut], values, rtol=1e-6)
    joined = _whole(segments)
    assert len(joined) == len(whole) > 3
    for ep, chain in zip(whole, joined):
        np.testing.assert_array_equal(ep.obs, chain["obs"])
        np.testing.assert_array_equal(ep.actions, chain["actions"])
        np.testing.assert_array_equal(ep.rewards, chain["rewards"])
        np.testing.assert_array_equal(ep.policy_targets[:-1], chain["policies"][:-1])
        np.testing.assert_array_equal(ep.root_values, chain["values"])
    # an episode's return is counted once, when it ends, not per segment
    assert returns_seg == returns_whole and len(returns_whole) == len(whole)


def test_replay_stores_each_start_once_with_the_episodes_frames(runs):
    (agent, whole, _), (_, segments, _) = runs
    config = agent.config.replay
    a = Replay(config, 2, 0.997)
    b = Replay(config, 2, 0.997)
    for ep in whole:
        a.add(ep)
    offsets = {}  # replay's id of each segment -> the segment
    for seg in segments[:max(i for i, s in enumerate(segments) if s.terminated) + 1]:  # whole episodes
        offsets[b.add(seg)] = seg
    assert len(a) == len(b) == sum(len(ep) for ep in whole)

    rng = np.random.default_rng(0)
    slots = np.arange(len(b))
    batch = b.batch_for(slots, np.ones(len(slots), np.float32), rng)
    for i, slot in enumerate(slots):
        seg = offsets[int(batch.episode_ids[i])]
        t = int(batch.starts[i])
        assert t >= seg.context, "a context state was a sample's start"
        # the frames it stacks: the segment's own rows, reaching back into its context
        np.testing.assert_array_equal(batch.obs[i], stack_frames(list(seg.obs), t, STACK))
    # every state of every episode is a start exactly once: the stacked observations agree as multisets
    batch_a = a.batch_for(np.arange(len(a)), np.ones(len(a), np.float32), rng)
    key = lambda o: o.tobytes()  # noqa: E731
    assert sorted(map(key, batch_a.obs)) == sorted(map(key, batch.obs))

    # away from a cut (the bootstrap and the unroll within the segment) the targets are the episode's
    horizon = config.td_steps + config.unroll_steps
    far = [i for i in range(len(slots))
           if int(batch.starts[i]) + horizon < len(offsets[int(batch.episode_ids[i])])]
    targets_a = {key(o): v for o, v in zip(batch_a.obs, batch_a.target_values)}
    assert len(far) > len(slots) // 5
    for i in far:
        np.testing.assert_allclose(batch.target_values[i], targets_a[key(batch.obs[i])], rtol=1e-6, atol=1e-6)


def test_episode_context_round_trips_and_is_checked():
    seg = Episode(obs=np.zeros((6, 2), np.float32), actions=np.zeros(5, np.int64), rewards=np.ones(5, np.float32),
                  to_play=np.zeros(6, np.int8), legal_masks=np.ones((6, 2), bool),
                  root_values=np.zeros(6, np.float32), policy_targets=np.full((6, 2), 0.5, np.float32),
                  terminated=False, context=2)
    assert Episode.from_arrays(seg.arrays()).context == 2
    assert "context" not in Episode.from_arrays({**seg.arrays(), "context": np.array(0)}).arrays()
    seg.context = 5
    with pytest.raises(ValueError, match="context 5"):
        seg.validate()


def test_a_segment_of_one_move_still_enters_replay():
    """The move after a cut ends the episode: its last segment has one move and the context."""
    replay = Replay(zeroplan.config.ReplayConfig(capacity=100, stack_frames=3), 2, 0.99)
    seg = Episode(obs=np.arange(4, dtype=np.float32)[:, None], actions=np.zeros(3, np.int64),
                  rewards=np.ones(3, np.float32), to_play=np.zeros(4, np.int8), legal_masks=np.ones((4, 2), bool),
                  root_values=np.zeros(4, np.float32), policy_targets=np.full((4, 2), 0.5, np.float32),
                  terminated=True, context=2)
    replay.add(seg)
    assert len(replay) == 1 and replay.total_added == 1
    batch = replay.batch_for(np.array([0]), np.ones(1, np.float32), np.random.default_rng(0))
    assert batch.starts.tolist() == [2]
    np.testing.assert_array_equal(batch.obs[0], [0.0, 1.0, 2.0])


def test_a_segment_too_short_for_its_targets_is_refused():
    with pytest.raises(zeroplan.config.ConfigError, match="replay.segment_length 8 must be more than"):
        zeroplan.config.load_config("cartpole", dotted=["replay.segment_length=8", "replay.td_steps=5",
                                                        "replay.unroll_steps=3"])
