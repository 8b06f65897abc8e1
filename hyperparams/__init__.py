"""The RL Zoo hyperparameter files of sb3-pg (``<algo>.yml``), installed as the package ``sb3_pg.hyperparams``."""
