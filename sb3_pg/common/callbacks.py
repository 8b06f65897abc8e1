"""Moved to :mod:`sb3_pg.diagnostics`; this name is kept for code written against sb3-pg 0.1."""

from sb3_pg.diagnostics import (  # noqa: F401
    PHI_FORMS,
    EpisodeSteps,
    GradientVarianceCallback,
    collect_episodes,
    gradient_variance,
    phi_weights,
    policy_gradients,
)
