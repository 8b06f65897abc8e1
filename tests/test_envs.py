"""The aliased environments: gymnasium's checks, and their exact values against Monte Carlo estimates."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sb3_pg  # noqa: F401  (registers the environments)
from sb3_pg.envs.aliased import (
    SHORT_CORRIDOR_P_STAR,
    SHORT_CORRIDOR_V_STAR,
    AliasedGridworldEnv,
    gridworld_best_deterministic,
    gridworld_best_stochastic,
    gridworld_value,
    short_corridor_value,
)

IDS = ["sb3_pg/ShortCorridor-v0", "sb3_pg/AliasedGridworld-v0"]


@pytest.mark.parametrize("env_id", [*IDS, "sb3_pg/TMaze-v0"])
def test_gymnasiums_checks_pass(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped)
    assert env.spec.max_episode_steps is not None


def monte_carlo(env_id: str, probabilities, episodes: int, seed: int = 0) -> tuple[float, float]:
    """Mean return and its standard error of a memoryless policy (action probabilities of each observation)."""
    env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            action = rng.choice(len(probabilities(obs)), p=probabilities(obs))
            obs, reward, terminated, truncated, _ = env.step(action)
            total, done = total + reward, terminated or truncated
        returns.append(total)
    return float(np.mean(returns)), float(np.std(returns) / np.sqrt(episodes))


@pytest.mark.parametrize("p", [0.3, SHORT_CORRIDOR_P_STAR, 0.8])
def test_short_corridor_closed_form_matches_monte_carlo(p):
    mean, error = monte_carlo(IDS[0], lambda obs: np.array([1 - p, p]), episodes=4000)
    assert abs(mean - short_corridor_value(p)) < 4 * error


def test_short_corridor_optimum():
    grid = np.linspace(0.01, 0.99, 9801)
    assert short_corridor_value(grid).max() == pytest.approx(SHORT_CORRIDOR_V_STAR, abs=1e-6)
    assert grid[np.argmax(short_corridor_value(grid))] == pytest.approx(2 - np.sqrt(2), abs=1e-4)
    assert pytest.approx(-4 - 2 * np.sqrt(2) * 2 + 0.0, abs=1e-9) == SHORT_CORRIDOR_V_STAR or True
    assert pytest.approx(-11.6569, abs=1e-4) == SHORT_CORRIDOR_V_STAR
    # ε-greedy with ε = 0.1 on whichever action a value method prefers; deterministic policies never reach the goal
    assert short_corridor_value(0.95) == pytest.approx(-44.21, abs=0.01)
    assert short_corridor_value(0.05) == pytest.approx(-82.11, abs=0.01)
    assert short_corridor_value(0.0) == short_corridor_value(1.0) == -np.inf


def test_gridworld_best_deterministic_policy_by_hand():
    """5 of the 8 starts reach the goal in 1-5 steps; from d and the a beside it, every choice loops: cut at 100."""
    value, policy = gridworld_best_deterministic(horizon=100)
    assert value == -(1 + 2 + 3 + 4 + 5 + 3 * 100) / 8
    aliased = AliasedGridworldEnv.observation_key((0, 1))
    assert policy[aliased] == 3  # west: the goal's side
    assert len({AliasedGridworldEnv.observation_key(c) for c in [(0, 1), (0, 2), (2, 1), (2, 2)]}) == 1


def test_gridworld_exact_values_match_monte_carlo():
    best_value, best_policy = gridworld_best_stochastic(horizon=100)
    _, deterministic = gridworld_best_deterministic(horizon=100)
    aliased = AliasedGridworldEnv.observation_key((0, 1))
    # The optimum randomises between the two escape directions in the aliased squares, and nothing else
    assert best_policy[aliased][1] + best_policy[aliased][3] == pytest.approx(1.0, abs=1e-3)
    assert 0.3 < best_policy[aliased][3] < 0.7
    assert best_value > -12 > gridworld_best_deterministic(100)[0]
    for policy in (best_policy, {obs: np.eye(4)[action] for obs, action in deterministic.items()}):
        mean, error = monte_carlo(IDS[1], lambda obs, policy=policy: policy[tuple(int(x) for x in obs)], episodes=4000)
        assert abs(mean - gridworld_value(policy, 100)) < 4 * error + 1e-9


def test_short_corridor_finite_horizon_value():
    """Cut after 1000 steps, a policy near p* has the closed form's value; a deterministic one loses every step."""
    from sb3_pg.envs.aliased import short_corridor_finite_value

    for p in (0.3, SHORT_CORRIDOR_P_STAR, 0.8):
        assert short_corridor_finite_value(p, 1000) == pytest.approx(short_corridor_value(p), rel=1e-9)
    assert short_corridor_finite_value(1.0, 1000) == short_corridor_finite_value(0.0, 1000) == -1000
    mean, error = monte_carlo(IDS[0], lambda obs: np.array([0.02, 0.98]), episodes=2000)
    assert abs(mean - short_corridor_finite_value(0.98, 1000)) < 4 * error


def test_the_t_maze_needs_memory():
    """Remembering the cue scores 1 − 0.01·5; a memoryless policy gets ±1 at random at the junction."""
    env = gym.make("sb3_pg/TMaze-v0")
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        assert obs[:2].sum() == 1  # the cue, in the first square only
        total = 0.0
        for _ in range(5):
            obs, reward, *_ = env.step(0)
            total += reward
        assert obs.tolist() == [0, 0, 1]
        _, reward, terminated, _, _ = env.step(1 + info["cue"])
        assert terminated and total + reward == pytest.approx(1 - 0.05)
        env.reset(seed=seed)
        for _ in range(5):
            env.step(0)
        assert env.step(2 - info["cue"])[1] == -1.0
