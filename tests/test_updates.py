"""One ``train()`` call, recomputed by hand with autograd and SGD: what moves, by how much, in which order."""

import copy

import pytest
import torch as th
from torch.nn import functional as F

from sb3_pg import REINFORCE, REINFORCEBaseline

SGD = {"optimizer_class": th.optim.SGD, "optimizer_kwargs": {}}


def collect(model) -> None:
    _, callback = model._setup_learn(10_000)
    model.collect_rollouts(model.env, callback, model.rollout_buffer)


def sgd_step(params: list[th.Tensor], loss: th.Tensor, lr: float) -> list[th.Tensor]:
    grads = th.autograd.grad(loss, params, allow_unused=True)
    return [p - lr * g if g is not None else p for p, g in zip(params, grads, strict=True)]


@pytest.mark.parametrize("reward_to_go", [True, False])
@pytest.mark.parametrize("discount_state_weighting", [True, False])
def test_reinforce_update(reward_to_go, discount_state_weighting):
    model = REINFORCE(
        "MlpPolicy",
        "CartPole-v1",
        n_episodes=3,
        learning_rate=0.1,
        gamma=0.9,
        reward_to_go=reward_to_go,
        discount_state_weighting=discount_state_weighting,
        max_grad_norm=None,
        policy_kwargs=SGD,
        seed=0,
    )
    collect(model)
    (batch,) = model.rollout_buffer.get()
    reference = copy.deepcopy(model.policy)
    model.train()

    returns = batch.advantages  # Φ_t: G_t, or G_0 without reward_to_go (no critic: V = 0)
    if reward_to_go:
        th.testing.assert_close(returns, batch.returns)
    weights = (returns - returns.mean()) / (returns.std(correction=0) + 1e-8)
    if discount_state_weighting:
        weights = weights * batch.discounts
    log_prob = reference.get_distribution(batch.observations).log_prob(batch.actions.long().flatten())
    expected = sgd_step(list(reference.parameters()), -(weights * log_prob).mean(), 0.1)
    for p, q in zip(model.policy.parameters(), expected, strict=True):
        th.testing.assert_close(p, q)


def test_baseline_update_is_an_actor_step_then_the_critic_regression():
    model = REINFORCEBaseline(
        "MlpPolicy",
        "CartPole-v1",
        n_episodes=3,
        n_critic_steps=2,
        learning_rate=0.1,
        critic_learning_rate=0.05,
        ent_coef=0.01,
        max_grad_norm=None,
        policy_kwargs=SGD,
        seed=0,
    )
    collect(model)
    (batch,) = model.rollout_buffer.get()
    reference = copy.deepcopy(model.policy)
    model.train()

    obs = batch.observations
    # Actor: advantages from the critic as it was before this update, detached, normalised
    advantages = batch.returns - reference.predict_values(obs).flatten().detach()
    advantages = (advantages - advantages.mean()) / (advantages.std(correction=0) + 1e-8)
    distribution = reference.get_distribution(obs)
    actor_loss = (
        -(advantages * distribution.log_prob(batch.actions.long().flatten())).mean()
        - 0.01 * distribution.entropy().mean()
    )
    critic_names = {
        name for name, _ in reference.named_parameters() if name.startswith(("value_net", "mlp_extractor.value_net"))
    }
    named = dict(reference.named_parameters())
    actor_names = [name for name in named if name not in critic_names]
    expected = dict(zip(actor_names, sgd_step([named[n] for n in actor_names], actor_loss, 0.1), strict=True))

    # Critic: two SGD steps of the regression on G_t, untouched by the actor's loss
    critic = {name: named[name] for name in critic_names}
    for _ in range(2):
        values = th.func.functional_call(reference, {**named, **critic}, (obs,), strict=False)[1].flatten()
        names = list(critic)
        critic = dict(
            zip(names, sgd_step([critic[n] for n in names], F.mse_loss(values, batch.returns), 0.05), strict=True)
        )
    expected.update(critic)

    for name, param in model.policy.named_parameters():
        th.testing.assert_close(param, expected[name], msg=name)
