"""An env whose registration sets no time limit and whose episodes never end (``--gym-packages tests.endless_env``)."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ENV_ID = "sb3_pg_tests/Endless-v0"


class EndlessEnv(gym.Env):
    """Reward −1 a step, for ever: no action reaches a goal."""

    observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), -1.0, False, False, {}


if ENV_ID not in gym.envs.registry:
    gym.register(ENV_ID, entry_point=EndlessEnv)  # no max_episode_steps
