"""
SB3's actor-critic policies as the sb3-pg algorithms use them (in the way sb3-contrib's policies extend
SB3's): whether the actor and the critic share a features extractor is a default of the policy class
(separate for the algorithms that train a critic) and is stored with the policy, so that a policy saved
alone, or a model loaded with its ``policy_kwargs``, comes back exactly as it was built.
"""

import math
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common import policies
from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution
from stable_baselines3.common.type_aliases import PyTorchObs


def check_finite_observation(obs: PyTorchObs | np.ndarray | dict[str, np.ndarray]) -> None:
    """A NaN or inf observation fails deep inside torch's distributions: name it here instead (one fused check)."""
    for array in obs.values() if isinstance(obs, dict) else (obs,):
        if isinstance(array, th.Tensor):
            finite = not array.is_floating_point() or bool(th.isfinite(array).all())
        else:  # a numpy check is a few times cheaper than torch's on a rollout's small arrays
            finite = array.dtype.kind != "f" or bool(np.isfinite(array).all())
        if not finite:
            raise ValueError("the environment returned a non-finite observation (NaN or inf): refusing to act on it")


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
    """Mixed into SB3's ``ActorCriticPolicy`` classes; ``SHARE_FEATURES_EXTRACTOR`` is the class's default."""

    SHARE_FEATURES_EXTRACTOR = True
    share_features_extractor: bool
    training: bool

    def __init__(self, *args, share_features_extractor: bool | None = None, **kwargs):  # type: ignore[no-untyped-def]
        if share_features_extractor is None:
            share_features_extractor = self.SHARE_FEATURES_EXTRACTOR
        super().__init__(*args, share_features_extractor=share_features_extractor, **kwargs)  # type: ignore[call-arg]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        # SB3 leaves it out, so that a policy saved alone would come back with one shared extractor
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data["share_features_extractor"] = self.share_features_extractor
        return data

    # A NaN or inf observation is named where observations come in (rollouts, predict), rather than failing
    # inside torch's distributions; training reads the same observations from the buffer, already checked
    def forward(self, obs: th.Tensor, deterministic: bool = False) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """SB3's ``forward`` (actions, values, log-probabilities), drawing as :meth:`sample_actions` does."""
        check_finite_observation(obs)
        if not self._draws_directly():
            return super().forward(obs, deterministic)  # type: ignore[misc]
        output, values = self._latent_outputs(obs)
        actions, log_prob = self._draw(output, deterministic)
        return actions, values, log_prob  # type: ignore[return-value]

    def evaluate_actions(self, obs: PyTorchObs, actions: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        """SB3's ``evaluate_actions`` (values, log-probabilities, entropy), computed as torch's distributions do."""
        if not self._draws_directly():
            return super().evaluate_actions(obs, actions)  # type: ignore[misc]
        output, values = self._latent_outputs(obs)
        if isinstance(self.action_dist, CategoricalDistribution):  # type: ignore[attr-defined]
            log_probs = output - output.logsumexp(dim=-1, keepdim=True)
            log_prob = log_probs.gather(-1, actions.long().reshape(-1, 1)).squeeze(-1)
            entropy = -(log_probs.clamp(min=th.finfo(log_probs.dtype).min) * log_probs.exp()).sum(-1)
            return values, log_prob, entropy
        log_std = th.ones_like(output) * self.log_std  # type: ignore[attr-defined]
        entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(dim=-1)
        return values, self._gaussian_log_prob(actions.reshape(output.shape), output, log_std), entropy

    def _latent_outputs(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        """The action net's output (logits or mean) and the values, as in SB3's ``forward``."""
        features = self.extract_features(obs)  # type: ignore[attr-defined]
        if self.share_features_extractor:
            latent_pi, latent_vf = self.mlp_extractor(features)  # type: ignore[attr-defined]
        else:
            latent_pi = self.mlp_extractor.forward_actor(features[0])  # type: ignore[attr-defined]
            latent_vf = self.mlp_extractor.forward_critic(features[1])  # type: ignore[attr-defined]
        return self.action_net(latent_pi), self.value_net(latent_vf)  # type: ignore[attr-defined]

    def sample_actions(self, obs: PyTorchObs) -> th.Tensor:
        """
        Actions of the stochastic policy, from the actor alone, as ``get_distribution(obs).get_actions()``
        draws them (the same arithmetic and the same random numbers) but without building a torch
        ``Distribution``: its construction (argument validation, Python bookkeeping) took a quarter of
        REINFORCE's rollout time on CartPole. Other distributions go through SB3. The caller checks that the
        observations are finite (:func:`check_finite_observation`).
        """
        if not self._draws_directly():
            return self.get_distribution(obs).get_actions().reshape((-1, *self.action_space.shape))  # type: ignore[attr-defined]
        features = policies.BasePolicy.extract_features(self, obs, self.pi_features_extractor)  # type: ignore[arg-type, attr-defined]
        output = self.action_net(self.mlp_extractor.forward_actor(features))  # type: ignore[attr-defined]
        return self._draw(output, deterministic=False, with_log_prob=False)[0]

    @staticmethod
    def _gaussian_log_prob(actions: th.Tensor, mean: th.Tensor, log_std: th.Tensor) -> th.Tensor:
        """torch's ``Normal(mean, exp(log_std)).log_prob``, summed over the action's dimensions as SB3 does."""
        variance = log_std.exp() ** 2
        return (-((actions - mean) ** 2) / (2 * variance) - log_std - math.log(math.sqrt(2 * math.pi))).sum(dim=-1)

    def _draws_directly(self) -> bool:
        return type(self.action_dist) in (CategoricalDistribution, DiagGaussianDistribution)  # type: ignore[attr-defined]

    def _draw(
        self, output: th.Tensor, deterministic: bool, with_log_prob: bool = True
    ) -> tuple[th.Tensor, th.Tensor | None]:
        """Actions (in the action space's shape) and their log-probabilities from the action net's output."""
        if isinstance(self.action_dist, CategoricalDistribution):  # type: ignore[attr-defined]
            # torch's Categorical: log-probabilities of the normalised logits, one draw with replacement
            log_probs = output - output.logsumexp(dim=-1, keepdim=True)
            if deterministic:
                actions = th.argmax(log_probs, dim=-1)
            else:
                actions = th.multinomial(th.softmax(log_probs, dim=-1), 1, True).squeeze(-1)
            log_prob = log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1) if with_log_prob else None
        else:
            # torch's Normal: rsample is loc + standard normal noise * scale
            log_std = th.ones_like(output) * self.log_std  # type: ignore[attr-defined]
            actions = output if deterministic else output + th.empty_like(output).normal_() * log_std.exp()
            log_prob = self._gaussian_log_prob(actions, output, log_std) if with_log_prob else None
        # SB3's shape (a Box of more than one dimension), before the actions are clipped to its bounds
        return actions.reshape((-1, *self.action_space.shape)), log_prob  # type: ignore[attr-defined]

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        check_finite_observation(observation)
        return super()._predict(observation, deterministic)  # type: ignore[misc]

    def predict_values(self, obs: PyTorchObs) -> th.Tensor:
        check_finite_observation(obs)
        return super().predict_values(obs)  # type: ignore[misc]

    def set_training_mode(self, mode: bool) -> None:
        """
        SB3's switch, for less: one-step actor-critic switches twice per env step, and ``nn.Module.train``'s
        walk of the module tree took 10% of the step. Where no module overrides ``train()``, setting each
        module's flag directly does the same.
        """
        if self.training == mode:
            return
        modules = self.__dict__.get("_all_modules")
        if modules is None:  # the module tree is fixed once the policy is built
            modules = self.__dict__["_all_modules"] = list(self.modules())
            self.__dict__["_plain_train"] = all(type(m).train is th.nn.Module.train for m in modules)
        if not self.__dict__["_plain_train"]:
            super().set_training_mode(mode)  # type: ignore[misc]
            return
        for module in modules:
            module.__dict__["training"] = mode


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
