import os

import pytest
import torch as th

# Headless plotting and rendering, and wandb never reaching for the network
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("WANDB_MODE", "offline")
# One intra-op thread: tiny networks gain nothing from more, and the seeded runs of the learning checks
# then give the same numbers whatever the machine's core count
th.set_num_threads(1)


@pytest.fixture
def postgresql(tmp_path):
    """A real PostgreSQL server (pgserver's embedded build), stopped after the test."""
    import pgserver

    server = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()
