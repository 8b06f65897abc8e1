"""Small deterministic environments whose returns and gradients can be worked out by hand."""

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class BanditEnv(gym.Env):
    """One-step bandit: a constant observation, reward ``rewards[action]``, then termination."""

    def __init__(self, rewards: Sequence[float] = (1.0, 2.0, 6.0)):
        self.rewards = np.asarray(rewards, dtype=np.float64)
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(len(rewards))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(1, dtype=np.float32), float(self.rewards[int(action)]), True, False, {}


class ScriptedEnv(gym.Env):
    """
    Plays a script of episodes ``(length, truncated)`` in turn, looping. Step t of an episode gives
    reward t + 1 and observation ``[episode index, t]`` so that a test can tell every step apart.
    Actions are ignored.
    """

    def __init__(self, script: Sequence[tuple[int, bool]], reward_offset: float = 0.0, episode_offset: int = 0):
        self.script = list(script)
        self.reward_offset = reward_offset
        self.episode_offset = episode_offset
        self.observation_space = spaces.Box(0.0, 1000.0, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.episode = -1

    def _obs(self) -> np.ndarray:
        return np.array([self.episode_offset + self.episode, self.t], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        length, truncated = self.script[self.episode % len(self.script)]  # the episode counted from 0
        reward = self.t + 1.0 + self.reward_offset
        self.t += 1
        done = self.t == length
        return self._obs(), reward, done and not truncated, done and truncated, {}


class TwoStateEnv(gym.Env):
    """
    The two-state MDP of the worked example: from state 0 every action leads to state 1 with reward
    ``r0``; from state 1 every action ends the episode with reward ``r1``. Observations are the state
    index (one-hot encoded by SB3), so a policy without hidden layers is tabular.
    """

    def __init__(self, r0: float = 1.0, r1: float = 2.0):
        self.r0, self.r1 = r0, r1
        self.observation_space = spaces.Discrete(2)
        self.action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = 0
        return self.state, {}

    def step(self, action):
        if self.state == 0:
            self.state = 1
            return 1, self.r0, False, False, {}
        return 1, self.r1, True, False, {}


class CountdownEnv(gym.Env):
    """Episodes of exactly ``length`` steps, reward 1 each, then termination; the observation is t / length."""

    def __init__(self, length: int = 10):
        self.length = length
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t / self.length], dtype=np.float32), 1.0, self.t == self.length, False, {}


class CueEnv(gym.Env):
    """
    A task that needs memory: a cue (left or right) is shown at t = 0, a blank at t = 1, where the action must match
    the cue (reward 1, else 0). A memoryless policy scores 0.5 at best.
    """

    observation_space = spaces.Box(0.0, 1.0, (3,), np.float32)  # cue left, cue right, blank
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cue, self.t = int(self.np_random.integers(2)), 0
        return np.eye(3, dtype=np.float32)[self.cue], {}

    def step(self, action):
        self.t += 1
        if self.t == 1:
            return np.eye(3, dtype=np.float32)[2], 0.0, False, False, {}
        return np.eye(3, dtype=np.float32)[2], float(int(action) == self.cue), True, False, {}
