"""Opponents for evaluation: a uniform random player, perfect tic-tac-toe and a
depth-limited alpha-beta for connect four.

The minimax expert picks uniformly among *all* optimal moves, so a hundred
evaluation games are a hundred different games rather than one game replayed;
an agent that has only memorised one line of play is found out.

The solved game is cached at module level. This breaks the "no module-level
state" habit on purpose: the table is a pure function of the rules, computed on
first use (tens of milliseconds), identical in every process, and never mutated
in a way that could differ between callers.
"""

from __future__ import annotations

import numpy as np

from zeroplan.envs.games.tictactoe import FULL_MASK, TicTacToe, has_line

CONNECT4_DEFAULT_DEPTH = 4

# key -> (value for the player to move, optimal actions); key = bits0 | bits1 << 9 | to_play << 18
_SOLVED: dict[int, tuple[int, tuple[int, ...]]] = {}


class RandomExpert:
    """Uniform over legal actions; works for any environment with `legal_mask()`."""

    def act(self, env, rng: np.random.Generator) -> int:
        legal = np.flatnonzero(env.legal_mask())
        if legal.size == 0:
            raise ValueError("RandomExpert: no legal action (is the episode over?)")
        return int(legal[rng.integers(legal.size)])


class TicTacToeMinimax:
    """Perfect play, random among the optimal moves."""

    def act(self, env: TicTacToe, rng: np.random.Generator) -> int:
        actions = optimal_actions(env.board(), env.to_play())
        if not actions:
            raise ValueError("TicTacToeMinimax: the game is over, there is no move to make")
        return actions[int(rng.integers(len(actions)))]

    @staticmethod
    def optimal_actions(board, to_play: int) -> list[int]:
        return optimal_actions(board, to_play)

    @staticmethod
    def value(board, to_play: int) -> int:
        return value(board, to_play)


def optimal_actions(board, to_play: int) -> list[int]:
    """Every move that achieves the game-theoretic value; [] on a finished board."""
    return list(_lookup(board, to_play)[1])


def value(board, to_play: int) -> int:
    """+1 win, 0 draw, -1 loss for `to_play` under perfect play from both sides.

    On a finished board: +1/-1 if someone has three in a row (from `to_play`'s side), else 0.
    """
    return _lookup(board, to_play)[0]


def perfect_play_mistakes(choose, player: int) -> tuple[int, list[dict]]:
    """Every tic-tac-toe position a player can meet against perfect play, checked.

    From the empty board, the opponent plays each of its optimal moves in turn
    and `choose(env) -> move` gives the player's one reply (deterministic, as
    in evaluation). A *mistake* is a reply that lowers the player's
    game-theoretic value (a draw thrown into a loss, a win into a draw); the
    line stops there. Returns the number of positions the player decided and
    the mistakes (board, move, optimal moves, value before and after). No
    mistakes means no game against perfect play can be lost, whatever the
    expert's tie-breaks."""
    seen: set[tuple[bytes, int]] = set()
    mistakes: list[dict] = []
    decisions = 0
    stack = [TicTacToe()]
    stack[0].reset(seed=0)
    while stack:
        env = stack.pop()
        board, mover = env.board(), env.to_play()
        if (board.tobytes(), mover) in seen or env.is_over():
            continue
        seen.add((board.tobytes(), mover))
        moves = optimal_actions(board, mover)
        if mover == player:
            decisions += 1
            move = int(choose(env))
            after_env = env.clone()
            _, reward, done, _ = after_env.step(move)
            before = value(board, mover)
            after = (1 if reward > 0 else 0) if done else -value(after_env.board(), after_env.to_play())
            if after < before:
                mistakes.append({"board": board.reshape(3, 3).tolist(), "move": move, "optimal": moves,
                                 "value": before, "after": after})
                continue
            moves = [move]
        for move in moves:
            child = env.clone()
            child.step(move)
            stack.append(child)
    return decisions, mistakes


def _lookup(board, to_play: int) -> tuple[int, tuple[int, ...]]:
    if not _SOLVED:
        _solve(0, 0, 0)  # the whole reachable game, once
    bits0, bits1 = _board_bits(board)
    if to_play not in (0, 1):
        raise ValueError(f"to_play must be 0 or 1, got {to_play!r}")
    key = bits0 | bits1 << 9 | to_play << 18
    hit = _SOLVED.get(key)
    return hit if hit is not None else _solve(bits0, bits1, to_play)


def _board_bits(board) -> tuple[int, int]:
    cells = np.asarray(board).reshape(-1)
    if cells.shape != (9,):
        raise ValueError(f"a tic-tac-toe board has 9 cells, got shape {np.asarray(board).shape}")
    bits = [0, 0, 0]
    for cell, v in enumerate(cells.tolist()):
        if v not in (0, 1, 2):
            raise ValueError(f"board cell {cell} holds {v!r}; cells are 0 (empty), 1 or 2")
        bits[v] |= 1 << cell
    return bits[1], bits[2]


def _solve(bits0: int, bits1: int, to_play: int) -> tuple[int, tuple[int, ...]]:
    """Memoised negamax; depth is at most 9 so plain recursion is fine."""
    key = bits0 | bits1 << 9 | to_play << 18
    hit = _SOLVED.get(key)
    if hit is not None:
        return hit
    mine, theirs = (bits0, bits1) if to_play == 0 else (bits1, bits0)
    if has_line(theirs):
        result = (-1, ())
    elif has_line(mine):
        result = (1, ())
    elif (bits0 | bits1) == FULL_MASK:
        result = (0, ())
    else:
        best, moves = -2, []
        empty = ~(bits0 | bits1) & FULL_MASK
        for cell in range(9):
            if not empty >> cell & 1:
                continue
            if to_play == 0:
                child = -_solve(bits0 | 1 << cell, bits1, 1)[0]
            else:
                child = -_solve(bits0, bits1 | 1 << cell, 0)[0]
            if child > best:
                best, moves = child, [cell]
            elif child == best:
                moves.append(cell)
        result = (best, tuple(moves))
    _SOLVED[key] = result
    return result


class ConnectFourAlphaBeta:
    """Depth-limited alpha-beta with an open-lines heuristic, random among equal moves.

    An immediate win is always taken and a lone immediate threat always blocked,
    whatever the depth, so even a shallow expert punishes blunders; deeper
    search (compiled, see `envs.alphabeta`) does the rest. Works on any env whose
    `board()` is the native 6x7 grid.
    """

    def __init__(self, depth: int = CONNECT4_DEFAULT_DEPTH) -> None:
        if int(depth) < 1:
            raise ValueError(f"ConnectFourAlphaBeta: depth must be >= 1, got {depth!r}")
        self.depth = int(depth)

    def act(self, env, rng: np.random.Generator) -> int:
        from zeroplan.envs import alphabeta

        if not env.legal_mask().any():
            raise ValueError("ConnectFourAlphaBeta: the game is over, there is no move to make")
        mine, theirs, heights = alphabeta.position(env.board(), env.to_play())
        candidates = alphabeta.winning_columns(mine, heights)
        if not candidates.any():
            candidates = alphabeta.winning_columns(theirs, heights)  # must block there
        if candidates.sum() == 1:
            return int(np.flatnonzero(candidates)[0])
        return self._best(alphabeta.root_scores(mine, theirs, heights, self.depth), candidates, rng)

    def scores(self, env) -> np.ndarray:
        """The search's score of every column for the player to move (very negative when full)."""
        from zeroplan.envs import alphabeta

        mine, theirs, heights = alphabeta.position(env.board(), env.to_play())
        return alphabeta.root_scores(mine, theirs, heights, self.depth)

    @staticmethod
    def _best(scores: np.ndarray, candidates: np.ndarray, rng: np.random.Generator) -> int:
        from zeroplan.envs.alphabeta import NO_MOVE

        allowed = scores > NO_MOVE
        if candidates.any():
            allowed &= candidates
        masked = np.where(allowed, scores, NO_MOVE)
        best = np.flatnonzero(masked == masked.max())
        return int(best[rng.integers(best.size)])


CONNECT4_IDS = ("connect4",)


def make_opponent(name: str, env_id: str):
    """An evaluation opponent by name: "random" for any game; "expert" where one exists
    (perfect play for tic-tac-toe, alpha-beta at depth 4 for connect four); and for
    connect four "alphabeta:N" for a search N plies deep; for OpenSpiel games "mcts:N",
    OpenSpiel's MCTS bot with N simulations per move."""
    if name == "random":
        return RandomExpert()
    if name == "expert":
        if env_id == "tictactoe":
            return TicTacToeMinimax()
        if env_id in CONNECT4_IDS:
            return ConnectFourAlphaBeta()
        raise ValueError(f"no expert opponent for {env_id!r} yet (use random)")
    if name.startswith("alphabeta:"):
        if env_id not in CONNECT4_IDS:
            raise ValueError(f"alpha-beta opponents are for connect4, not {env_id!r}")
        depth = name.split(":", 1)[1]
        if not depth.isdigit() or int(depth) < 1:
            raise ValueError(f"opponent {name!r}: the depth after 'alphabeta:' must be a whole number >= 1")
        return ConnectFourAlphaBeta(int(depth))
    if name.startswith("mcts:"):
        if not env_id.startswith("openspiel:"):
            raise ValueError(f"mcts:N opponents (OpenSpiel's MCTS bot) are for openspiel: games, not {env_id!r}")
        sims = name.split(":", 1)[1]
        if not sims.isdigit() or int(sims) < 1:
            raise ValueError(f"opponent {name!r}: the simulations after 'mcts:' must be a whole number >= 1")
        from zeroplan.envs.openspiel import OpenSpielMCTS

        return OpenSpielMCTS(int(sims))
    raise ValueError(f"opponent must be 'random', 'expert', 'alphabeta:N' or 'mcts:N', got {name!r}")


def resolve_opponent(name: str, env_id: str) -> tuple[str, str | None]:
    """The opponent a run will evaluate against, settled before its first step:
    "auto" is the game's expert where it has one, else random play (with a note
    saying so); any other name must exist for the game (a ValueError says why not)."""
    if name == "auto":
        try:
            make_opponent("expert", env_id)
            return "expert", None
        except ValueError:
            return "random", f"run.eval_opponent=random ({env_id} has no expert opponent)"
    make_opponent(name, env_id)
    return name, None
