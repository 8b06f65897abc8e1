"""
Recurrent (LSTM) policies for the Monte Carlo algorithms: the update recomputed by hand on a task that needs memory,
each episode run through the LSTM from a zero state; the critic's values likewise; save/load, predict with a state.
"""

import copy

import numpy as np
import pytest
import torch as th
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_pg import REINFORCE, REINFORCEBaseline
from tests.envs import CueEnv

SGD = {"optimizer_class": th.optim.SGD, "optimizer_kwargs": {}, "lstm_hidden_size": 4, "net_arch": [4]}
GAMMA, ALPHA = 0.9, 0.1


def collect(model) -> None:
    _, callback = model._setup_learn(10_000)
    model.collect_rollouts(model.env, callback, model.rollout_buffer)


def episodes(buffer) -> list[dict]:
    """The batch's episodes, env by env, as the buffer holds them: observations, actions, rewards, start index."""
    found = []
    for env in range(buffer.n_envs):
        starts = [t for t in range(buffer.pos) if buffer.episode_starts[t, env] and buffer.in_batch[t, env]]
        for start in starts:
            end = start + 1
            while end < buffer.pos and not buffer.episode_starts[end, env]:
                end += 1
            found.append(
                {
                    "obs": th.as_tensor(buffer.observations[start:end, env]),
                    "actions": th.as_tensor(buffer.actions[start:end, env, 0]).long(),
                    "rewards": buffer.rewards[start:end, env],
                }
            )
    return found


def run_lstm(lstm, head, obs: th.Tensor) -> th.Tensor:
    """One episode through ``lstm`` step by step from a zero state, then ``head`` on each output."""
    state = None
    outputs = []
    for x in obs:
        out, state = lstm(x.view(1, 1, -1), state)
        outputs.append(head(out[0, 0]))
    return th.stack(outputs)


def returns_to_go(rewards: np.ndarray) -> th.Tensor:
    g, out = 0.0, []
    for r in reversed(rewards):
        g = r + GAMMA * g
        out.append(g)
    return th.tensor(out[::-1], dtype=th.float32)


def make(algo, **kwargs):
    env = DummyVecEnv([CueEnv, CueEnv])
    env.seed(0)
    return algo("MlpLstmPolicy", env, n_episodes=6, learning_rate=ALPHA, gamma=GAMMA, max_grad_norm=None,
                policy_kwargs=SGD, seed=0, **kwargs)  # fmt: skip


def actor_log_probs(policy, episode: dict) -> th.Tensor:
    def head(out):
        return th.log_softmax(policy.action_net(policy.mlp_extractor.forward_actor(out)), dim=-1)

    return run_lstm(policy.lstm_actor, head, episode["obs"]).gather(1, episode["actions"][:, None])[:, 0]


def test_reinforce_update_runs_each_episode_through_the_lstm():
    model = make(REINFORCE, normalize_advantage=False)
    collect(model)
    batch = episodes(model.rollout_buffer)
    assert len(batch) >= 6 and all(len(e["obs"]) == 2 for e in batch)
    reference = copy.deepcopy(model.policy)
    model.train()

    # −mean over the batch's steps of G_t log π(a_t | the episode so far)
    terms = [returns_to_go(e["rewards"]) * actor_log_probs(reference, e) for e in batch]
    loss = -th.cat(terms).mean()
    params = list(reference.parameters())
    grads = th.autograd.grad(loss, params, allow_unused=True)
    moved = 0
    for p, q, g in zip(model.policy.parameters(), params, grads, strict=True):
        expected = q if g is None else q - ALPHA * g
        th.testing.assert_close(p, expected)
        moved += int(not th.equal(p, q))
    assert moved > 0
    # the memory is used: the action at t = 1 depends on the cue the LSTM saw at t = 0
    first, second = (actor_log_probs(reference, {"obs": th.tensor(o), "actions": th.tensor([0, 0])}) for o in (
        np.eye(3, dtype=np.float32)[[0, 2]], np.eye(3, dtype=np.float32)[[1, 2]]))  # fmt: skip
    assert not th.allclose(first[1], second[1])


def test_baseline_values_come_from_the_critic_lstm_over_each_episode():
    model = make(REINFORCEBaseline, normalize_advantage=False, n_critic_steps=1)
    collect(model)
    buffer = model.rollout_buffer
    values = []
    for episode in episodes(buffer):
        values.append(run_lstm(model.policy.lstm_critic, lambda out: model.policy.value_net(
            model.policy.mlp_extractor.forward_critic(out))[0], episode["obs"]))  # fmt: skip
    in_batch = buffer.in_batch[: buffer.pos]
    # the buffer's batch order is (step, env) row-major; the episodes above are env by env
    by_env = {}
    for env in range(buffer.n_envs):
        by_env[env] = buffer.values[: buffer.pos, env][in_batch[:, env]]
    np.testing.assert_allclose(np.concatenate([by_env[e] for e in range(buffer.n_envs)]),
                               th.cat(values).detach().numpy(), rtol=1e-5, atol=1e-6)  # fmt: skip
    # and the advantages are G_t − V(s_t)
    returns = np.concatenate([returns_to_go(e["rewards"]).numpy() for e in episodes(buffer)])
    advantages = np.concatenate([buffer.advantages[: buffer.pos, e][in_batch[:, e]] for e in range(buffer.n_envs)])
    np.testing.assert_allclose(advantages, returns - th.cat(values).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_truncated_episodes_bootstrap_from_the_critic_lstm_state():
    # every episode is cut after its first step: its reward becomes γ·V(blank | the cue the critic's LSTM saw)
    env = DummyVecEnv([lambda: TimeLimit(CueEnv(), 1)] * 2)
    model = REINFORCEBaseline("MlpLstmPolicy", env, n_episodes=4, gamma=GAMMA, policy_kwargs=SGD, seed=0,
                              bootstrap_truncated=True)  # fmt: skip
    collect(model)
    buffer, policy = model.rollout_buffer, model.policy
    in_batch = buffer.in_batch[: buffer.pos]
    blank = th.tensor(np.eye(3, dtype=np.float32)[2])

    def value(out):
        return policy.value_net(policy.mlp_extractor.forward_critic(out))[0]

    episodes = [th.stack([th.as_tensor(obs), blank]) for obs in buffer.observations[: buffer.pos][in_batch]]
    expected = [GAMMA * run_lstm(policy.lstm_critic, value, obs)[-1].item() for obs in episodes]
    np.testing.assert_allclose(buffer.rewards[: buffer.pos][in_batch], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("algo", [REINFORCE, REINFORCEBaseline])
def test_collection_runs_the_actor_lstm_alone(algo):
    model = make(algo) if algo is REINFORCE else make(algo, bootstrap_truncated=False)
    calls = []
    model.policy.lstm_critic.register_forward_hook(lambda *args: calls.append("critic"))
    model.policy.lstm_actor.register_forward_hook(lambda *args: calls.append("actor"))
    step = model.env.step
    model.env.step = lambda actions: (calls.append("step"), step(actions))[1]
    collect(model)
    last_step = len(calls) - calls[::-1].index("step")
    assert calls[:last_step].count("actor") == calls.count("step") > 0 and "critic" not in calls[:last_step]
    # REINFORCEBaseline reads its critic's values once the batch is complete, in one pass
    assert ("critic" in calls[last_step:]) == (algo is REINFORCEBaseline)


@pytest.mark.parametrize("algo", [REINFORCE, REINFORCEBaseline])
def test_save_load_predict_with_state(algo, tmp_path):
    model = make(algo).learn(200)
    obs = model.env.reset()
    actions, state = model.predict(obs, deterministic=True)
    assert actions.shape == (2,) and state[0].shape == (1, 2, 4)
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model", env=model.env)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)
    # the state carries the cue: the second step's action depends on it
    _, state2 = loaded.predict(obs, state=state, episode_start=np.zeros(2), deterministic=True)
    assert state2[0].shape == state[0].shape and not np.allclose(state2[0], state[0])
    loaded.learn(200, reset_num_timesteps=False)
    assert len(loaded.policy.optimizer.param_groups) == 2


def test_what_a_recurrent_policy_cannot_do_is_one_line():
    with pytest.raises(ValueError, match="leave batch_size None"):
        make(REINFORCE, batch_size=8)
    with pytest.raises(ValueError, match="baseline='optimal' scores each step alone"):
        make(REINFORCE, baseline="optimal", normalize_advantage=False)
