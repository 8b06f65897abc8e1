"""
SB3's actor-critic policies as the sb3-pg algorithms use them (in the way sb3-contrib's policies extend
SB3's): whether the actor and the critic share a features extractor is a default of the policy class
(separate for the algorithms that train a critic) and is stored with the policy, so that a policy saved
alone, or a model loaded with its ``policy_kwargs``, comes back exactly as it was built.

Actions are sampled, scored and their entropy computed by SB3's own distributions, for every algorithm and
every action space. The Gaussian and categorical ones are built without torch's argument validation: its
per-call checks cost a quarter of a rollout step on small networks, and the values it would check are checked
where they come in instead (the env's data by the rollout buffers, a user's observation by ``predict()``).
"""

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common import distributions, policies
from stable_baselines3.common.type_aliases import PyTorchObs
from torch.distributions import Categorical, Normal


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


def non_finite_part(observation: np.ndarray | dict[str, np.ndarray]) -> tuple[str | None, np.ndarray] | None:
    """The (key, array) of an observation, or of one of a Dict's, that holds a NaN or inf; ``None`` if none does."""
    for key, array in observation.items() if isinstance(observation, dict) else ((None, observation),):
        array = np.asarray(array)
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            return key, array
    return None


def check_finite_observation(observation: np.ndarray | dict[str, np.ndarray]) -> None:
    """Refuse a NaN or inf observation passed to ``predict()``, naming it."""
    found = non_finite_part(observation)
    if found is not None:
        key, array = found
        where = f" (key {key!r})" if key is not None else ""
        raise ValueError(f"predict() was given a non-finite observation{where} (NaN or inf): {array!r}")


class NonFiniteActionError(RuntimeError):
    """The policy's actions are NaN or inf: its weights diverged (the algorithms name the update)."""

    MESSAGE = "the policy gave non-finite actions (NaN or inf), which would go to the env"


# Parameters of SB3's ActorCriticPolicy that only the value function uses
CRITIC_PREFIXES = ("value_net.", "mlp_extractor.value_net.", "vf_features_extractor.")


class _LogProb(th.nn.Module):
    """The policy's log π(a|s) as a module's forward, for ``torch.func.functional_call``."""

    def __init__(self, policy: policies.ActorCriticPolicy):
        super().__init__()
        self.policy = policy

    def forward(self, obs: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        return self.policy.get_distribution(obs).log_prob(actions)  # the actor alone


def supports_score_norms(observation_space: spaces.Space) -> bool:
    """SB3 one-hot encodes Discrete and MultiDiscrete observations, which ``torch.func.vmap`` cannot batch."""
    subspaces = observation_space.spaces.values() if isinstance(observation_space, spaces.Dict) else [observation_space]
    return not any(isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)) for space in subspaces)


def score_sq_norms(
    policy: policies.ActorCriticPolicy, observations: PyTorchObs, actions: th.Tensor, chunk_size: int | None = None
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
    return sum(g.pow(2).flatten(1).sum(1) for g in grads.values())  # type: ignore[return-value]


class PolicyGradientPolicyMixin:
    """
    Mixed into SB3's ``ActorCriticPolicy`` classes: ``SHARE_FEATURES_EXTRACTOR`` is the class's default, the
    Gaussian and categorical distributions skip torch's argument validation, and Adam (SB3's default
    optimizer) runs torch's fused implementation unless ``optimizer_kwargs`` are given: on small MLPs torch's
    default per-tensor loop takes 3.5 times as long (368 µs against 103 µs a step, measured on OneStepAC's
    networks for HalfCheetah-v5 on one CPU thread). :meth:`predict` refuses a non-finite observation, and
    :meth:`forward` non-finite actions (:class:`NonFiniteActionError`).
    """

    SHARE_FEATURES_EXTRACTOR = True
    share_features_extractor: bool
    action_dist: distributions.Distribution

    def __init__(self, *args, share_features_extractor: bool | None = None, **kwargs):  # type: ignore[no-untyped-def]
        if share_features_extractor is None:
            share_features_extractor = self.SHARE_FEATURES_EXTRACTOR
        optimizer_class = kwargs.get("optimizer_class", th.optim.Adam)
        optimizer_kwargs = kwargs.get("optimizer_kwargs")
        if optimizer_class in (th.optim.Adam, th.optim.AdamW) and optimizer_kwargs is None:
            kwargs["optimizer_kwargs"] = {"eps": 1e-5, "fused": True}  # SB3's eps
        super().__init__(*args, share_features_extractor=share_features_extractor, **kwargs)  # type: ignore[call-arg]

    def _build(self, lr_schedule: Any) -> None:
        # The distribution is chosen in SB3's __init__, before _build makes its action net
        if type(self.action_dist) is distributions.DiagGaussianDistribution:
            self.action_dist = DiagGaussianDistribution(self.action_dist.action_dim)
        elif type(self.action_dist) is distributions.CategoricalDistribution:
            self.action_dist = CategoricalDistribution(self.action_dist.action_dim)
        super()._build(lr_schedule)  # type: ignore[misc]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        # SB3 leaves it out, so that a policy saved alone would come back with one shared extractor
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data["share_features_extractor"] = self.share_features_extractor
        return data

    def forward(self, obs: th.Tensor, deterministic: bool = False) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        actions, values, log_prob = super().forward(obs, deterministic)  # type: ignore[misc]
        # SB3's rollout loop sends these to the env: a Gaussian whose log std has diverged samples inf or NaN
        if actions.is_floating_point() and not th.isfinite(actions).all():
            raise NonFiniteActionError(NonFiniteActionError.MESSAGE)
        return actions, values, log_prob

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        check_finite_observation(observation)
        return super().predict(observation, state, episode_start, deterministic)  # type: ignore[misc]


class ActorCriticPolicy(PolicyGradientPolicyMixin, policies.ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` (one features extractor for actor and critic by default)."""


class ActorCriticCnnPolicy(PolicyGradientPolicyMixin, policies.ActorCriticCnnPolicy):
    """SB3's ``ActorCriticCnnPolicy`` (one features extractor for actor and critic by default)."""


class MultiInputActorCriticPolicy(PolicyGradientPolicyMixin, policies.MultiInputActorCriticPolicy):
    """SB3's ``MultiInputActorCriticPolicy`` (one features extractor for actor and critic by default)."""


class SeparateActorCriticPolicy(ActorCriticPolicy):
    """:class:`ActorCriticPolicy` with separate actor and critic features extractors by default."""

    SHARE_FEATURES_EXTRACTOR = False


class SeparateActorCriticCnnPolicy(ActorCriticCnnPolicy):
    """:class:`ActorCriticCnnPolicy` with separate actor and critic features extractors by default."""

    SHARE_FEATURES_EXTRACTOR = False


class SeparateMultiInputActorCriticPolicy(MultiInputActorCriticPolicy):
    """:class:`MultiInputActorCriticPolicy` with separate actor and critic features extractors by default."""

    SHARE_FEATURES_EXTRACTOR = False
