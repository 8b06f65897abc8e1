"""``python -m sb3_pg train --algo reinforce --env CartPole-v1``: the RL Zoo's command line with sb3-pg registered."""

from sb3_pg.zoo import main

if __name__ == "__main__":
    main()
