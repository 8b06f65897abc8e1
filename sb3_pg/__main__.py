"""``sb3-pg train --algo reinforce --env CartPole-v1`` (or ``python -m sb3_pg ...``): the RL Zoo's command line with
sb3-pg's algorithms registered. It needs the ``zoo`` extra; without it, one line says what to install."""

import sys


def main() -> None:
    try:
        from sb3_pg.zoo import main as zoo_main
    except ModuleNotFoundError as error:
        sys.exit(f"sb3-pg: the command needs the zoo extra ({error.name} is not installed): pip install 'sb3-pg[zoo]'")
    zoo_main()


if __name__ == "__main__":
    main()
