from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, PyTorchObs, Schedule
from stable_baselines3.common.utils import obs_as_tensor

from sb3_pg.common import estimators
from sb3_pg.common.buffers import EpisodeRolloutBuffer
from sb3_pg.common.episodic import DEFAULT_MAX_BATCH_STEPS, EpisodicPolicyGradient
from sb3_pg.common.policies import CRITIC_PREFIXES
from sb3_pg.common.recurrent import is_recurrent
from sb3_pg.common.validation import HyperparameterValueError, check_bool, check_choice
from sb3_pg.reinforce.policies import (
    CnnLstmPolicy,
    CnnPolicy,
    MlpLstmPolicy,
    MlpPolicy,
    MultiInputLstmPolicy,
    MultiInputPolicy,
)

SelfREINFORCE = TypeVar("SelfREINFORCE", bound="REINFORCE")


class _LogProb(th.nn.Module):
    """The policy's log π(a|s) as a module's forward, for ``torch.func.functional_call``."""

    def __init__(self, policy: ActorCriticPolicy):
        super().__init__()
        self.policy = policy

    def forward(self, obs: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        return self.policy.get_distribution(obs).log_prob(actions)  # the actor alone


def supports_score_norms(observation_space: spaces.Space) -> bool:
    """SB3 one-hot encodes Discrete and MultiDiscrete observations, which ``torch.func.vmap`` cannot batch."""
    subspaces = observation_space.spaces.values() if isinstance(observation_space, spaces.Dict) else [observation_space]
    return not any(isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)) for space in subspaces)


def score_sq_norms(
    policy: ActorCriticPolicy, observations: PyTorchObs, actions: th.Tensor, chunk_size: int | None = None
) -> th.Tensor:
    """
    ‖∇_θ log π(a_i|s_i)‖² for each sample i, over the actor's parameters, in one vectorised pass
    (``torch.func.vmap`` of ``grad``; ``chunk_size`` samples at a time to bound memory).

    :param observations: the samples' observations, batched as the policy takes them
    :param actions: the samples' actions as ``evaluate_actions`` takes them (Discrete: flat category indices)
    """
    module = _LogProb(policy)
    params = {
        f"policy.{name}": p.detach() for name, p in policy.named_parameters() if not name.startswith(CRITIC_PREFIXES)
    }

    def log_prob(params: dict[str, th.Tensor], obs: PyTorchObs, action: th.Tensor) -> th.Tensor:
        one = {key: value.unsqueeze(0) for key, value in obs.items()} if isinstance(obs, dict) else obs.unsqueeze(0)
        return th.func.functional_call(module, params, (one, action.unsqueeze(0))).squeeze(0)

    # torch's argument checks branch on the data, which vmap cannot batch
    validate = th.distributions.Distribution._validate_args
    th.distributions.Distribution.set_default_validate_args(False)
    try:
        grads = th.func.vmap(th.func.grad(log_prob), in_dims=(None, 0, 0), chunk_size=chunk_size)(
            params, observations, actions
        )
    finally:
        th.distributions.Distribution.set_default_validate_args(validate)
    return sum(g.pow(2).flatten(1).sum(1) for g in grads.values())


class REINFORCE(EpisodicPolicyGradient):
    """
    REINFORCE: Monte Carlo policy gradient (Williams, 1992).

    Paper: https://doi.org/10.1007/BF00992696

    The policy is updated from complete episodes only, with one gradient step per batch on
    ``−mean_t[Φ_t · log π(a_t|s_t)] − ent_coef · mean_t[H(π(·|s_t))]``, where Φ_t is the reward-to-go
    G_t (or the whole return G_0), normalised over the batch and optionally weighted by γ^t.
    Losses are averaged over the batch's steps as in SB3's A2C/PPO: that rescales the textbook
    per-episode estimator by one over the mean episode length, leaves its direction unchanged and keeps
    ``ent_coef`` comparable with A2C/PPO.

    **Batches.** An episode joins the batch if it *starts* before the batch is full, that is before
    ``n_episodes`` episodes have started and ``min_batch_steps`` steps have been collected (the
    criteria that are set). Every episode of the batch then runs to its end, so no return is truncated;
    an env that finishes early goes on stepping, and the episodes it starts after that are discarded
    (they are counted in ``num_timesteps`` and logged as ``rollout/discarded_steps``). Whether an
    episode is in the batch is decided before it starts, so the batch holds no more short or long
    episodes than the policy produces: dropping the episodes still running when the batch fills up
    would favour short ones. The envs are reset at the start of each batch. Episodes must end (wrap
    endless tasks in a ``TimeLimit``). With ``n_envs`` > ``n_episodes`` each env still contributes its
    first episode. As in SB3, ``learn()`` always completes at least one batch, with a warning if the first
    one overshoots ``total_timesteps``.

    There is no critic: the ``ActorCriticPolicy``'s value head is never trained nor used, a time-limit
    truncation ends the return like a termination, and no value loss is logged.

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, ...)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: The learning rate, it can be a function
        of the current progress remaining (from 1 to 0)
    :param n_episodes: Minimum number of episodes per update (``None``: no minimum)
    :param min_batch_steps: Minimum number of env steps, summed over envs, per update (``None``: no minimum).
        At least one of ``n_episodes`` and ``min_batch_steps`` must be set.
    :param batch_size: Minibatch size for the gradient computation (``None``: the whole batch at once). The
        update is still one gradient step on the whole batch's mean loss, accumulated minibatch by
        minibatch: the same step, in less memory.
    :param max_batch_steps: Most env steps, summed over envs and counting discarded ones, that one batch may
        take: a batch still incomplete then stops training with an error, so memory stays bounded
    :param max_episode_steps: Longest episode allowed in a batch (``None``: the env spec's
        ``max_episode_steps``, else 100,000). An episode that runs longer stops training with an error
        naming the cause, rather than a batch that never completes.
    :param gamma: Discount factor
    :param reward_to_go: Weight each action by the return that follows it, G_t (True), or by the
        whole episode's return G_0 (False: the naive estimator, same mean, more variance)
    :param normalize_advantage: Standardise the weights Φ_t over the batch (mean 0, std 1), as A2C and PPO
        standardise their advantages. Subtracting the batch mean acts as a constant baseline.
    :param baseline: ``"optimal"`` subtracts the constant baseline that minimises the estimate's variance,
        b* = Σ_i ‖∇log π(a_i|s_i)‖² G_i / Σ_i ‖∇log π(a_i|s_i)‖² (Weaver & Tao, 2001; Greensmith et al., 2004),
        computed for each step from the batch's *other* episodes, so that it is independent of the action
        it weights and the estimate stays unbiased (a batch-wide b* would not be; the previous batch's would be
        unbiased too, but from an older policy). The per-step score norms take one vectorised pass
        (``torch.func``) over the batch. Needs ``normalize_advantage=False`` (which would subtract the batch
        mean instead) and observations other than Discrete/MultiDiscrete. ``None``: no baseline.
    :param discount_state_weighting: Multiply the weight of step t of an episode by γ^t, as the
        discounted policy-gradient theorem does. Off by default, as in common practice, which then
        follows the undiscounted state distribution: a biased estimate of the discounted objective's
        gradient (Thomas, 2014, "Bias in natural actor-critic algorithms").
    :param ent_coef: Entropy coefficient for the loss calculation
    :param max_grad_norm: The maximum value for the gradient clipping (``None``: no clipping)
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE)
        instead of action noise exploration (default: False)
    :param sde_sample_freq: Sample a new noise matrix every n steps when using gSDE
        Default: -1 (only sample at the beginning of the rollout)
    :param rollout_buffer_class: Rollout buffer class to use (``None``: ``EpisodeRolloutBuffer``, or
        ``DictEpisodeRolloutBuffer`` for Dict observations); it must be an ``EpisodeRolloutBuffer``
    :param rollout_buffer_kwargs: Keyword arguments to pass to the rollout buffer on creation
    :param stats_window_size: Window size for the rollout logging, specifying the number of episodes to average
        the reported success rate, mean episode length, and mean reward over
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation (Adam by default)
    :param verbose: Verbosity level: 0 for no output, 1 for info messages (such as device or wrappers used), 2 for
        debug messages
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run.
        Setting it to auto, the code will be run on the GPU if possible.
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
        "MlpLstmPolicy": MlpLstmPolicy,
        "CnnLstmPolicy": CnnLstmPolicy,
        "MultiInputLstmPolicy": MultiInputLstmPolicy,
    }

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        n_episodes: int | None = 8,
        min_batch_steps: int | None = None,
        max_batch_steps: int = DEFAULT_MAX_BATCH_STEPS,
        batch_size: int | None = None,
        max_episode_steps: int | None = None,
        gamma: float = 0.99,
        reward_to_go: bool = True,
        normalize_advantage: bool = True,
        baseline: str | None = None,
        discount_state_weighting: bool = False,
        ent_coef: float = 0.0,
        max_grad_norm: float | None = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        rollout_buffer_class: type[EpisodeRolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        self.baseline = check_choice("baseline", baseline, (None, "optimal"))
        if baseline == "optimal" and check_bool("normalize_advantage", normalize_advantage):
            raise HyperparameterValueError(
                "baseline='optimal' subtracts b*, and normalize_advantage would subtract the batch mean instead: "
                "set normalize_advantage=False"
            )
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_episodes=n_episodes,
            min_batch_steps=min_batch_steps,
            max_batch_steps=max_batch_steps,
            batch_size=batch_size,
            max_episode_steps=max_episode_steps,
            gamma=gamma,
            gae_lambda=1.0,  # Monte Carlo returns: no TD errors
            reward_to_go=reward_to_go,
            normalize_advantage=normalize_advantage,
            discount_state_weighting=discount_state_weighting,
            ent_coef=ent_coef,
            max_grad_norm=max_grad_norm,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    def _setup_model(self) -> None:
        super()._setup_model()
        if self.baseline == "optimal" and not supports_score_norms(self.observation_space):
            raise HyperparameterValueError(
                f"baseline='optimal' needs per-sample score norms (torch.func.vmap), which SB3's one-hot encoding "
                f"of Discrete/MultiDiscrete observations does not support: {self.observation_space}"
            )
        if self.baseline == "optimal" and is_recurrent(self.policy):
            raise HyperparameterValueError(
                "baseline='optimal' scores each step alone (torch.func.vmap), and a recurrent policy's score depends "
                "on the episode before it: use a feed-forward policy, or baseline=None"
            )

    def train(self) -> None:
        """
        Update the policy with one gradient step on the collected episodes.
        """
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)

        buffer = self.rollout_buffer
        self.logger.record("train/return_mean", float(buffer.returns[buffer.in_batch].mean()))
        if self.baseline == "optimal":
            self._subtract_optimal_baseline()
        if self.normalize_advantage:
            buffer.normalize_advantages()
        self._gradient_step(self._batch_mean(self._policy_loss, self._minibatches()), "policy loss")

        self._record_update()

    def _subtract_optimal_baseline(self) -> None:
        """Φ_t − b* for each step of the batch, b* from the batch's other episodes (see ``baseline``)."""
        buffer = self.rollout_buffer
        in_batch = buffer.in_batch
        actions = self._buffer_actions(th.as_tensor(buffer.actions[in_batch], device=self.device).float())
        observations = obs_as_tensor(buffer.batch_observations(), self.device)
        norms = score_sq_norms(self.policy, observations, actions, self.batch_size).cpu().numpy()
        # A number per step, shared by the steps of one episode and by no other's
        episode_ids = buffer.episode_starts.astype(np.int64).cumsum(axis=0) + np.arange(buffer.n_envs) * (
            buffer.pos + 1
        )
        phi = buffer.advantages[in_batch]
        baseline = estimators.optimal_baseline(norms, phi, episode_ids[in_batch])
        buffer.advantages[in_batch] = phi - baseline
        self.logger.record("train/optimal_baseline", float(baseline.mean()))

    def learn(
        self: SelfREINFORCE,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 20,
        tb_log_name: str = "REINFORCE",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfREINFORCE:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
