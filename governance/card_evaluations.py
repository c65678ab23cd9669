"""The model card's evaluation data and quantitative analysis, from the model version's latest
succeeded evaluation on each evaluation dataset version (governance.evaluations): the overall
figures, a table per sensitive column, and the disparities marked against thresholds.

The thresholds are a model policy's (largest equalized-odds difference, smallest accuracy); without
one nothing is marked. ``disparity_marks`` is the one place that compares figures with them.
"""

from __future__ import annotations

from typing import Any

from governance.evaluation_metrics import METRICS
from governance.evaluations import evaluation_as_seen_by
from governance.selectors import latest_evaluations

# The figures per group as the evaluation computes them, in its order; ROC AUC when scores were given.
GROUP_METRICS = (*METRICS, "roc_auc")
# Those that are rates (0-1): the bars the model page draws per group.
RATE_METRICS = tuple(m for m in GROUP_METRICS if m != "count")


def disparity_marks(evaluation: dict[str, Any], thresholds: dict[str, float] | None = None) -> list[str]:
    """What fails the thresholds in one evaluation, each naming the column, the group and the metric.

    ``thresholds``: ``max_equalized_odds_difference``, ``max_demographic_parity_difference``,
    ``min_accuracy`` (any may be absent or None); None marks nothing."""
    if not thresholds:
        return []
    marks = []
    for key, label in (
        ("equalized_odds_difference", "equalized odds difference"),
        ("demographic_parity_difference", "demographic parity difference"),
    ):
        limit = thresholds.get(f"max_{key}")
        for column, value in (evaluation.get(key) or {}).items():
            if limit is not None and value is not None and value > limit:
                marks.append(f"{label} on {column} is {value:.4g}, above the policy's {limit:g}")
    least = thresholds.get("min_accuracy")
    if least is not None:
        accuracy = (evaluation.get("overall") or {}).get("accuracy")
        if accuracy is not None and accuracy < least:
            marks.append(f"accuracy overall is {accuracy:.4g}, below the policy's {least:g}")
        for column, groups in (evaluation.get("by_group") or {}).items():
            for group, figures in groups.items():
                value = figures.get("accuracy")
                if value is not None and value < least:
                    marks.append(
                        f"accuracy of group {group} of {column} is {value:.4g}, below the policy's {least:g}"
                    )
    return marks


def evaluation_sections(mv, *, viewer, thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """``{"evaluation_data": {...}, "evaluations": [...]}`` for the card, as ``viewer`` may read it."""
    seen = [evaluation_as_seen_by(ev, viewer) for ev in latest_evaluations(mv)]
    datasets = [
        {
            "dataset": e["dataset"],
            "evaluation": e["id"],
            "overlaps_training": e["overlaps_training"],
            "finished_at": e["finished_at"],
        }
        for e in seen
    ]
    analyses = []
    for e in seen:
        analyses.append(
            {
                "evaluation": e["id"],
                "dataset": e["dataset"],
                "overall": e["overall"],
                "columns": [
                    {
                        "column": column,
                        "equalized_odds_difference": e["equalized_odds_difference"].get(column),
                        "demographic_parity_difference": e["demographic_parity_difference"].get(column),
                        "groups": [{"group": g, **figures} for g, figures in groups.items()],
                    }
                    for column, groups in e["by_group"].items()
                ],
                "marks": disparity_marks(e, thresholds),
                "warnings": e["warnings"],
                "groups_hidden": e["groups_hidden"],
            }
        )
    text = (
        "The model's latest evaluation on each evaluation dataset version."
        if seen
        else "No evaluation of this model version has succeeded yet."
    )
    if any(d["overlaps_training"] for d in datasets):
        text += " Some evaluation data is data the model was trained on (see the warnings)."
    return {"evaluation_data": {"datasets": datasets, "text": text}, "evaluations": analyses}


def evaluations_markdown(analyses: list[dict[str, Any]], md, fmt) -> list[str]:
    """The evaluations' tables as Markdown lines (``md`` escapes text from the record, ``fmt`` a figure)."""
    out: list[str] = []
    for a in analyses:
        out += [f"### Evaluation on {md(a['dataset'])}", ""]
        out.append("- Overall: " + ", ".join(f"{md(k)} {fmt(v)}" for k, v in a["overall"].items()))
        for mark in a["marks"]:
            out.append(f"- **Beyond the policy**: {md(mark)}")
        for w in a["warnings"]:
            out.append(f"- Warning: {md(w)}")
        out.append("")
        for c in a["columns"]:
            out.append(
                f"#### By {md(c['column'])}: equalized odds difference {fmt(c['equalized_odds_difference'])}, "
                f"demographic parity difference {fmt(c['demographic_parity_difference'])}"
            )
            out.append("")
            shown = [m for m in GROUP_METRICS if any(m in g for g in c["groups"])]
            out.append("| Group | " + " | ".join(m.replace("_", " ") for m in shown) + " |")
            out.append("|---|" + "---|" * len(shown))
            for g in c["groups"]:
                out.append(f"| {md(g['group'])} | " + " | ".join(fmt(g.get(m)) for m in shown) + " |")
            out.append("")
    return out
