import os

# Headless plotting, and wandb never reaching for the network
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("WANDB_MODE", "offline")
