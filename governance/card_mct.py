"""The model card in the field structure of Google's Model Card Toolkit, schema v0.0.2
(model_card_toolkit/schema/v0.0.2/model_card.schema.json): what other tools that read MCT cards
understand. Built from the card as a viewer may read it (governance.cards.build_card), so it shows
no more than the JSON card does.

MCT's metric values are strings; figures are written with 10 significant digits. A metric's slice
is ``<column>=<group>`` (a disparity's, the column), prefixed with the evaluation dataset version
when the card holds evaluations on more than one.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = "0.0.2"


def _text(value: Any) -> str:
    if isinstance(value, float):
        return format(value, ".10g")
    return "" if value is None else str(value)


def _overview(card: dict[str, Any]) -> str:
    d = card["model_details"]
    first = next(
        (line.strip() for line in (card["intended_use"]["text"] or "").splitlines() if line.strip()), ""
    )
    cleared = "cleared" if card["ethical_considerations"]["cleared_at_registration"] else "NOT cleared"
    return (
        first
        or f"{d['name']} version {d['version']}, registered {d['registered_at'][:10]} ({cleared} for its training data)."
    )


def _model_details(card: dict[str, Any], url: str | None) -> dict[str, Any]:
    d = card["model_details"]
    details: dict[str, Any] = {
        "name": f"{d['namespace']}/{d['name']}",
        "overview": _overview(card),
        "documentation": card["intended_use"]["text"] or "",
        "owners": [{"name": d["owner"]}] if d.get("owner") else [],
        "version": {"name": str(d["version"]), "date": d["registered_at"][:10]},
        "references": [{"reference": url}] if url else [],
    }
    if d.get("run_id"):
        details["path"] = f"run {d['run_id']}"
    return details


def _datasets(card: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for t in card["training_data"]:
        name = f"{t['urn']}@{t['version']}" if t["version"] else t["urn"]
        sensitive = sorted(
            {*(card["factors"]["sensitive_columns"].get(t["urn"]) or []), *(t["pii"] or {}).keys()}
        )
        out.append(
            {
                "name": name,
                "description": f"Training data ({t['sensitivity'] or 'unknown'} sensitivity"
                + (", deleted since" if t["deleted"] else "")
                + ").",
                "sensitive": {"sensitive_data": sensitive},
            }
        )
    for e in card["evaluation_data"]["datasets"]:
        note = " It is data the model was trained on." if e["overlaps_training"] else ""
        out.append(
            {"name": e["dataset"], "description": f"Evaluation data (evaluation {e['evaluation']}).{note}"}
        )
    return out


def _performance_metrics(card: dict[str, Any]) -> list[dict[str, str]]:
    analyses = card["quantitative_analyses"].get("evaluations") or []
    several = len(analyses) > 1
    metrics: list[dict[str, str]] = []
    for a in analyses:
        prefix = f"{a['dataset']}: " if several else ""
        for name, value in a["overall"].items():
            metrics.append({"type": name, "value": _text(value), "slice": f"{prefix}overall"})
        for c in a["columns"]:
            for g in c["groups"]:
                for name, value in g.items():
                    if name != "group":
                        metrics.append(
                            {
                                "type": name,
                                "value": _text(value),
                                "slice": f"{prefix}{c['column']}={g['group']}",
                            }
                        )
            for name in ("equalized_odds_difference", "demographic_parity_difference"):
                metrics.append({"type": name, "value": _text(c[name]), "slice": f"{prefix}{c['column']}"})
    return metrics


def _considerations(card: dict[str, Any]) -> dict[str, Any]:
    ethics = card["ethical_considerations"]
    limitations = [*card["caveats"]["automatic"]]
    if card["caveats"]["text"]:
        limitations.append(card["caveats"]["text"])
    risks = [
        {"name": w, "mitigation_strategy": "Check the column's use against the data's approvals."}
        for w in ethics["pii_warnings"]
    ]
    for a in card["quantitative_analyses"].get("evaluations") or []:
        limitations += [f"{a['dataset']}: {w}" for w in a["warnings"]]
        risks += [
            {"name": f"{a['dataset']}: {m}", "mitigation_strategy": "Do not release until the policy is met."}
            for m in a["marks"]
        ]
    if not ethics["cleared_at_registration"]:
        risks.append(
            {
                "name": "Trained without clearance for all of its data.",
                "mitigation_strategy": "Obtain approval for the data, or retrain on cleared data.",
            }
        )
    return {
        "users": [],
        "use_cases": [{"description": card["intended_use"]["text"]}] if card["intended_use"]["text"] else [],
        "limitations": [{"description": text} for text in limitations],
        "ethical_considerations": risks,
    }


def to_mct(card: dict[str, Any], *, url: str | None = None) -> dict[str, Any]:
    """The card (build_card's data) in MCT v0.0.2's structure; ``url`` is the card's absolute URL."""
    return {
        "schema_version": SCHEMA_VERSION,
        "model_details": _model_details(card, url),
        "model_parameters": {"data": _datasets(card)},
        "quantitative_analysis": {"performance_metrics": _performance_metrics(card)},
        "considerations": _considerations(card),
    }
