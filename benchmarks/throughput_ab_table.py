"""
The before/after table of ``throughput_ab.sh``: for each env, n_envs and method, the median steps/s over the
rounds of each commit, their ratio, and each one's slowdown against the env alone (env_only / method).

    python benchmarks/throughput_ab_table.py OUT_DIR > OUT_DIR/table.md
"""

import json
import statistics
import sys
from pathlib import Path


def medians(folder: Path, side: str) -> dict[str, float]:
    runs: dict[str, list[float]] = {}
    for path in sorted(folder.glob(f"{side}_*.json")):
        for key, rate in json.loads(path.read_text())["rates"].items():
            runs.setdefault(key, []).extend(rate["runs"])
    return {key: statistics.median(values) for key, values in runs.items()}


def main() -> None:
    folder = Path(sys.argv[1])
    old, new = medians(folder, "old"), medians(folder, "new")
    rounds = len(list(folder.glob("old_*.json")))
    print(f"Medians over {rounds} rounds per commit (steps/s); x env: how many times slower than the env alone.\n")
    print("| env | n_envs | method | before | after | after / before | before: x env | after: x env |")
    print("|---|---|---|---|---|---|---|---|")
    for key in old:
        env_id, n_envs, method = key.split("|")
        if method == "env_only":
            continue
        raw = f"{env_id}|{n_envs}|env_only"
        print(
            f"| {env_id} | {n_envs} | {method} | {old[key]:.0f} | {new[key]:.0f} | {new[key] / old[key]:.2f} | "
            f"{old[raw] / old[key]:.1f} | {new[raw] / new[key]:.1f} |"
        )
    for n_envs in sorted({key.split("|")[1] for key in old}):
        for env_id in sorted({key.split("|")[0] for key in old}):
            raw = f"{env_id}|{n_envs}|env_only"
            print(f"\nenv alone, {env_id}, {n_envs} env(s): {old[raw]:.0f} (before runs), {new[raw]:.0f} (after runs)")


if __name__ == "__main__":
    main()
