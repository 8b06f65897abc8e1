"""
The seeds' case for optimising a policy directly: perceptual aliasing. In both tasks several states share one
observation, so every deterministic policy of the observation (what a greedy value method ends with) fails in some
of them, while a stochastic one escapes. Their exact values under any memoryless policy are computed here, so that
what an algorithm learned can be read against the optimum.
"""

import itertools
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

LEFT, RIGHT = 0, 1


class ShortCorridorEnv(gym.Env):
    """
    The short corridor with switched actions (Sutton & Barto, 2018, Example 13.1). Three non-terminal states in a row
    and the goal on the right; reward −1 per step. In the first and third state "left" and "right" move the agent
    that way (left at the wall stays put); in the second they are reversed. Every non-terminal state shows the same
    observation, so a policy is one number, the probability p of "right" (:func:`short_corridor_value`).
    """

    observation_space = spaces.Discrete(1)
    action_space = spaces.Discrete(2)  # 0: left, 1: right

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.state = 0
        return 0, {"state": self.state}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict]:
        move = 1 if action == RIGHT else -1
        if self.state == 1:
            move = -move
        self.state = max(0, self.state + move)
        return 0, -1.0, self.state == 3, False, {"state": self.state}


def short_corridor_value(p: float | np.ndarray) -> float | np.ndarray:
    """
    v(s₀) of the policy that goes right with probability p, without a time limit. With v₀, v₁, v₂ the values of
    the three states: v₀ = −1 + p·v₁ + (1 − p)·v₀, v₁ = −1 + p·v₀ + (1 − p)·v₂ (actions reversed) and
    v₂ = −1 + (1 − p)·v₁ (right reaches the goal). Solving gives v₁ = (p − 3)/(p(1 − p)) and
    v₀ = v₁ − 1/p = (2p − 4)/(p(1 − p)), −∞ at p = 0 and p = 1.
    """
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where((p > 0) & (p < 1), (2 * p - 4) / np.maximum(p * (1 - p), 1e-300), -np.inf)


def finite_horizon_value(transition: np.ndarray, start: np.ndarray, horizon: int) -> float:
    """
    The expected return of reward −1 per step over at most ``horizon`` steps, from the ``start`` distribution over
    the non-terminal states, with ``transition[i, j]`` the probability of stepping from i to j (the missing mass
    reaches the goal): v_k = −1 + P v_{k−1}, v_0 = 0.
    """
    values = np.zeros(len(transition))
    for _ in range(horizon):
        values = -1.0 + transition @ values
    return float(start @ values)


def short_corridor_finite_value(p: float, horizon: int) -> float:
    """v(s₀) of the policy that goes right with probability p, in episodes cut after ``horizon`` steps."""
    transition = np.array([[1 - p, p, 0.0], [p, 0.0, 1 - p], [0.0, 1 - p, 0.0]])  # state 1 reverses the actions
    return finite_horizon_value(transition, np.array([1.0, 0.0, 0.0]), horizon)


# The optimum: d/dp of (2p − 4)/(p − p²) vanishes where p² − 4p + 2 = 0, at p* = 2 − √2
SHORT_CORRIDOR_P_STAR = 2 - np.sqrt(2)
SHORT_CORRIDOR_V_STAR = float(short_corridor_value(SHORT_CORRIDOR_P_STAR))  # −(3 + 2√2)·2 ≈ −11.657


class AliasedGridworldEnv(gym.Env):
    """
    A snake-shaped gridworld with the goal in a corner (G) and four aliased interior squares (a)::

        row 0:  G  a  a  b
        row 1:  #  #  #  c
        row 2:  d  a  a  e

    The agent starts in a uniformly random non-goal square and sees only the walls around it (north, east, south,
    west; the grid's edge and ``#`` are walls), so the four ``a`` squares, walled north and south, look the same.
    From row 2 the way to the goal runs right, up the ``c`` column, then left along row 0. A deterministic policy
    must take one action in every ``a``: "left" loops between ``d`` and the ``a`` next to it, "right" between ``b`` and
    its ``a``, and up or down stays put. Randomising between left and right escapes both. Reward −1 per step; a move
    into a wall stays put.
    """

    ROWS, COLS = 3, 4
    GOAL = (0, 0)
    OPEN = frozenset({(0, 0), (0, 1), (0, 2), (0, 3), (1, 3), (2, 0), (2, 1), (2, 2), (2, 3)})
    MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # north, east, south, west: the actions, in the order of the walls
    observation_space = spaces.MultiBinary(4)
    action_space = spaces.Discrete(4)

    @classmethod
    def walls(cls, cell: tuple[int, int]) -> np.ndarray:
        """Which of the four neighbours (north, east, south, west) of ``cell`` are walls: the observation."""
        return np.array([(cell[0] + dr, cell[1] + dc) not in cls.OPEN for dr, dc in cls.MOVES], dtype=np.int8)

    @classmethod
    def observation_key(cls, cell: tuple[int, int]) -> tuple[int, ...]:
        """The observation of ``cell`` as a tuple of ints, the key of a memoryless policy."""
        return tuple(int(wall) for wall in cls.walls(cell))

    @classmethod
    def next_cell(cls, cell: tuple[int, int], action: int) -> tuple[int, int]:
        dr, dc = cls.MOVES[action]
        target = (cell[0] + dr, cell[1] + dc)
        return target if target in cls.OPEN else cell

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        starts = sorted(self.OPEN - {self.GOAL})
        self.cell = starts[self.np_random.integers(len(starts))]
        return self.walls(self.cell), {"cell": self.cell}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.cell = self.next_cell(self.cell, int(action))
        return self.walls(self.cell), -1.0, self.cell == self.GOAL, False, {"cell": self.cell}


def gridworld_observations() -> list[tuple[int, ...]]:
    """The distinct observations of the non-goal squares (the aliased one among them), in a fixed order."""
    cells = sorted(AliasedGridworldEnv.OPEN - {AliasedGridworldEnv.GOAL})
    return sorted({AliasedGridworldEnv.observation_key(cell) for cell in cells})


def gridworld_value(policy: dict[tuple[int, ...], np.ndarray], horizon: int) -> float:
    """
    The exact expected return of a memoryless policy (action probabilities for each observation) from the uniform
    start, over an episode of at most ``horizon`` steps: finite-horizon policy evaluation,
    v_k(s) = −1 + Σ_a π(a|o(s)) v_{k−1}(s'), v_0 = 0, the goal worth 0.
    """
    cells = sorted(AliasedGridworldEnv.OPEN - {AliasedGridworldEnv.GOAL})
    index = {cell: i for i, cell in enumerate(cells)}
    transition = np.zeros((len(cells), len(cells)))  # to the goal: nothing left to collect
    for cell in cells:
        probabilities = policy[AliasedGridworldEnv.observation_key(cell)]
        for action, probability in enumerate(probabilities):
            target = AliasedGridworldEnv.next_cell(cell, action)
            if target != AliasedGridworldEnv.GOAL:
                transition[index[cell], index[target]] += probability
    return finite_horizon_value(transition, np.full(len(cells), 1 / len(cells)), horizon)


def gridworld_best_deterministic(horizon: int) -> tuple[float, dict[tuple[int, ...], int]]:
    """The best deterministic memoryless policy, by evaluating all of them (4 actions ^ 5 observations)."""
    observations = gridworld_observations()
    best: tuple[float, dict[tuple[int, ...], int]] = (-np.inf, {})
    for actions in itertools.product(range(4), repeat=len(observations)):
        policy = {obs: np.eye(4)[action] for obs, action in zip(observations, actions, strict=True)}
        value = gridworld_value(policy, horizon)
        if value > best[0]:
            best = (value, dict(zip(observations, actions, strict=True)))
    return best


def gridworld_best_stochastic(horizon: int, restarts: int = 8, seed: int = 0) -> tuple[float, dict]:
    """
    The best stochastic memoryless policy: the exact value maximised over softmax logits for each observation
    (scipy's L-BFGS-B, which the zoo and benchmarks extras install, from ``restarts`` random starts; the value is
    smooth in the logits).
    """
    from scipy.optimize import minimize

    observations = gridworld_observations()

    def policy_of(logits: np.ndarray) -> dict[tuple[int, ...], np.ndarray]:
        logits = logits.reshape(len(observations), 4)
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        return dict(zip(observations, probabilities / probabilities.sum(axis=1, keepdims=True), strict=True))

    rng = np.random.default_rng(seed)
    results = [
        minimize(lambda x: -gridworld_value(policy_of(x), horizon), rng.normal(size=len(observations) * 4))
        for _ in range(restarts)
    ]
    best = min(results, key=lambda result: result.fun)
    return -float(best.fun), policy_of(best.x)


class TMazeEnv(gym.Env):
    """
    A T-maze that needs memory: a cue, up or down, is shown in the first square only; then a corridor of ``length``
    blank squares leads to a junction, where going up or down ends the episode with +1 if it matches the cue and −1
    if not. Moving forward costs 0.01 a step; up or down before the junction, and forward at it, stay put. A memoryless
    policy scores 0 in expectation at the junction; one that remembers the cue scores 1 − 0.01·length.
    """

    observation_space = spaces.Box(0.0, 1.0, (3,), np.float32)  # cue up, cue down, at the junction
    action_space = spaces.Discrete(3)  # forward, up, down

    def __init__(self, length: int = 5):
        self.length = length

    def _observation(self) -> np.ndarray:
        if self.position == 0:
            return np.eye(3, dtype=np.float32)[self.cue]
        return np.eye(3, dtype=np.float32)[2] if self.position == self.length else np.zeros(3, np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.cue, self.position = int(self.np_random.integers(2)), 0
        return self._observation(), {"cue": self.cue}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = int(action)
        if self.position == self.length and action != 0:
            return self._observation(), 1.0 if action - 1 == self.cue else -1.0, True, False, {"cue": self.cue}
        if action == 0 and self.position < self.length:
            self.position += 1
        return self._observation(), -0.01, False, False, {"cue": self.cue}
