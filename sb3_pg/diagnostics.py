"""
Diagnostics, not algorithms: how noisy each policy-gradient estimator Φ_t is for a model's current policy, as a
function (:func:`gradient_variance`) and as a callback that logs it during training (A2C and PPO included).
"""

from collections import defaultdict
from typing import NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv, sync_envs_normalization

from sb3_pg.common import estimators
from sb3_pg.common.validation import check_int, check_real
from sb3_pg.reinforce import REINFORCE
from sb3_pg.reinforce.reinforce import score_sq_norms, supports_score_norms

# The Φ_t of sb3_pg.common.estimators, from the noisiest to the most biased ("reward_to_go_optimal", G_t − b*,
# where the policy's score norms can be vectorised: not with Discrete/MultiDiscrete observations)
PHI_FORMS = ("full_return", "reward_to_go", "reward_to_go_optimal", "reward_to_go_baseline", "td0", "gae")


class EpisodeSteps(NamedTuple):
    """Complete episodes of one env, concatenated; arrays have a trailing env axis of 1 for the estimators."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray  # (n_steps, 1)
    dones: np.ndarray  # (n_steps, 1): the episode ended with this step
    terminated: np.ndarray  # (n_steps, 1): ... and had no future (not a time-limit truncation)
    next_observations: np.ndarray  # s_{t+1}, the true final observation at an episode's end


class _Transitions(BaseCallback):
    """What the rollout loop sees of each step and the buffer does not keep: its end, and the next observation."""

    def _on_rollout_start(self) -> None:
        self.dones: list[bool] = []
        self.terminated: list[bool] = []
        self.next_observations: list[np.ndarray] = []

    def _on_step(self) -> bool:
        done, info = bool(self.locals["dones"][0]), self.locals["infos"][0]
        self.dones.append(done)
        self.terminated.append(done and not info.get("TimeLimit.truncated", False))
        self.next_observations.append(info["terminal_observation"][None] if done else self.locals["new_obs"])
        return True


def collect_episodes(model: BaseAlgorithm, env: VecEnv, n_episodes: int) -> EpisodeSteps:
    """
    Play ``n_episodes`` complete episodes with the model's stochastic policy on one env, with the episode-batch
    collection of sb3-pg's Monte Carlo algorithms (a :class:`~sb3_pg.REINFORCE` sharing the model's policy).
    """
    collector = REINFORCE(type(model.policy), env, n_episodes=n_episodes)
    collector.policy = model.policy
    transitions = _Transitions()
    _, callback = collector._setup_learn(total_timesteps=2**62, callback=transitions)  # no budget: one batch
    collector.collect_rollouts(collector.env, callback, collector.rollout_buffer)  # type: ignore[arg-type]

    buffer = collector.rollout_buffer
    actions = buffer.actions[:, 0]
    if isinstance(model.action_space, spaces.Discrete):
        actions = actions.reshape(-1).astype(np.int64)
    return EpisodeSteps(
        observations=buffer.observations[:, 0],  # type: ignore[call-overload]
        actions=actions,
        rewards=buffer.rewards,
        dones=np.array(transitions.dones)[:, None],
        terminated=np.array(transitions.terminated)[:, None],
        next_observations=np.concatenate(transitions.next_observations),
    )


def phi_weights(model: BaseAlgorithm, steps: EpisodeSteps, gae_lambda: float = 0.95) -> dict[str, th.Tensor]:
    """Φ_t of each form for the steps, with V from the model's critic (``policy.predict_values``)."""
    gamma = model.gamma
    rewards, dones = steps.rewards.astype(np.float64), steps.dones
    with th.no_grad():
        values = model.policy.predict_values(obs_as_tensor(steps.observations, model.device)).cpu().numpy()
        next_values = model.policy.predict_values(obs_as_tensor(steps.next_observations, model.device)).cpu().numpy()
    returns = estimators.reward_to_go(rewards, dones, gamma)
    deltas = estimators.td_error(rewards, values, next_values, steps.terminated, gamma)
    weights = {
        "full_return": estimators.episode_return(rewards, dones, gamma),
        "reward_to_go": returns,
        "reward_to_go_baseline": returns - values,
        "td0": deltas,
        "gae": estimators.gae(deltas, dones, gamma, gae_lambda),
    }
    if supports_score_norms(model.observation_space):
        actions = th.as_tensor(steps.actions, device=model.device)
        norms = score_sq_norms(model.policy, obs_as_tensor(steps.observations, model.device), actions).cpu().numpy()
        episode_ids = estimators.episode_starts(dones).cumsum(axis=0)
        weights["reward_to_go_optimal"] = (
            returns - estimators.optimal_baseline(norms, returns[:, 0], episode_ids[:, 0])[:, None]
        )
    return {form: th.as_tensor(w[:, 0], dtype=th.float32, device=model.device) for form, w in weights.items()}


def policy_gradients(model: BaseAlgorithm, steps: EpisodeSteps, weights: dict[str, th.Tensor]) -> dict[str, th.Tensor]:
    """
    The policy-gradient estimate (1/N) Σ_episodes Σ_t Φ_t ∇ log π(a_t|s_t) over the batch's N episodes for
    each Φ_t, flattened over the actor's parameters (the critic's get no gradient from it). Unbiased for a fixed
    N; the mean over steps that training uses is not where episode lengths vary, and the bias grows with |Φ_t|.
    """
    n_episodes = int(steps.dones.sum())
    parameters = [p for p in model.policy.parameters() if p.requires_grad]
    distribution = model.policy.get_distribution(obs_as_tensor(steps.observations, model.device))
    log_prob = distribution.log_prob(th.as_tensor(steps.actions, device=model.device))
    gradients = {}
    for form, phi in weights.items():
        estimate = (phi * log_prob).sum() / n_episodes
        grads = th.autograd.grad(estimate, parameters, retain_graph=True, allow_unused=True)
        grads = [th.zeros_like(p) if g is None else g for p, g in zip(parameters, grads, strict=True)]
        gradients[form] = th.cat([g.flatten() for g in grads])
    return gradients


def gradient_variance(
    model: BaseAlgorithm,
    env: VecEnv,
    n_batches: int = 20,
    batch_episodes: int = 4,
    reference_episodes: int = 200,
    gae_lambda: float = 0.95,
) -> dict[str, dict[str, float]]:
    """
    How noisy each Φ_t form makes the policy-gradient estimate under the model's current policy.

    Estimates the gradient from ``n_batches`` independent batches of ``batch_episodes`` complete episodes
    with every Φ_t form, and a reference gradient from ``reference_episodes`` episodes with G_t − V(s_t):
    unbiased, as V was not fitted to them, and the least noisy of the unbiased forms. Forms that use V take
    the model's critic as it is; TD(0) and GAE are biased where it is not V^π.

    :param model: an SB3 algorithm with an actor-critic policy (A2C, PPO, sb3-pg's)
    :param env: a VecEnv with one env, separate from the training env. With ``VecNormalize``, pass one with
        ``training=False``: rewards are taken as it returns them
    :return: for each form, ``trace_cov`` (the total variance Σ_j Var ĝ_j over the batches), ``cosine``
        and ``cosine_std`` (mean and spread over the batches of the cosine similarity of ĝ to the reference),
        ``mean_cosine`` (the cosine of the batches' mean estimate: below 1 by noise and bias) and
        ``snr`` (‖reference‖² / trace_cov: the signal-to-noise ratio of one batch's estimate)
    """
    check_int("n_batches", n_batches, minimum=2)  # a variance needs two estimates
    check_int("batch_episodes", batch_episodes)
    check_int("reference_episodes", reference_episodes)
    check_real("gae_lambda", gae_lambda, low=0.0, high=1.0)
    if env.num_envs != 1:
        raise ValueError(f"env must hold a single env (num_envs=1), got num_envs={env.num_envs}")
    training = model.policy.training
    model.policy.set_training_mode(False)
    try:
        steps = collect_episodes(model, env, reference_episodes)
        unbiased = {"reward_to_go_baseline": phi_weights(model, steps)["reward_to_go_baseline"]}
        (reference,) = policy_gradients(model, steps, unbiased).values()
        estimates: dict[str, list[th.Tensor]] = defaultdict(list)
        for _ in range(n_batches):
            steps = collect_episodes(model, env, batch_episodes)
            for form, gradient in policy_gradients(model, steps, phi_weights(model, steps, gae_lambda)).items():
                estimates[form].append(gradient)
    finally:
        model.policy.set_training_mode(training)
    results = {}
    for form, gradients in estimates.items():
        stacked = th.stack(gradients)
        cosines = th.nn.functional.cosine_similarity(stacked, reference[None], dim=1)
        trace_cov = stacked.var(dim=0, correction=1).sum().item()
        results[form] = {
            "trace_cov": trace_cov,
            "snr": reference.square().sum().item() / trace_cov if trace_cov > 0 else float("inf"),
            "cosine": cosines.mean().item(),
            "cosine_std": cosines.std(correction=0).item(),
            "mean_cosine": th.nn.functional.cosine_similarity(stacked.mean(dim=0), reference, dim=0).item(),
        }
    return results


class GradientVarianceCallback(BaseCallback):
    """
    Every ``eval_freq`` calls (VecEnv steps), measure how noisy each Φ_t form makes the policy-gradient estimate
    under the current policy (see :func:`gradient_variance`) and log ``grad_variance/<form>/{trace_cov,cosine}``.
    It plays its own episodes on ``env``, so the training run's env and data are left alone; with
    ``VecNormalize`` the normalisation statistics are synced from the training env first, as ``EvalCallback`` does.

    :param env: a VecEnv with one env, separate from the training env
    :param eval_freq: measure every this many calls
    :param n_batches: independent batches per measurement
    :param batch_episodes: complete episodes per batch
    :param reference_episodes: complete episodes for the reference gradient
    :param gae_lambda: λ of the GAE form
    :param verbose: 1 to print each measurement
    """

    def __init__(
        self,
        env: VecEnv,
        eval_freq: int = 10_000,
        n_batches: int = 20,
        batch_episodes: int = 4,
        reference_episodes: int = 200,
        gae_lambda: float = 0.95,
        verbose: int = 0,
    ):
        super().__init__(verbose)
        check_int("eval_freq", eval_freq)
        self.env = env
        self.eval_freq = eval_freq
        self.kwargs = dict(
            n_batches=n_batches,
            batch_episodes=batch_episodes,
            reference_episodes=reference_episodes,
            gae_lambda=gae_lambda,
        )
        self.measurements: list[tuple[int, dict[str, dict[str, float]]]] = []

    def _on_step(self) -> bool:
        if self.n_calls % self.eval_freq == 0:
            self.measure()
        return True

    def measure(self) -> dict[str, dict[str, float]]:
        """Measure now; the result is logged and kept in ``measurements`` with the timestep."""
        if self.model.get_vec_normalize_env() is not None:
            sync_envs_normalization(self.training_env, self.env)
        results = gradient_variance(self.model, self.env, **self.kwargs)  # type: ignore[arg-type]
        self.measurements.append((self.num_timesteps, results))
        for form, stats in results.items():
            self.logger.record(f"grad_variance/{form}/trace_cov", stats["trace_cov"])
            self.logger.record(f"grad_variance/{form}/cosine", stats["cosine"])
            if self.verbose >= 1:
                print(f"{self.num_timesteps} {form}: trace cov {stats['trace_cov']:.3g}, cosine {stats['cosine']:.3f}")
        return results
