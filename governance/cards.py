"""Model cards, in the sections of Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019).

The card is built from the record: the training data with versions, their quality, bias, PII and
drift indicators from profiling, the approvals behind the clearance, and their lineage sources.
JSON is the source; Markdown and HTML are renderings of it (HTML through the sanitiser).
"""

import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.html import escape

from catalog.markdown import render_markdown
from catalog.selectors import datasets_hidden_from
from governance import mlflow_sync
from governance.card_evaluations import evaluation_sections, evaluations_markdown
from governance.clearance import upstream_of
from governance.models import ModelVersion
from governance.selectors import visible_access_requests
from profiling.selectors import latest_profile_summary, profile_for_version
from profiling.visibility import may_see_values, profile_for_viewer

# What the card says of an access request that the viewer may not see anywhere else.
HIDDEN_DATASET = "a hidden dataset"
HIDDEN_REQUEST = "shown to its requester, the owners and stewards of its datasets, and staff"

SECTIONS = [
    ("model_details", "Model details"),
    ("intended_use", "Intended use"),
    ("factors", "Factors"),
    ("metrics", "Metrics"),
    ("evaluation_data", "Evaluation data"),
    ("training_data", "Training data"),
    ("quantitative_analyses", "Quantitative analyses"),
    ("ethical_considerations", "Ethical considerations"),
    ("caveats", "Caveats and recommendations"),
]


def _indicators(dataset, version, viewer) -> dict[str, Any] | None:
    """Quality, bias, PII and drift of the version trained on (or the latest profiled one).

    The figures come from the profile as ``viewer`` may see it (profiling.visibility): of a
    confidential or restricted dataset a viewer without clearance gets the job's state only (its
    figures are released with differential privacy on the profile, docs/privacy.md)."""
    if version is None:
        summary = latest_profile_summary(dataset)
        if summary is None or may_see_values(viewer, dataset):
            return summary
        version = dataset.versions.filter(number=summary["version"]).first()
    profile = profile_for_viewer(profile_for_version(version), user=viewer, dataset=dataset)
    if not profile:
        return None
    bias = (profile.get("bias") or {}).get("attributes") if profile.get("bias") else None
    drift = profile.get("drift")
    return {
        "version": version.number,
        "status": profile.get("status"),
        "quality": {k: profile["quality"].get(k) for k in ("success", "score")}
        if profile.get("quality")
        else None,
        "bias": {
            attr: {
                "demographic_parity_difference": figs.get("demographic_parity_difference"),
                "demographic_parity_ratio": figs.get("demographic_parity_ratio"),
            }
            for attr, figs in (bias or {}).items()
        }
        or None,
        "pii": {c["name"]: c["pii"] for c in profile.get("columns") or [] if c.get("pii")},
        "drift": {"drifted_columns": [c for c, v in (drift.get("columns") or {}).items() if v.get("drifted")]}
        if drift
        else None,
        "finished_at": profile.get("finished_at"),
    }


def _approvals(mv: ModelVersion, viewer) -> dict[int, dict[str, Any]]:
    """The access requests the clearance rested on, as they stand now: in full for a viewer who may
    see the request anywhere else (selectors.visible_access_requests), else only its number."""
    ids = [d["access_request"] for d in (mv.clearance or {}).get("datasets", []) if d.get("access_request")]
    out: dict[int, dict[str, Any]] = {pk: {"id": pk, "visible": False} for pk in ids}
    shown = visible_access_requests(viewer).filter(pk__in=ids).prefetch_related("approvals__approver")
    for req in shown:
        out[req.pk] = {
            "id": req.pk,
            "visible": True,
            "status_now": req.status,
            "purpose": req.purpose,
            "expires_at": req.expires_at.isoformat() if req.expires_at else None,
            "approvals": [
                {
                    "approver": a.approver.get_username(),
                    "decision": a.decision,
                    "roles": sorted({r for roles in a.roles.values() for r in roles}),
                    "at": a.at.isoformat(),
                }
                for a in req.approvals.all()
            ],
        }
    return out


def _policy_thresholds(mv: ModelVersion) -> dict[str, float]:
    """The numeric conditions of the model's release policy (governance.release), for the marks."""
    from governance.release import policy_values
    from governance.selectors import model_policy_of

    values = policy_values(model_policy_of(mv))
    return {k: v for k, v in values.items() if k.startswith(("max_", "min_")) and v is not None}


def build_card(mv: ModelVersion, *, viewer, thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """The model card of one model version as ``viewer`` may read it, as JSON-ready data. Models are
    catalog metadata that every signed-in user reads; the access requests behind the clearance are
    shown in full only to whoever may see them elsewhere. ``thresholds`` mark the evaluations'
    disparities (card_evaluations.disparity_marks): by default the model's release policy's."""
    if thresholds is None:
        thresholds = _policy_thresholds(mv)
    clearance = mv.clearance or {}
    evaluated = evaluation_sections(mv, viewer=viewer, thresholds=thresholds)
    inputs = list(mv.inputs.select_related("dataset", "dataset_version"))
    training = _training_data(mv, inputs, viewer)
    notes = _Notes.of(training)
    origin = mlflow_sync.origin_section(mv)
    factors = {
        i.dataset_urn: list(i.dataset.sensitive_columns)
        for i in inputs
        if i.dataset is not None and i.dataset.sensitive_columns
    }
    return _without_hidden(
        {
            "id": mv.pk,
            "model_details": _model_details(mv),
            "intended_use": {"text": mv.intended_use, "html": render_markdown(mv.intended_use)},
            "factors": {
                "sensitive_columns": factors,
                "text": "Groups are the values of the sensitive columns that the training datasets name."
                if factors
                else "No training dataset names sensitive columns: no group factors were analysed.",
            },
            "metrics": {
                "text": "Model evaluations (Fairlearn's MetricFrame per group of each sensitive column of the "
                "evaluation data): count, accuracy, precision, recall, false positive and false negative rates, "
                "selection rate, ROC AUC when scores were given; equalized odds difference (the larger of the "
                "true and false positive rates' max - min across groups) and demographic parity difference "
                "(selection rate's max - min). Dataset indicators from profiling: quality suite success and score "
                "(share of expectations met); demographic parity difference (max - min positive rate across "
                "groups) and ratio (min / max), the label taken as the prediction, as fairlearn defines them; drift "
                "by PSI and KS per column.",
            },
            "evaluation_data": evaluated["evaluation_data"],
            "training_data": training,
            "mlflow": origin,
            "quantitative_analyses": {
                "evaluations": evaluated["evaluations"],
                "bias": notes.bias_rows,
                "quality": [
                    {"dataset": t["urn"], **(t["quality"] or {"success": None, "score": None})}
                    for t in training
                ],
            },
            "ethical_considerations": {
                "cleared_at_registration": mv.cleared,
                "clearance": clearance,
                "pii_warnings": notes.pii_warnings,
                "sensitivities": {t["urn"]: t["sensitivity"] for t in training},
            },
            "caveats": {
                "text": mv.caveats,
                "html": render_markdown(mv.caveats),
                "automatic": _uncleared_caveat(mv)
                + (origin["caveats"] if origin else [])
                + notes.quality
                + notes.drift,
            },
        },
        viewer,
    )


def _without_hidden(card: dict[str, Any], viewer) -> dict[str, Any]:
    """The card without a word of the hidden datasets ``viewer`` may not see (catalog.visibility):
    their training entries keep their place (the model was trained on something) but say only
    "a hidden dataset"; their URNs are replaced wherever the card quotes them (clearance reasons,
    factors, sensitivities, lineage sources)."""
    urns = hidden_urns(viewer)
    if not urns:
        return card
    hidden = set(urns)
    card["training_data"] = [
        {key: None for key in t} | {"urn": HIDDEN_DATASET, "deleted": False, "pii": {}, "clearance_reasons": [],
         "lineage_sources": [], "hidden": True}
        if t["urn"] in hidden
        else t
        for t in card["training_data"]
    ]  # fmt: skip

    return scrub_hidden(card, urns)


def _model_details(mv: ModelVersion) -> dict[str, Any]:
    model = mv.model
    return {
        "namespace": model.namespace,
        "name": model.name,
        "version": mv.version,
        "owner": model.owner.get_username() if model.owner_id else None,
        # Teams: any member of the owner group acts as owner; steward groups' members edit the card.
        "owner_group": model.owner_group.name if model.owner_group_id else None,
        "steward_groups": sorted(g.name for g in model.steward_groups.all()),
        "registered_by": mv.registered_by.get_username() if mv.registered_by_id else None,
        "registered_at": mv.created_at.isoformat(),
        "registered_via": mv.via,
        "run_id": mv.run_id or None,
        "lineage_node": mv.lineage_node or None,
    }


def _training_data(mv: ModelVersion, inputs: list, viewer) -> list[dict[str, Any]]:
    """One entry per training input: the dataset then, its indicators, its clearance and sources."""
    by_urn = {d["urn"]: d for d in (mv.clearance or {}).get("datasets", [])}
    approvals = _approvals(mv, viewer)
    urns = [i.dataset_urn for i in inputs if i.dataset_id]
    sources = upstream_of(urns) if urns else {}
    training = []
    for i in inputs:
        ds = i.dataset
        ind = _indicators(ds, i.dataset_version, viewer) if ds is not None else None
        answer = by_urn.get(i.dataset_urn, {})
        training.append(
            {
                "urn": i.dataset_urn,
                "version": i.version_number,
                "title": ds.title if ds else None,
                "sensitivity": ds.sensitivity if ds else None,
                "deleted": ds is None,
                "profiled_version": ind.get("version") if ind else None,
                "quality": ind.get("quality") if ind else None,
                "bias": ind.get("bias") if ind else None,
                "pii": ind.get("pii") if ind else {},
                "drift": ind.get("drift") if ind else None,
                "cleared_at_registration": answer.get("allowed"),
                "clearance_reasons": answer.get("reasons", []),
                "approval": approvals.get(answer.get("access_request")),
                "lineage_sources": sources.get(i.dataset_urn, []),
            }
        )
    return training


@dataclass
class _Notes:
    """What the card's analyses and automatic caveats say of the training data."""

    pii_warnings: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    quality: list[str] = field(default_factory=list)
    bias_rows: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, training: list[dict[str, Any]]) -> "_Notes":
        notes = cls()
        for entry in training:
            urn = entry["urn"]
            for col, kinds in (entry["pii"] or {}).items():
                notes.pii_warnings.append(f"{urn}: column {col} holds {', '.join(kinds)}")
            if entry["drift"] and entry["drift"].get("drifted_columns"):
                notes.drift.append(
                    f"{urn}: drift against the previous version in {', '.join(entry['drift']['drifted_columns'])}"
                )
            if entry["quality"] and not entry["quality"].get("success"):
                notes.quality.append(
                    f"{urn}: the quality suite failed (score {entry['quality'].get('score')})"
                )
            for attr, figs in (entry["bias"] or {}).items():
                notes.bias_rows.append({"dataset": urn, "attribute": attr, **figs})
        return notes


def _uncleared_caveat(mv: ModelVersion) -> list[str]:
    """The caveat of a model trained without clearance (none when it was cleared)."""
    if mv.cleared:
        return []
    clearance = mv.clearance or {}
    blocked = [
        d["urn"]
        + (f" (derived from {', '.join(d['upstream_blockers'])})" if d.get("upstream_blockers") else "")
        for d in clearance.get("datasets", [])
        if not d.get("allowed")
    ]
    return [
        "Trained WITHOUT clearance: at registration "
        f"{clearance.get('principal') or 'no principal'} was not cleared for {'; '.join(blocked) or 'its data'}."
    ]


_MD_SPECIAL = re.compile(r"([\\`*\[\]|])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md(value: Any) -> str:
    """Text from the record (names, URNs, columns, usernames) as Markdown that shows it as written:
    no emphasis, link, code or HTML made of a model named ``clf<v2> *x* [a](b)``."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return _md(value)


def to_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown: names and other values from the record escaped to show as written; the
    owner's intended use and caveats included as the Markdown they wrote (HTML rendering sanitises)."""
    d = card["model_details"]
    out = [f"# Model card: {_md(d['namespace'])}/{_md(d['name'])} version {_md(d['version'])}", ""]
    out += ["## Model details", ""]
    out += [f"- **{k.replace('_', ' ').capitalize()}**: {_fmt(v)}" for k, v in d.items()]
    out += ["", "## Intended use", "", card["intended_use"]["text"] or "_Not written yet by the owner._", ""]
    out += ["## Factors", "", card["factors"]["text"], ""]
    out += [
        f"- {_md(urn)}: {', '.join(_md(c) for c in cols)}"
        for urn, cols in card["factors"]["sensitive_columns"].items()
    ]
    out += ["", "## Metrics", "", card["metrics"]["text"], ""]
    out += ["## Evaluation data", "", card["evaluation_data"]["text"], ""]
    out += [
        f"- {_md(d['dataset'])}" + (" (data the model was trained on)" if d["overlaps_training"] else "")
        for d in card["evaluation_data"]["datasets"]
    ]
    out += [""] if card["evaluation_data"]["datasets"] else []
    out += ["## Training data", ""]
    for t in card["training_data"]:
        version = f" version {_md(t['version'])}" if t["version"] else " (latest version at the time)"
        out.append(f"### {_md(t['urn'])}{version}")
        out.append("")
        out.append(f"- Sensitivity: {_fmt(t['sensitivity'])}")
        q = t["quality"]
        out.append(
            f"- Quality: {'passed' if q and q.get('success') else 'failed' if q else 'n/a'} (score {_fmt(q and q.get('score'))})"
        )
        for attr, figs in (t["bias"] or {}).items():
            out.append(
                f"- Bias on {_md(attr)}: parity difference {_fmt(figs.get('demographic_parity_difference'))}, "
                f"ratio {_fmt(figs.get('demographic_parity_ratio'))}"
            )
        if t["pii"]:
            out.append("- PII: " + "; ".join(f"{_md(c)} ({', '.join(k)})" for c, k in t["pii"].items()))
        if t["drift"] and t["drift"].get("drifted_columns"):
            out.append("- Drift: " + ", ".join(_md(c) for c in t["drift"]["drifted_columns"]))
        out.append(f"- Cleared at registration: {_fmt(t['cleared_at_registration'])}")
        if t["approval"] and not t["approval"]["visible"]:
            out.append(f"- Access request #{t['approval']['id']}: {HIDDEN_REQUEST}")
        elif t["approval"]:
            a = t["approval"]
            who = ", ".join(
                f"{_md(x['approver'])} ({'/'.join(x['roles'])}, {x['decision']})" for x in a["approvals"]
            )
            out.append(f"- Access request #{a['id']} ({a['purpose']}), now {a['status_now']}: {who}")
        if t["lineage_sources"]:
            out.append("- Lineage sources: " + ", ".join(_md(u) for u in t["lineage_sources"]))
        out.append("")
    out += ["## Quantitative analyses", ""]
    out += evaluations_markdown(card["quantitative_analyses"].get("evaluations") or [], _md, _fmt)
    if card["quantitative_analyses"]["bias"]:
        out += ["### Training data bias (profiling)", ""]
        out += ["| Dataset | Attribute | Parity difference | Parity ratio |", "|---|---|---|---|"]
        out += [
            f"| {_md(r['dataset'])} | {_md(r['attribute'])} | {_fmt(r.get('demographic_parity_difference'))} | "
            f"{_fmt(r.get('demographic_parity_ratio'))} |"
            for r in card["quantitative_analyses"]["bias"]
        ]
    else:
        out.append("No bias figures: no training dataset was profiled with sensitive columns.")
    out += ["", "## Ethical considerations", ""]
    e = card["ethical_considerations"]
    out.append(
        f"- Cleared for training at registration: {'yes' if e['cleared_at_registration'] else '**no**'}"
    )
    out += [f"- PII: {_md(w)}" for w in e["pii_warnings"]]
    out += ["", "## Caveats and recommendations", ""]
    out += [f"- {_md(c)}" for c in card["caveats"]["automatic"]]
    out += ["", card["caveats"]["text"] or "_No caveats written yet by the owner._", ""]
    return "\n".join(out)


def to_html(card: dict[str, Any]) -> str:
    d = card["model_details"]
    title = escape(f"Model card: {d['namespace']}/{d['name']} {d['version']}")
    body = render_markdown(to_markdown(card))
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><main>{body}</main></body></html>\n"
    )


def hidden_urns(viewer) -> list[str]:
    """The URNs of the hidden datasets ``viewer`` may not see, longest first (catalog.visibility)."""
    return sorted(
        (f"dataset:{ns}:{name}" for _pk, ns, name in datasets_hidden_from(viewer)), key=len, reverse=True
    )


def scrub_hidden(value: Any, urns: list[str]) -> Any:
    """``value`` (JSON-ready) with each of ``urns`` replaced by "a hidden dataset" in every string and
    key; ``urns`` longest first, so that a URN that prefixes another is not half-replaced."""
    if not urns:
        return value
    if isinstance(value, str):
        for urn in urns:
            if urn in value:
                value = value.replace(urn, HIDDEN_DATASET)
        return value
    if isinstance(value, dict):
        return {scrub_hidden(k, urns): scrub_hidden(v, urns) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_hidden(v, urns) for v in value]
    return value
