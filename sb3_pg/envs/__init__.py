"""Environments that show why a policy is optimised directly, registered with gymnasium under ``sb3_pg/``."""

import gymnasium as gym

from sb3_pg.envs.aliased import AliasedGridworldEnv, ShortCorridorEnv, TMazeEnv

# Time limits long enough that a stochastic policy near the optimum almost never reaches them (the exact values
# in sb3_pg.envs.aliased account for them), short enough that a deterministic one, which never ends, is cut soon
SHORT_CORRIDOR_MAX_STEPS = 1000
GRIDWORLD_MAX_STEPS = 100

for env_id, entry_point, max_episode_steps in (
    ("sb3_pg/ShortCorridor-v0", ShortCorridorEnv, SHORT_CORRIDOR_MAX_STEPS),
    ("sb3_pg/AliasedGridworld-v0", AliasedGridworldEnv, GRIDWORLD_MAX_STEPS),
    ("sb3_pg/TMaze-v0", TMazeEnv, 50),  # a memory task: the cue is seen at the start only
):
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=entry_point, max_episode_steps=max_episode_steps)

__all__ = ["AliasedGridworldEnv", "ShortCorridorEnv", "TMazeEnv"]
