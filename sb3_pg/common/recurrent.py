"""
sb3-contrib's recurrent (LSTM) actor-critic policies as the Monte Carlo algorithms use them: ``MlpLstmPolicy``,
``CnnLstmPolicy`` and ``MultiInputLstmPolicy`` of REINFORCE and REINFORCEBaseline. An episode is one sequence: the
LSTM state starts at zero with each episode, is carried from step to step while the batch is collected, and the
update runs each env's steps through the LSTM again in one sequence whose state is reset at every episode start, so
that the gradient flows through each whole episode and never across two (no truncated back-propagation).
"""

from typing import Any

import torch as th
from sb3_contrib.common.recurrent import policies as recurrent
from sb3_contrib.common.recurrent.type_aliases import RNNStates

from sb3_pg.common.policies import CRITIC_PREFIXES, actor_critic_optimizer, policy_defaults

# The critic's parameters of sb3-contrib's recurrent policy: SB3's, and its own LSTM (or feed-forward layer)
RECURRENT_CRITIC_PREFIXES = (*CRITIC_PREFIXES, "lstm_critic.", "critic.")


def is_recurrent(policy: Any) -> bool:
    """Whether the policy is one of sb3-contrib's recurrent ones (ours or a user's subclass)."""
    return isinstance(policy, recurrent.RecurrentActorCriticPolicy)


def zero_states(policy: recurrent.RecurrentActorCriticPolicy, n_seq: int) -> RNNStates:
    """The LSTM states of ``n_seq`` sequences at the start of an episode (the actor's, the critic's)."""
    n_layers, _, hidden = policy.lstm_hidden_state_shape
    return RNNStates(*((th.zeros(n_layers, n_seq, hidden, device=policy.device),) * 2 for _ in range(2)))


class RecurrentActorCriticPolicy(recurrent.RecurrentActorCriticPolicy):
    """
    sb3-contrib's ``RecurrentActorCriticPolicy`` with sb3-pg's defaults (``share_features_extractor`` from the
    class, fused Adam) and the actor's and critic's parameters (its LSTM included) in two optimizer groups.
    """

    SHARE_FEATURES_EXTRACTOR = True

    def __init__(self, *args: Any, share_features_extractor: bool | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **policy_defaults(self.SHARE_FEATURES_EXTRACTOR, share_features_extractor, kwargs))
        # sb3-contrib makes its optimizer after the LSTMs, over one group
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer = actor_critic_optimizer(self, RECURRENT_CRITIC_PREFIXES, lr)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["share_features_extractor"] = self.share_features_extractor
        return data


class RecurrentActorCriticCnnPolicy(RecurrentActorCriticPolicy, recurrent.RecurrentActorCriticCnnPolicy):
    """sb3-contrib's ``RecurrentActorCriticCnnPolicy`` with the changes of :class:`RecurrentActorCriticPolicy`."""


class RecurrentMultiInputActorCriticPolicy(RecurrentActorCriticPolicy, recurrent.RecurrentMultiInputActorCriticPolicy):
    """sb3-contrib's ``RecurrentMultiInputActorCriticPolicy`` with :class:`RecurrentActorCriticPolicy`'s changes."""


class SeparateRecurrentActorCriticPolicy(RecurrentActorCriticPolicy):
    """:class:`RecurrentActorCriticPolicy` with separate actor and critic features extractors by default."""

    SHARE_FEATURES_EXTRACTOR = False


class SeparateRecurrentActorCriticCnnPolicy(RecurrentActorCriticCnnPolicy):
    """:class:`RecurrentActorCriticCnnPolicy` with separate actor and critic features extractors by default."""

    SHARE_FEATURES_EXTRACTOR = False


class SeparateRecurrentMultiInputActorCriticPolicy(RecurrentMultiInputActorCriticPolicy):
    """:class:`RecurrentMultiInputActorCriticPolicy` with separate features extractors by default."""

    SHARE_FEATURES_EXTRACTOR = False
