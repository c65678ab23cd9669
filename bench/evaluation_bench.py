"""Evaluation benchmark: 1M predictions with two sensitive columns, our evaluation's computation
(governance.evaluation_metrics: labels to 0/1, groups, Fairlearn's MetricFrame per column with every
figure, the equalized-odds and demographic-parity differences, ROC AUC overall and per group)
against Fairlearn's ``MetricFrame`` alone on the same arrays (the baseline: one frame per sensitive
column with the seven metrics as a dict, as Fairlearn's docs use it), measured in the same run.

    .venv/bin/python bench/evaluation_bench.py [--rows 1000000] [--no-scores]

Prints both timings, the ratio (target: at most 2) and the load average. The figures of the two
are compared too (they must agree to 1e-9).
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def arrays(rows: int):
    """Arrow columns as the reader hands them: text labels, two text sensitive columns, scores."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(7)
    label = rng.integers(0, 2, rows)
    predicted = np.where(rng.random(rows) < 0.8, label, 1 - label)
    score = np.clip(label * 0.3 + rng.random(rows) * 0.7, 0, 1)
    gender = rng.choice(["F", "M", "X"], rows, p=[0.48, 0.48, 0.04])
    region = rng.choice(["north", "south", "east", "west", "centre"], rows)
    return {
        "label": pa.array(label),
        "predicted": pa.array(predicted),
        "score": pa.array(score),
        "gender": pa.array(gender),
        "region": pa.array(region),
    }


def ours(cols, *, scores: bool):
    import pyarrow as pa
    import pyarrow.compute as pc

    from governance.evaluation_metrics import binary, compute, groups_of, positive_values

    values = pc.unique(pa.concat_arrays([cols["label"], cols["predicted"]])).to_pylist()
    positives = positive_values(values, None, column="label")
    y_true, y_pred = binary(cols["label"], positives), binary(cols["predicted"], positives)
    sensitive = {c: groups_of(cols[c]) for c in ("gender", "region")}
    score = cols["score"].to_numpy() if scores else None
    return compute(y_true, y_pred, sensitive=sensitive, scores=score)


def baseline(cols):
    from fairlearn.metrics import MetricFrame

    from governance.evaluation_metrics import METRICS

    y_true, y_pred = cols["label"].to_numpy(), cols["predicted"].to_numpy()
    return {
        c: MetricFrame(
            metrics=METRICS,
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=cols[c].to_numpy(zero_copy_only=False),
        )
        for c in ("gender", "region")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-scores", action="store_true", help="leave ROC AUC out of our side")
    args = parser.parse_args()
    cols = arrays(args.rows)

    start = time.perf_counter()
    figures = ours(cols, scores=not args.no_scores)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    frames = baseline(cols)
    base_s = time.perf_counter() - start

    worst = 0.0
    for column, frame in frames.items():
        for group, row in frame.by_group.iterrows():
            for metric, value in row.items():
                worst = max(worst, abs(figures.by_group[column][str(group)][metric] - value))
    print(f"rows: {args.rows:,}, sensitive columns: 2, ROC AUC: {'no' if args.no_scores else 'yes'}")
    print(f"ours (evaluation_metrics, every figure): {ours_s:.2f} s")
    print(f"Fairlearn MetricFrame alone (7 metrics, 2 frames): {base_s:.2f} s")
    print(f"ratio ours / MetricFrame: {ours_s / base_s:.2f} (target <= 2)")
    print(f"largest difference of a figure: {worst:.3g}")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
