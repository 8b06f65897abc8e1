"""Which episodes make up a batch, and the returns computed from a real VecEnv rollout."""

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_pg import REINFORCE, REINFORCEBaseline
from sb3_pg.common.episodic import EpisodeBatch
from tests.envs import ScriptedEnv

GAMMA = 0.5
# env 0: A = 3 steps terminated, B = 2 steps truncated, C = 4 steps terminated (never in the batch)
# env 1: X = 6 steps truncated, then Y = 1 step terminated
SCRIPTS = [[(3, False), (2, True), (4, False)], [(6, True), (1, False)]]


def make_env() -> DummyVecEnv:
    return DummyVecEnv([lambda script=script: ScriptedEnv(script) for script in SCRIPTS])


def collect(model: REINFORCE) -> None:
    _, callback = model._setup_learn(10_000)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer)


def returns_by_step(model: REINFORCE, field: str = "returns") -> dict[tuple[int, int, int], float]:
    """(env, episode, t) -> value, for every step of the batch (the buffer's ``(n_steps, n_envs)`` arrays)."""
    buffer = model.rollout_buffer
    observations = buffer.observations[buffer.in_batch]
    values = getattr(buffer, field)[buffer.in_batch]
    envs = np.broadcast_to(np.arange(2), buffer.in_batch.shape)[buffer.in_batch]
    return {(int(e), int(o[0]), int(o[1])): float(v) for e, o, v in zip(envs, observations, values, strict=True)}


def rtg(rewards, gamma=GAMMA, tail=0.0):
    out, g = [], tail
    for r in reversed(rewards):
        g = r + gamma * g
        out.append(g)
    return out[::-1]


def test_batch_holds_every_episode_started_before_it_filled():
    # Two episodes start at step 0; A ends first while only 2 < 3 have started, so B joins.
    # Then the batch is full: C (env 0, after B) is discarded, X runs to its end.
    model = REINFORCE("MlpPolicy", make_env(), n_episodes=3, gamma=GAMMA, seed=0)
    collect(model)
    returns = returns_by_step(model)
    expected = {}
    for t, g in enumerate(rtg([1, 2, 3])):
        expected[(0, 0, t)] = g
    for t, g in enumerate(rtg([1, 2])):  # truncated; REINFORCE has no critic to bootstrap with
        expected[(0, 1, t)] = g
    for t, g in enumerate(rtg([1, 2, 3, 4, 5, 6])):
        expected[(1, 0, t)] = g
    assert returns.keys() == expected.keys()
    for key, value in expected.items():
        assert returns[key] == pytest.approx(value), key
    assert model.rollout_buffer.n_episodes == 3
    assert int(model.rollout_buffer.in_batch.sum()) == 11
    assert model.num_timesteps == 12  # 6 VecEnv steps; env 0's sixth step (episode C) is discarded


def test_next_batch_restarts_the_envs():
    model = REINFORCE("MlpPolicy", make_env(), n_episodes=3, gamma=GAMMA, seed=0)
    collect(model)
    model.collect_rollouts(model.env, model._init_callback(None), model.rollout_buffer)
    # The partial episode C was dropped: env 0 starts afresh with its next scripted episode, at t = 0
    first_obs = model.rollout_buffer.observations[0]
    np.testing.assert_array_equal(first_obs[:, 1], [0, 0])


def test_min_batch_steps_keeps_starting_episodes():
    # After 5 VecEnv steps the batch holds 10 steps; B ends then, and since 10 < 11 C joins.
    # X ends one step later with 12 >= 11 steps collected, so Y starts outside the batch.
    model = REINFORCE("MlpPolicy", make_env(), n_episodes=None, min_batch_steps=11, gamma=GAMMA, seed=0)
    collect(model)
    keys = returns_by_step(model).keys()
    assert (0, 2, 3) in keys  # C ran to its end
    assert (1, 1, 0) not in keys
    assert model.rollout_buffer.n_episodes == 4
    assert int(model.rollout_buffer.in_batch.sum()) == 3 + 2 + 4 + 6


def test_full_return_mode_weights_every_step_by_g0():
    model = REINFORCE("MlpPolicy", make_env(), n_episodes=3, gamma=GAMMA, reward_to_go=False, seed=0)
    collect(model)
    g0 = returns_by_step(model, "advantages")  # Φ_t = G_0 (no critic: V = 0)
    assert g0[(0, 0, 2)] == pytest.approx(rtg([1, 2, 3])[0])
    assert g0[(1, 0, 5)] == pytest.approx(rtg([1, 2, 3, 4, 5, 6])[0])


def linear_critic_model(**kwargs) -> REINFORCEBaseline:
    """REINFORCEBaseline on the scripted VecEnv, batches of 3 episodes, a critic without hidden layers."""
    policy_kwargs = dict(net_arch=dict(pi=[8], vf=[]))
    return REINFORCEBaseline(
        "MlpPolicy", make_env(), n_episodes=3, gamma=GAMMA, policy_kwargs=policy_kwargs, seed=0, **kwargs
    )


@pytest.mark.parametrize("bootstrap", [True, False])
def test_baseline_bootstraps_truncated_episodes_only(bootstrap):
    model = linear_critic_model(bootstrap_truncated=bootstrap)
    # A constant critic V(s) = 10 makes the bootstrap visible
    with th.no_grad():
        model.policy.value_net.weight.zero_()
        model.policy.value_net.bias.fill_(10.0)
    collect(model)
    returns = returns_by_step(model)
    tail = 10.0 if bootstrap else 0.0
    assert returns[(0, 0, 0)] == pytest.approx(rtg([1, 2, 3])[0])  # terminated: never bootstrapped
    assert returns[(0, 1, 0)] == pytest.approx(rtg([1, 2], tail=tail)[0])
    assert returns[(1, 0, 2)] == pytest.approx(rtg([3, 4, 5, 6], tail=tail)[0])


def test_discount_weights_follow_the_episode_clock():
    model = REINFORCE("MlpPolicy", make_env(), n_episodes=3, gamma=GAMMA, seed=0)
    collect(model)
    (batch,) = model.rollout_buffer.get()
    t = batch.observations[:, 1]
    th.testing.assert_close(batch.discounts, GAMMA**t)


def test_nan_reward_is_refused():
    class NaNEnv(ScriptedEnv):
        def step(self, action):
            obs, _, terminated, truncated, info = super().step(action)
            return obs, float("nan"), terminated, truncated, info

    model = REINFORCE("MlpPolicy", DummyVecEnv([lambda: NaNEnv([(3, False)])]), n_episodes=1, seed=0)
    with pytest.raises(ValueError, match="non-finite reward"):
        model.learn(10)


@pytest.mark.parametrize("gae_lambda", [1.0, 0.0, 0.5])
def test_baseline_advantages_by_hand(gae_lambda):
    """
    REINFORCEBaseline's advantages for λ = 1 (G_t − V(s_t)), λ = 0 (the TD error δ_t) and λ = 0.5 (the direct
    sum Σ_l (γλ)^l δ_{t+l}), within each episode, with a linear critic V(o) = w·o + b that the truncated
    episodes are bootstrapped from.
    """
    model = linear_critic_model(gae_lambda=gae_lambda)
    weights, bias = np.array([0.3, -0.7]), 0.4
    with th.no_grad():
        model.policy.value_net.weight.copy_(th.tensor(weights[None], dtype=th.float32))
        model.policy.value_net.bias.fill_(bias)
    collect(model)
    advantages = returns_by_step(model, "advantages")

    def value(episode: int, t: int) -> float:
        return float(weights @ [episode, t] + bias)

    # (env, episode index within its env's script, length, truncated)
    for env, episode, length, truncated in [(0, 0, 3, False), (0, 1, 2, True), (1, 0, 6, True)]:
        rewards = np.arange(1.0, length + 1)  # step t gives t + 1
        values = [value(episode, t) for t in range(length)]
        final = value(episode, length) if truncated else 0.0  # V(s_T), or no future after a termination
        deltas = [rewards[t] + GAMMA * (values[t + 1] if t + 1 < length else final) - values[t] for t in range(length)]
        for t in range(length):
            if gae_lambda == 1.0:
                expected = rtg(rewards, tail=final)[t] - values[t]
            else:
                expected = sum((GAMMA * gae_lambda) ** k * deltas[t + k] for k in range(length - t))
            assert advantages[(env, episode, t)] == pytest.approx(expected, rel=1e-5, abs=1e-5), (env, episode, t)
    # The critic's target stays the bootstrapped return, whatever λ
    returns = returns_by_step(model)
    assert returns[(1, 0, 0)] == pytest.approx(rtg(np.arange(1.0, 7), tail=value(0, 6))[0], rel=1e-6)


def test_gae_lambda_needs_the_reward_to_go():
    with pytest.raises(ValueError, match=r"gae_lambda=0.9.*reward_to_go=True"):
        REINFORCEBaseline("MlpPolicy", make_env(), gae_lambda=0.9, reward_to_go=False)
    with pytest.raises(ValueError, match="gae_lambda must be in"):
        REINFORCEBaseline("MlpPolicy", make_env(), gae_lambda=1.5)


def test_episode_batch_bookkeeping_by_hand():
    """Two envs, n_episodes=3: env 0 ends at steps 2 and 4, env 1 at step 5 (1-based VecEnv steps)."""
    batch = EpisodeBatch(n_envs=2, n_episodes=3, min_batch_steps=None, max_episode_steps=100, max_batch_steps=1000)
    assert batch.in_batch.tolist() == [True, True] and batch.n_started == 2 and not batch.full
    dones = {2: [True, False], 4: [True, False], 5: [False, True]}
    seen = []
    while not batch.complete:
        batch.step(np.array(dones.get(batch.n_vec_steps + 1, [False, False])))
        seen.append((batch.n_vec_steps, batch.in_batch.tolist(), batch.n_started, batch.n_batch_steps))
    assert seen == [
        (1, [True, True], 2, 2),
        (2, [True, True], 3, 4),  # env 0's first episode ends: its second joins, the batch is now full
        (3, [True, True], 3, 6),
        (4, [False, True], 3, 8),  # env 0's second episode ends; what it starts next is discarded
        (5, [False, False], 3, 9),  # env 1's first episode ends: the batch is complete
    ]
    assert batch.full and batch.complete


def test_episode_batch_in_steps_and_bounds():
    batch = EpisodeBatch(n_envs=1, n_episodes=None, min_batch_steps=3, max_episode_steps=100, max_batch_steps=1000)
    for done in (True, False, True):  # 1 + 2 steps: full after the third, whose episode ends there
        batch.step(np.array([done]))
    assert batch.n_started == 2 and batch.complete
    endless = EpisodeBatch(n_envs=1, n_episodes=1, min_batch_steps=None, max_episode_steps=5, max_batch_steps=1000)
    for _ in range(4):
        endless.step(np.array([False]))
    with pytest.raises(RuntimeError, match=r"run 5 steps without ending.*max_episode_steps=5"):
        endless.step(np.array([False]))
    capped = EpisodeBatch(n_envs=2, n_episodes=1, min_batch_steps=None, max_episode_steps=100, max_batch_steps=6)
    capped.step(np.array([False, False]))
    capped.step(np.array([False, False]))
    with pytest.raises(RuntimeError, match=r"taken 6 env steps.*max_batch_steps=6"):
        capped.step(np.array([False, False]))
