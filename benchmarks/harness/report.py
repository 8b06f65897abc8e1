"""
rliable statistics, tables and plots of finished runs, and the README blocks they fill
(``zoo_runs.py summarize``).
"""

import itertools
import json
import re
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from benchmarks.harness.runner import METHODS, option, read_run_list


def physics_of(record: dict) -> str:
    """The MuJoCo and gymnasium versions a run file records ("unrecorded" for older runs, which recorded none)."""
    versions = record.get("versions")
    return f"mujoco {versions['mujoco']}, gymnasium {versions['gymnasium']}" if versions else "unrecorded"


def load_evaluations(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return data[:, 0], data[:, 1:].mean(axis=1)


def budget_of(record: dict) -> float | None:
    """A run's env-step budget: its command's ``-n``, else its entry's ``n_timesteps`` (None: not recorded)."""
    args = record.get("command", "").split()
    for flag in ("-n", "--n-timesteps"):
        if flag in args:
            return float(args[args.index(flag) + 1])
    value = record.get("hyperparameters", {}).get("n_timesteps")
    return float(value) if value is not None else None


def within_budget(evaluations: tuple[np.ndarray, np.ndarray], budget: float | None) -> tuple[np.ndarray, np.ndarray]:
    """
    The evaluations taken within the budget: an episodic batch, or a vec env's last step, can carry a run past it,
    and an evaluation there would credit the run with steps the other rows did not get.
    """
    steps, returns = evaluations
    if budget is None or not (steps <= budget).any():  # unrecorded, or no evaluation within it: all of them
        return evaluations
    keep = steps <= budget
    return steps[keep], returns[keep]


# A seed collapses when its last evaluation has lost at least half of its best evaluation's gain over a random
# policy, and the drop is at least a quarter of the task's range (a random policy's return to the reference's)
COLLAPSE_SHARE, COLLAPSE_RANGE = 0.5, 0.25
COLLAPSE_RULE = (
    f"a seed collapsed when its last evaluation has lost at least {COLLAPSE_SHARE:.0%} of its best evaluation's "
    f"gain over a random policy and the drop is at least {COLLAPSE_RANGE:.0%} of the task's range (random policy "
    "to reference)"
)


def collapsed(curve: np.ndarray, random_return: float, reference: float) -> np.ndarray:
    """Which seeds (rows of evaluations) collapsed, by :data:`COLLAPSE_RULE`."""
    peak = curve.max(axis=1)
    drop = peak - curve[:, -1]
    gained = peak > random_return
    return (
        gained
        & (drop >= COLLAPSE_SHARE * (peak - random_return))
        & (drop >= COLLAPSE_RANGE * (reference - random_return))
    )


def first_reaching(path: Path, threshold: float, window: int) -> tuple[int, int] | None:
    """(episodes, env steps) until the mean return of the last ``window`` training episodes reaches threshold."""
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    returns = data[:, 1]
    for end in range(window, len(returns) + 1):
        if returns[end - window : end].mean() >= threshold:
            return end, int(data[end - 1, 0])
    return None


def running_mean_curve(path: Path, grid: np.ndarray, window: int) -> np.ndarray:
    """Mean return of the last ``window`` training episodes finished by each env step of the grid (NaN before)."""
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    steps, returns = data[:, 0], data[:, 1]
    cumulative = np.concatenate([[0.0], np.cumsum(returns)])
    counts = np.searchsorted(steps, grid, side="right")
    first = np.maximum(counts - window, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, (cumulative[counts] - cumulative[first]) / (counts - first), np.nan)


# The textbook order of seed 000: each method should beat the one before it
ORDER = ["reinforce", "reinforce_baseline", "a2c", "ppo"]


CONFIDENCE = "95% stratified-bootstrap confidence interval"


def group_runs(run_list: Path) -> dict[tuple[str, str], list[str]]:
    """
    (env, label) -> run names, where runs of one group differ only in their seed. The label is the algorithm,
    or, where one env has several settings of an algorithm, the run name without its env prefix and seed
    (``hc_ppo_zoo_s3`` -> ``ppo_zoo``).
    """
    entries = []
    for name, args in read_run_list(run_list):
        if "--seed" not in args:
            raise ValueError(f"{run_list}: run {name} has no --seed")
        seed = args.index("--seed")
        entries.append((name, option(args, "--env"), option(args, "--algo"), args[:seed] + args[seed + 2 :]))
    settings: dict[tuple[str, str], set] = defaultdict(set)
    for _, env, algo, unseeded in entries:
        settings[env, algo].add(tuple(unseeded))
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    configuration: dict[tuple[str, str], tuple] = {}
    for name, env, algo, unseeded in entries:
        stem = re.sub(r"_s\d+$", "", name)
        label = algo if len(settings[env, algo]) == 1 else stem.split("_", 1)[-1]
        if configuration.setdefault((env, label), tuple(unseeded)) != tuple(unseeded):
            raise ValueError(f"{run_list}: {name} differs from {groups[env, label][0]} in more than the seed")
        groups[env, label].append(name)
    return groups


def algo_of(label: str) -> str:
    return max((algo for algo in METHODS if label.startswith(algo)), key=len)


def interval(scores: dict[str, np.ndarray], reps: int) -> tuple[dict, dict]:
    """IQM and mean of each method's scores ``(runs, tasks)``, with their confidence intervals (rliable)."""
    from rliable import metrics
    from scipy.stats import trim_mean

    def point(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])

    def batched(x: np.ndarray) -> np.ndarray:  # the same two statistics of each resample (reps, runs, tasks)
        return np.stack([trim_mean(x.reshape(len(x), -1), 0.25, axis=1), x.mean(axis=1).mean(axis=1)], axis=1)

    return estimates(scores, point, batched, reps)


def improvement(pairs: dict[str, tuple[np.ndarray, np.ndarray]], reps: int) -> tuple[dict, dict]:
    """P(X > Y) for each pair ``(x, y)`` of ``(runs, tasks)`` scores, with confidence intervals (rliable)."""
    from rliable import metrics

    def batched(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # Mann-Whitney's U / (n_x n_y), rliable's per-task estimate: the share of pairs with x > y, ties half
        above = (x[:, :, None] > y[:, None]).sum(axis=(1, 2)) + 0.5 * (x[:, :, None] == y[:, None]).sum(axis=(1, 2))
        return (above / (x.shape[1] * y.shape[1])).mean(axis=1, keepdims=True)

    return estimates(pairs, metrics.probability_of_improvement, batched, reps)


# arch's percentile interval at rliable's 95%, its arithmetic kept so that the bounds are the same floats
ALPHA = (1.0 - 0.95) / 2
PERCENTILES = 100 * np.array([ALPHA, 1.0 - ALPHA])


def estimates(scores: dict, point: Callable, batched: Callable, reps: int) -> tuple[dict, dict]:
    """
    rliable's point estimates and stratified-bootstrap percentile intervals (``get_interval_estimates``),
    reproducible and each key from its own stream, so that adding a row to a table leaves the others'
    intervals as they were. rliable draws each resample's run indices from NumPy's global RNG
    (``np.random.choice`` in ``update_indices``, ignoring ``random_state``) and calls the statistic once per
    resample through arch, ~0.1-0.3 ms a call: 50,000 resamples of ~70 keys took a summary 15-35 min. Here the
    same draws are made in the same order from the same seeded RNG, and ``batched`` computes the statistic of all
    resamples at once (``(reps, runs, tasks)`` arrays, one per score array), so the intervals are rliable's
    (tests/test_benchmarks.py compares them) in seconds.
    """
    points, bounds = {}, {}
    state = np.random.get_state()
    try:
        for key, value in scores.items():
            arrays = value if isinstance(value, tuple) else (value,)
            np.random.seed(0)
            draws = [np.empty((reps, *array.shape), dtype=np.int64) for array in arrays]
            for rep in range(reps):  # rliable's order: per resample, one draw per score array
                for array, draw in zip(arrays, draws, strict=True):
                    draw[rep] = np.random.choice(len(array), array.shape, replace=True)
            tasks = [np.arange(array.shape[1]) for array in arrays]
            samples = [array[draw, task] for array, draw, task in zip(arrays, draws, tasks, strict=True)]
            points[key] = point(*arrays)
            bounds[key] = np.percentile(batched(*samples), PERCENTILES, axis=0)
    finally:
        np.random.set_state(state)
    return points, bounds


def random_policy_return(env_id: str, episodes: int = 10, seed: int = 0) -> float:
    """Mean return of uniformly random actions: the 0 of the normalised scores."""
    import gymnasium as gym
    import rl_zoo3.import_envs  # noqa: F401  (the zoo's extra environments)

    import sb3_pg  # noqa: F401  (its own: sb3_pg/...)

    env = gym.make(env_id)
    env.action_space.seed(seed)
    total = 0.0
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
    return total / episodes


def cell(point: np.ndarray, bounds: np.ndarray, index: int, digits: int = 0) -> str:
    return f"{point[index]:.{digits}f} [{bounds[0, index]:.{digits}f}, {bounds[1, index]:.{digits}f}]"


class ShortCell(NamedTuple):
    """One method's cell of one env in the README's table."""

    seeds: int
    final_iqm: str  # IQM [CI]
    final_mean_std: str  # mean ± sample std
    area_iqm: str  # IQM [CI]
    collapsed: int  # seeds that collapsed


def collapsed_of(found: ShortCell) -> str:
    """A cell's collapsed seeds, as "k / n"."""
    return f"{found.collapsed} / {found.seeds}"


def short_table(rows: dict[str, dict[str, ShortCell]], envs: list[str], names: dict[str, str]) -> str:
    """
    The README's table. Few envs: one row per method, the envs side by side (seeds; final return: IQM [CI],
    mean ± sample std; area under the curve: IQM [CI]; collapsed seeds). More envs than methods (a suite): one row
    per env, the methods side by side (final return: IQM [CI], and the collapsed seeds where any did).
    The seeds column is one count, or the count of each cell where they differ (0: none finished yet).
    """

    def seeds(counts: list[int]) -> str:
        return str(counts[0]) if len(set(counts)) == 1 else " / ".join(map(str, counts))

    if len(envs) > len(rows):
        methods = list(rows)
        lines = ["| env | seeds | " + " | ".join(names.get(label, label) for label in methods) + " |"]
        lines.append("|---|---|" + "---|" * len(methods))
        for env in envs:
            counts = [rows[label][env].seeds if env in rows[label] else 0 for label in methods]
            values = []
            for label in methods:
                found = rows[label].get(env)
                fell = f" ({collapsed_of(found)} collapsed)" if found and found.collapsed else ""
                values.append("-" if found is None else found.final_iqm + fell)
            lines.append(f"| {env} | {seeds(counts)} | {' | '.join(values)} |")
        return "\n".join(lines)
    header = "| method | seeds | " + " | ".join(
        f"{env}: final IQM [95% CI] | final mean ± sample std | area IQM [95% CI] | collapsed" for env in envs
    )
    lines = [header + " |", "|---|---|" + "---|---|---|---|" * len(envs)]
    for label, cells in rows.items():
        counts = [cells[env].seeds if env in cells else 0 for env in envs]
        values = [
            part
            for env in envs
            for part in (
                (cells[env].final_iqm, cells[env].final_mean_std, cells[env].area_iqm, collapsed_of(cells[env]))
                if env in cells
                else ("-",) * 4
            )
        ]
        lines.append(f"| {names.get(label, label)} | {seeds(counts)} | {' | '.join(values)} |")
    return "\n".join(lines)


def around_block(path: Path, marker: str) -> tuple[str, str]:
    """The text of ``path`` up to the line ``<!-- marker -->`` and from the line ``<!-- /marker -->`` on."""
    content = path.read_text()
    start, end = f"<!-- {marker} -->\n", f"<!-- /{marker} -->"
    if content.count(start) != 1 or content.count(end) != 1 or content.index(start) > content.index(end):
        raise ValueError(f"--readme {path}: needs one '<!-- {marker} -->' line and, after it, one '{end}' line")
    before, rest = content.split(start)
    return before + start, end + rest.split(end, 1)[1]


def iqm_band(values: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    IQM over seeds (rows) at each evaluation (columns) and its 95% percentile-bootstrap band, the seeds
    resampled with replacement: rliable's estimate, vectorised over the evaluations (its own loop would take
    minutes for a curve).
    """
    from scipy.stats import trim_mean

    samples = values[np.random.default_rng(seed).integers(0, len(values), size=(reps, len(values)))]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # grid points before any seed's first episode
        boot = trim_mean(samples, 0.25, axis=1)
        return trim_mean(values, 0.25, axis=0), *np.nanpercentile(boot, [2.5, 97.5], axis=0)


def plot_curves(curves: dict, title: str, ylabel: str, path: Path) -> None:
    """
    IQM over seeds at each evaluation, with its confidence band; ``curves`` maps a label to (grid, values) or
    (grid, values, collapsed), and each collapsed seed's own curve is drawn dotted.
    """
    import matplotlib.pyplot as plt

    below = len(curves) > 4  # a legend of many rows inside the axes hides the curves; beside them, it squeezes them
    figure, axis = plt.subplots(figsize=(9, 5.5) if below else (7, 4.5))
    for label, (grid, values, *fell) in curves.items():
        iqm, low, high = iqm_band(values)
        fallen = fell[0] if fell else np.zeros(len(values), dtype=bool)
        marked = f", {fallen.sum()} collapsed: dotted" if fallen.any() else ""
        (line,) = axis.plot(grid, iqm, label=f"{label} ({len(values)} seed{'s' if len(values) > 1 else ''}{marked})")
        axis.fill_between(grid, low, high, alpha=0.2)
        for seed in values[fallen]:  # each collapsed seed's own curve
            axis.plot(grid, seed, color=line.get_color(), linestyle=":", linewidth=0.9)
    axis.set(title=f"{title}: IQM over seeds, 95% CI", xlabel="env steps", ylabel=ylabel)
    axis.grid(alpha=0.3)
    axis.legend(**({"loc": "upper center", "bbox_to_anchor": (0.5, -0.16), "fontsize": "small"} if below else {}))
    figure.tight_layout()
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


def plot_aggregate(points: dict, bounds: dict, profiles: tuple, path: Path) -> None:
    """Interval estimates of the normalised IQM and mean, and performance profiles (rliable's plots)."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.lines import Line2D
    from rliable import plot_utils

    labels = list(points)
    colors = dict(zip(labels, sns.color_palette("colorblind", len(labels)), strict=True))
    figure, _ = plot_utils.plot_interval_estimates(points, bounds, ["IQM", "Mean"], algorithms=labels, colors=colors)
    figure.savefig(path.with_name(path.stem + "_intervals.png"), dpi=120, bbox_inches="tight")
    plt.close(figure)
    (taus, profile, profile_bounds) = profiles
    figure, axis = plt.subplots(figsize=(7, 4.5))
    plot_utils.plot_performance_profiles(profile, taus, performance_profile_cis=profile_bounds, ax=axis, colors=colors)
    axis.legend(handles=[Line2D([0], [0], color=colors[label], lw=2, label=label) for label in labels])
    figure.tight_layout()
    figure.savefig(path.with_name(path.stem + "_profiles.png"), dpi=120)
    plt.close(figure)


def summarize(
    run_list: Path,
    results: Path,
    threshold: float | None,
    window: int,
    pairs: list[tuple[str, str]] = (),
    reps: int = 50_000,
    references: dict[str, float] | None = None,
    readmes: list[Path] = (),
    names: dict[str, str] | None = None,
) -> None:
    """
    Tables (markdown + JSON) and plots over the seeds finished so far, with rliable's statistics (Agarwal et al.,
    2021): per env and method the IQM and mean of the final return and of the area under the curve, each with
    its confidence interval, and the sample std; the probability of improvement for each adjacent pair of the
    textbook order and each pair asked for; the IQM and mean over envs of scores normalised from a random
    policy (0) to a reference (1: given, or the best method's mean final return on that env). Each of
    ``readmes`` gets the short table (final return, methods named by ``names``) between the lines
    ``<!-- R -->`` and ``<!-- /R -->``, R the name of the results folder.
    """
    names = names or {}

    def named(label: str) -> str:  # tables and plots name the rows; the JSON keys them by label
        return names.get(label, label)

    groups = group_runs(run_list)
    unknown = set(names) - {label for _, label in groups}
    if unknown:
        raise ValueError(f"--name: {run_list} has no method labelled {', '.join(sorted(unknown))}")
    for readme in readmes:  # before the bootstrap's minutes, not after
        around_block(readme, results.name)
    runs = results / "runs"
    per_env: dict[str, dict[str, dict]] = defaultdict(dict)
    pending: set[tuple[str, str]] = set()  # (env, label): cells with a run of the list still to come
    for (env, label), run_names in sorted(
        groups.items(), key=lambda item: (item[0][0], METHODS.index(algo_of(item[0][1])), item[0][1])
    ):
        done = [name for name in run_names if (runs / f"{name}.csv").exists()]
        if len(done) < len(run_names):
            pending.add((env, label))
        if not done:
            continue
        records = [json.loads((runs / f"{name}.json").read_text()) for name in done]
        evaluations = [
            within_budget(load_evaluations(runs / f"{name}.csv"), budget_of(record))
            for name, record in zip(done, records, strict=True)
        ]
        # One grid for every seed: the evaluation times of the shortest run (vec envs shift them by < n_envs)
        length = min(len(returns) for _, returns in evaluations)
        curve = np.array([returns[:length] for _, returns in evaluations])
        minutes = [record["wall_time_s"] / 60 for record in records]
        # One cell, one task: runs under other MuJoCo/gymnasium releases step other dynamics
        physics = {name: physics_of(record) for name, record in zip(done, records, strict=True)}
        if len(set(physics.values())) > 1:
            listed = "; ".join(f"{name}: {version}" for name, version in physics.items())
            raise ValueError(f"{env} / {label}: runs of different physics versions cannot share a cell ({listed})")
        per_env[env][label] = {
            "runs": done,
            "grid": evaluations[0][0][:length],
            "curve": curve,
            "minutes": minutes,
            "physics": physics[done[0]],
        }

    # Each env's range, from a random policy's return (0) to a reference (1: given, or the best method's mean final
    # return): the normalised scores' and the collapse rule's
    references = dict(references or {})
    scale = {
        env: (
            random_policy_return(env),
            references.get(env, max(data["curve"][:, -1].mean() for data in methods.values())),
        )
        for env, methods in per_env.items()
    }
    table = [
        "| env | method | seeds | final: IQM [CI] | final: mean [CI] | final: mean ± sample std | area: IQM [CI] "
        "| area: mean [CI] | collapsed | per-seed final | final at (steps) | minutes/run | physics |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary: dict = {}
    # Every cell of the list, finished or not, so that a partial table has the final one's shape
    ordered = sorted(groups, key=lambda key: (METHODS.index(algo_of(key[1])), key[1]))
    short: dict[str, dict[str, ShortCell]] = {label: {} for _, label in ordered}
    improvements = ["| env | P(X > Y) | final: probability [CI] | area: probability [CI] |", "|---|---|---|---|"]
    for env, methods in per_env.items():
        finals = {label: data["curve"][:, -1:] for label, data in methods.items()}
        areas = {label: data["curve"].mean(axis=1, keepdims=True) for label, data in methods.items()}
        final_points, final_bounds = interval(finals, reps)
        area_points, area_bounds = interval(areas, reps)
        # Whole numbers where the task's returns are large; two decimals where they stay below 10 (the T-maze's ±1)
        digits = 0 if max(np.abs(final).max() for final in finals.values()) >= 10 else 2
        falls = {label: collapsed(data["curve"], *scale[env]) for label, data in methods.items()}
        for label, data in methods.items():
            final = finals[label][:, 0]
            spread = final.std(ddof=1) if len(final) > 1 else float("nan")
            iqm = cell(final_points[label], final_bounds[label], 0, digits)
            area_iqm = cell(area_points[label], area_bounds[label], 0, digits)
            mean_std = f"{final.mean():.{digits}f} ± {spread:.{digits}f}"
            # the short table's cells are the full one's
            short[label][env] = ShortCell(len(final), iqm, mean_std, area_iqm, int(falls[label].sum()))
            fell = collapsed_of(short[label][env])
            table.append(
                f"| {env} | {named(label)} | {len(final)} | {iqm} | "
                f"{cell(final_points[label], final_bounds[label], 1, digits)} | {mean_std} | {area_iqm} | "
                f"{cell(area_points[label], area_bounds[label], 1, digits)} | {fell} | "
                f"{' / '.join(f'{value:.{digits}f}' for value in final)} | {data['grid'][-1]:.0f} | "
                f"{np.mean(data['minutes']):.1f} | {data['physics']} |"
            )
            summary[f"{env}/{label}"] = {
                "runs": data["runs"],
                "timesteps": data["grid"].tolist(),
                "final": final.tolist(),
                "auc": areas[label][:, 0].tolist(),
                "final_iqm": [final_points[label][0], *final_bounds[label][:, 0]],
                "final_mean": [final_points[label][1], *final_bounds[label][:, 1]],
                "auc_iqm": [area_points[label][0], *area_bounds[label][:, 0]],
                "auc_mean": [area_points[label][1], *area_bounds[label][:, 1]],
                "final_sample_std": spread,
                "collapsed": [name for name, fell in zip(data["runs"], falls[label], strict=True) if fell],
                "final_step": float(data["grid"][-1]),
                "physics": data["physics"],
            }
        # Adjacent pairs of the textbook order (every setting of each algorithm), then those asked for
        wanted = [
            (later, earlier)
            for first, second in itertools.pairwise(ORDER)
            for earlier in methods
            if algo_of(earlier) == first
            for later in methods
            if algo_of(later) == second
        ]
        wanted += [(x, y) for x, y in pairs if x in methods and y in methods and (x, y) not in wanted]
        if wanted:
            by_metric = {
                metric: improvement({f"{x} > {y}": (scores[x], scores[y]) for x, y in wanted}, reps)
                for metric, scores in (("final", finals), ("auc", areas))
            }
            for key in by_metric["final"][0]:
                x, y = key.split(" > ")
                shown = []
                for metric, (points, bounds) in by_metric.items():
                    estimate = [float(np.squeeze(points[key])), *np.squeeze(bounds[key]).tolist()]
                    shown.append(f"{estimate[0]:.2f} [{estimate[1]:.2f}, {estimate[2]:.2f}]")
                    field = "probability_of_improvement" + ("" if metric == "final" else "_auc")
                    summary.setdefault(field, {})[f"{env}: {key}"] = estimate
                improvements.append(f"| {env} | {named(x)} > {named(y)} | {' | '.join(shown)} |")
        curves = {named(label): (data["grid"], data["curve"], falls[label]) for label, data in methods.items()}
        plot_curves(
            curves, f"{env}: deterministic evaluation", "return (10 episodes)", results / f"{env.replace('/', '-')}.png"
        )  # a namespaced id: one file

    notes = [
        "Final return: each seed's last evaluation within its budget (10 deterministic episodes on a separate env;",
        "'final at' is the step of the cell's last one); area under the curve: the mean of its evaluations. IQM",
        f"(interquartile mean) and mean over seeds, each with its {CONFIDENCE} (rliable, Agarwal et al. 2021);",
        f"the sample std over seeds. Collapsed: {COLLAPSE_RULE}; the ranges: "
        + ", ".join(f"{env} {low:.0f} → {high:.0f}" for env, (low, high) in scale.items())
        + ".",
    ]
    markdown = "\n".join([*notes, "", *table])
    if len(improvements) > 2:
        markdown += (
            "\n\nProbability of improvement P(X > Y) of the final return and of the area under the curve (the chance"
            " that a run of X beats a run of Y),"
        )
        markdown += f"\nwith its {CONFIDENCE}:\n\n" + "\n".join(improvements)

    # Over envs: scores normalised between a random policy and a reference, for the methods run on every env.
    # A partial study aggregates finished cells only (one cell's first seeds would cut every cell to them): its
    # finished envs (a suite's env still running) or its finished methods on every env (a row being added),
    # whichever covers more cells
    def complete(envs: list[str], left_out: set[str]) -> dict[str, list[str]]:
        """Each of ``envs`` with the methods run on all of them, less ``left_out``; empty if none is."""
        common = set.intersection(*(set(per_env[env]) for env in envs)) - left_out if envs else set()
        return {env: [label for label in per_env[env] if label in common] for env in envs} if common else {}

    pending_envs, pending_labels = {env for env, _ in pending}, {label for _, label in pending}
    finished = max(
        complete([env for env in per_env if env not in pending_envs], set()),
        complete(list(per_env), pending_labels),
        key=lambda part: len(part) * len(next(iter(part.values()))) if len(part) > 1 else 0,
    )
    aggregate = ""
    if len(finished) > 1:
        labels = next(iter(finished.values()))
        n_runs = min(len(per_env[env][label]["runs"]) for env in finished for label in labels)

        def normalise(metric: Callable[[np.ndarray], np.ndarray]) -> dict[str, np.ndarray]:
            """Each method's ``(runs, envs)`` scores of ``metric`` (curve -> one value per seed), normalised."""
            return {
                label: np.stack(
                    [
                        (metric(per_env[env][label]["curve"][:n_runs]) - scale[env][0])
                        / (scale[env][1] - scale[env][0])
                        for env in finished
                    ],
                    axis=1,
                )
                for label in labels
            }

        normalised = normalise(lambda curve: curve[:, -1])
        points, bounds = interval(normalised, reps)
        area_points, area_bounds = interval(normalise(lambda curve: curve.mean(axis=1)), reps)
        rows = ["| method | final: IQM [CI] | final: mean [CI] | area: IQM [CI] | area: mean [CI] |"]
        rows.append("|---|---|---|---|---|")
        rows += [
            f"| {named(label)} | {cell(points[label], bounds[label], 0, 2)} | "
            f"{cell(points[label], bounds[label], 1, 2)} | {cell(area_points[label], area_bounds[label], 0, 2)} | "
            f"{cell(area_points[label], area_bounds[label], 1, 2)} |"
            for label in labels
        ]
        envs = ", ".join(f"{env} ({scale[env][0]:.0f} → {scale[env][1]:.0f})" for env in finished)
        left_out = [
            *sorted(pending_envs - set(finished)),
            *(named(label) for label in sorted({label for _, label in groups} - set(labels))),
        ]
        not_yet = f" Not yet in it (runs to come): {', '.join(left_out)}." if left_out else ""
        markdown += (
            f"\n\nOver envs ({n_runs} seeds each): final returns and areas under the curve normalised from a random "
            f"policy's (0) to a reference (1; given, or the best method's mean final return): {envs}.{not_yet}\n\n"
            + "\n".join(rows)
        )
        aggregate = (
            f"\n\nNormalised over {len(finished)} envs ({n_runs} seeds each; 0: a random policy, 1: the reference), "
            "IQM [95% CI] of the final return / of the area under the curve: "
            + "; ".join(
                f"{named(label)} {cell(points[label], bounds[label], 0, 2)} / "
                f"{cell(area_points[label], area_bounds[label], 0, 2)}"
                for label in labels
            )
            + f".{not_yet}"
        )
        summary["normalised"] = {
            "scale": {env: scale[env] for env in finished},
            "iqm": {k: [points[k][0], *bounds[k][:, 0]] for k in labels},
            "auc_iqm": {k: [area_points[k][0], *area_bounds[k][:, 0]] for k in labels},
        }
        from rliable import library as rly

        taus = np.linspace(-0.1, 1.3, 57)
        profile, profile_bounds = rly.create_performance_profile(normalised, taus, reps=2000)

        def by_name(values: dict) -> dict:
            return {named(label): value for label, value in values.items()}

        plot_aggregate(
            by_name(points),
            by_name(bounds),
            (taus, by_name(profile), by_name(profile_bounds)),
            results / "aggregate.png",
        )

    if threshold is not None:
        reaching = [
            f"| env | method | seeds reaching {threshold} | episodes | env steps | per seed (episodes / steps) |"
        ]
        reaching.append("|---|---|---|---|---|---|")
        for env, methods in per_env.items():
            curves = {}
            for label, data in methods.items():
                episode_files = [runs / f"{name}_episodes.csv" for name in data["runs"]]
                reached = [first_reaching(path, threshold, window) for path in episode_files]
                hits = np.array([r for r in reached if r is not None]).reshape(-1, 2)
                cells = " · ".join("not reached" if r is None else f"{r[0]} / {r[1]}" for r in reached)
                spread = [
                    f"{hits[:, i].mean():.0f} ± {hits[:, i].std(ddof=1) if len(hits) > 1 else 0:.0f}"
                    if len(hits)
                    else "-"
                    for i in (0, 1)
                ]
                reaching.append(
                    f"| {env} | {named(label)} | {len(hits)}/{len(reached)} | {spread[0]} | {spread[1]} | {cells} |"
                )
                summary[f"{env}/{label}"]["reached"] = reached
                train_grid = np.linspace(0, data["grid"][-1], 101)[1:]
                curves[named(label)] = (
                    train_grid,
                    np.array([running_mean_curve(path, train_grid, window) for path in episode_files]),
                )
            ylabel = f"mean return of the last {window} training episodes"
            plot_curves(curves, f"{env}: training episodes", ylabel, results / f"{env.replace('/', '-')}_training.png")
        markdown += (
            f"\n\nEpisodes and env steps until the mean return of the last {window} training episodes first reaches "
            f"{threshold}, over the seeds that reach it (mean ± sample std).\n\n" + "\n".join(reaching)
        )
    for readme in readmes:
        before, after = around_block(readme, results.name)
        readme.write_text(
            before + short_table(short, sorted({env for env, _ in groups}), names) + aggregate + "\n" + after
        )
    (results / "summary.md").write_text(markdown + "\n")
    (results / "summary.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    print(markdown)
