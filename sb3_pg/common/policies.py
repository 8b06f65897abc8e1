"""
SB3's actor-critic policies as the sb3-pg algorithms use them (in the way sb3-contrib's policies extend
SB3's): whether the actor and the critic share a features extractor is a default of the policy class
(separate for the algorithms that train a critic) and is stored with the policy, so that a policy saved
alone, or a model loaded with its ``policy_kwargs``, comes back exactly as it was built. The optimizer has two
parameter groups, the actor's and the critic's, so that an algorithm can give the critic its own learning rate.

Actions are sampled, scored and their entropy computed by SB3's own distributions, for every algorithm and
every action space. The Gaussian and categorical ones are built without torch's argument validation, whose
per-call checks are a large share of a rollout step on small networks (the throughput benchmark in
``benchmarks/``); the values it would check are checked where they come in instead (the env's data by the
rollout buffers, a user's observation by ``predict()``).
"""

from typing import Any

import torch as th
from stable_baselines3.common import distributions, policies
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch.distributions import Categorical, Normal

from sb3_pg.common.validation import NonFiniteActionError, check_finite_observation

# Parameters of SB3's ActorCriticPolicy that only the value function uses (a shared features extractor is the
# actor's: its parameters are named features_extractor.*)
CRITIC_PREFIXES = ("value_net.", "mlp_extractor.value_net.", "vf_features_extractor.")


class DiagGaussianDistribution(distributions.DiagGaussianDistribution):
    """SB3's ``DiagGaussianDistribution``, its torch ``Normal`` built without argument validation."""

    def proba_distribution(self, mean_actions: th.Tensor, log_std: th.Tensor) -> "DiagGaussianDistribution":
        action_std = th.ones_like(mean_actions) * log_std.exp()
        self.distribution = Normal(mean_actions, action_std, validate_args=False)
        return self


class CategoricalDistribution(distributions.CategoricalDistribution):
    """SB3's ``CategoricalDistribution``, its torch ``Categorical`` built without argument validation."""

    def proba_distribution(self, action_logits: th.Tensor) -> "CategoricalDistribution":
        self.distribution = Categorical(logits=action_logits, validate_args=False)
        return self


def policy_defaults(share_by_default: bool, share_features_extractor: bool | None, kwargs: dict) -> dict:
    """The policy's keyword arguments with sb3-pg's defaults: the class's sharing of the extractor, fused Adam."""
    kwargs = dict(
        kwargs,
        share_features_extractor=share_by_default if share_features_extractor is None else share_features_extractor,
    )
    adam = kwargs.get("optimizer_class", th.optim.Adam) in (th.optim.Adam, th.optim.AdamW)
    if adam and kwargs.get("optimizer_kwargs") is None:
        kwargs["optimizer_kwargs"] = {"eps": 1e-5, "fused": True}  # SB3's eps
    return kwargs


def actor_critic_optimizer(
    policy: policies.ActorCriticPolicy, critic_prefixes: tuple[str, ...], lr: float
) -> th.optim.Optimizer:
    """The policy's optimizer with the actor's parameters in one group and the critic's in another."""
    groups = [
        {"params": [p for name, p in policy.named_parameters() if name.startswith(critic_prefixes) == is_critic]}
        for is_critic in (False, True)
    ]
    return policy.optimizer_class(groups, lr=lr, **policy.optimizer_kwargs)


class ActorCriticPolicy(policies.ActorCriticPolicy):
    """
    SB3's ``ActorCriticPolicy`` with: ``share_features_extractor`` defaulting to the class's
    ``SHARE_FEATURES_EXTRACTOR``; the Gaussian and categorical distributions without torch's argument validation;
    an optimizer with the actor's and the critic's parameters in two groups; and Adam (SB3's default optimizer)
    in torch's fused implementation unless ``optimizer_kwargs`` are given, several times faster a step on small
    MLPs than its per-tensor loop (``benchmarks/``). ``predict()`` refuses a non-finite observation, and
    ``forward()`` non-finite actions (:class:`~sb3_pg.common.validation.NonFiniteActionError`).
    """

    SHARE_FEATURES_EXTRACTOR = True

    def __init__(self, *args: Any, share_features_extractor: bool | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **policy_defaults(self.SHARE_FEATURES_EXTRACTOR, share_features_extractor, kwargs))

    def _build(self, lr_schedule: Schedule) -> None:
        # The distribution is chosen in SB3's __init__, before _build makes its action net
        if type(self.action_dist) is distributions.DiagGaussianDistribution:
            self.action_dist = DiagGaussianDistribution(self.action_dist.action_dim)
        elif type(self.action_dist) is distributions.CategoricalDistribution:
            self.action_dist = CategoricalDistribution(self.action_dist.action_dim)
        super()._build(lr_schedule)
        # SB3's optimizer holds every parameter in one group; the critic's get a group of their own
        self.optimizer = actor_critic_optimizer(self, CRITIC_PREFIXES, lr_schedule(1))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        # SB3 leaves it out, so that a policy saved alone would come back with one shared extractor
        data = super()._get_constructor_parameters()
        data["share_features_extractor"] = self.share_features_extractor
        return data

    def obs_to_tensor(self, observation: Any) -> tuple[PyTorchObs, bool]:
        # After SB3's own checks in predict() (a reset()'s (obs, info) tuple is named there)
        check_finite_observation(observation, "predict() was given")
        return super().obs_to_tensor(observation)

    def forward(self, obs: th.Tensor, deterministic: bool = False) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        actions, values, log_prob = super().forward(obs, deterministic)
        # SB3's rollout loop sends these to the env: a Gaussian whose log std has diverged samples inf or NaN
        if actions.is_floating_point() and not th.isfinite(actions).all():
            raise NonFiniteActionError(NonFiniteActionError.MESSAGE)
        return actions, values, log_prob


class ActorCriticCnnPolicy(ActorCriticPolicy, policies.ActorCriticCnnPolicy):
    """SB3's ``ActorCriticCnnPolicy`` with the changes of :class:`ActorCriticPolicy`."""


class MultiInputActorCriticPolicy(ActorCriticPolicy, policies.MultiInputActorCriticPolicy):
    """SB3's ``MultiInputActorCriticPolicy`` with the changes of :class:`ActorCriticPolicy`."""


class SeparateActorCriticPolicy(ActorCriticPolicy):
    """:class:`ActorCriticPolicy` with separate actor and critic features extractors by default."""

    SHARE_FEATURES_EXTRACTOR = False


class SeparateActorCriticCnnPolicy(ActorCriticCnnPolicy):
    """:class:`ActorCriticCnnPolicy` with separate actor and critic features extractors by default."""

    SHARE_FEATURES_EXTRACTOR = False


class SeparateMultiInputActorCriticPolicy(MultiInputActorCriticPolicy):
    """:class:`MultiInputActorCriticPolicy` with separate actor and critic features extractors by default."""

    SHARE_FEATURES_EXTRACTOR = False
