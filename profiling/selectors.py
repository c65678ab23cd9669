"""Reads of profiling for the API, the web UI and other apps (governance reads these).

The names and shapes of ``latest_profile_summary``, ``profile_for_version`` and
``quality_history`` are relied on by governance; extend them, do not change them.
"""

from __future__ import annotations

from typing import Any

from profiling.models import ExpectationSuite, ProfileRun, QualityResult, RunStatus

# Sensitivity levels at which a PII column is a governance warning: anyone may get such data
# without an approval, so personal data there is probably misfiled.
PII_WARNING_SENSITIVITIES = ("public", "internal")


def _iso(dt) -> str | None:
    return dt.isoformat() if dt else None


def governance_warnings(*, dataset, pii: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Warnings about the data against the dataset's settings, e.g. PII in a public dataset.

    Computed when read, so that changing the dataset's sensitivity clears or raises them at once.
    """
    out = []
    if dataset.sensitivity in PII_WARNING_SENSITIVITIES:
        for column, kinds in sorted((pii or {}).items()):
            if kinds:
                out.append(
                    {
                        "code": "pii_in_open_dataset",
                        "column": column,
                        "kinds": sorted(kinds),
                        "message": (
                            f"Column '{column}' holds personal data ({', '.join(sorted(kinds))}) but the "
                            f"dataset is marked {dataset.sensitivity}; mark it confidential or restricted, "
                            "or remove the data."
                        ),
                    }
                )
    return out


def _profile_dict(run: ProfileRun | None, *, version) -> dict[str, Any]:
    if run is None:
        # A version stored before profiling existed, or whose job was never queued.
        return {
            "status": version.profile_status or RunStatus.PENDING,
            "progress": 0.0,
            "error": None,
            "started_at": None,
            "finished_at": None,
            "row_count": None,
            "columns": [],
            "quality": None,
            "bias": None,
            "drift": None,
            "attempts": 0,
            "warnings": [],
            "governance_warnings": [],
            "method": {},
        }
    done = run.status == RunStatus.SUCCEEDED
    return {
        "status": run.status,
        "progress": run.progress,
        "error": run.error or None,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "row_count": run.row_count if done else None,
        "columns": run.columns if done else [],
        "quality": run.quality if done else None,
        "bias": run.bias if done else None,
        "drift": run.drift if done else None,
        # Extensions to API.md's object (additive):
        "attempts": run.attempts,
        "warnings": run.warnings if done else [],
        "governance_warnings": governance_warnings(dataset=version.dataset, pii=run.pii) if done else [],
        "method": run.method if done else {},
    }


def profile_for_version(version) -> dict[str, Any] | None:
    """The API.md profile object of a version (plus attempts, warnings, governance_warnings,
    method); None when the version has no profile job."""
    run = ProfileRun.objects.filter(version=version).first()
    if run is None:
        return None
    return _profile_dict(run, version=version)


def profile_figures(version) -> dict[str, Any] | None:
    """A version's profile in figures: ``{"status", "row_count", "quality", "drift"}`` (None without a
    job), read without its per-column statistics, which may be large: governance's profile.finished
    event is built from this inside the transaction (and the dataset's lock) that writes the profile."""
    run = ProfileRun.objects.filter(version=version).only("status", "row_count", "quality", "drift").first()
    if run is None:
        return None
    done = run.status == RunStatus.SUCCEEDED
    return {
        "status": run.status,
        "row_count": run.row_count if done else None,
        "quality": run.quality if done else None,
        "drift": run.drift if done else None,
    }


def profile_answer(version) -> dict[str, Any]:
    """The profile object for the API: a version without a job yet reads as pending."""
    run = ProfileRun.objects.filter(version=version).first()
    return _profile_dict(run, version=version)


def latest_profile_summary(dataset) -> dict[str, Any] | None:
    """What governance needs of the latest version's profile, or None when no version has one.

    ``{"version", "status", "quality": {"success", "score"} | None, "bias": {attribute:
    {"demographic_parity_difference", "demographic_parity_ratio"}} | None, "pii": {col: [kinds]},
    "drift": {"drifted_columns": [...]} | None, "finished_at"}``
    """
    run = (
        ProfileRun.objects.filter(dataset=dataset)
        .order_by("-version_number")
        .only("version_number", "status", "quality", "bias", "pii", "drift", "finished_at", "dataset_id")
        .first()
    )
    if run is None:
        return None
    done = run.status == RunStatus.SUCCEEDED
    # A suite without expectations checked nothing: no quality result, not a pass.
    quality = (
        {"success": run.quality["success"], "score": run.quality["score"]}
        if done and run.quality and run.quality.get("results")
        else None
    )
    bias = None
    if done and run.bias and run.bias.get("attributes"):
        bias = {
            attr: {
                "demographic_parity_difference": v.get("demographic_parity_difference"),
                "demographic_parity_ratio": v.get("demographic_parity_ratio"),
            }
            for attr, v in run.bias["attributes"].items()
        }
    drift = None
    if done and run.drift:
        drift = {
            "drifted_columns": sorted(
                n for n, c in (run.drift.get("columns") or {}).items() if c.get("drifted")
            )
        }
    return {
        "version": run.version_number,
        "status": run.status,
        "quality": quality,
        "bias": bias,
        "pii": (run.pii or {}) if done else {},
        "drift": drift,
        "finished_at": _iso(run.finished_at),
    }


def quality_history(dataset) -> list[dict[str, Any]]:
    """Quality per version, newest first: [{"version", "success", "score", "evaluated",
    "successful", "suite_version", "created_at"}]."""
    rows = (
        QualityResult.objects.filter(dataset=dataset)
        .order_by("-version_number")
        .values(
            "version_number", "success", "score", "evaluated", "successful", "suite_version", "created_at"
        )
    )
    return [
        {
            "version": r["version_number"],
            "success": r["success"],
            "score": r["score"],
            "evaluated": r["evaluated"],
            "successful": r["successful"],
            "suite_version": r["suite_version"],
            "created_at": _iso(r["created_at"]),
        }
        for r in rows
    ]


def suite_for_dataset(dataset) -> ExpectationSuite | None:
    return ExpectationSuite.objects.filter(dataset=dataset).select_related("updated_by").first()


def suite_answer(dataset) -> dict[str, Any]:
    """The dataset's suite in GX's form plus our bookkeeping; an empty suite when none exists yet."""
    suite = suite_for_dataset(dataset)
    if suite is None:
        return {
            "name": f"{dataset.namespace}:{dataset.name}"[:255],
            "expectations": [],
            "meta": {},
            "version": 0,
            "origin": None,
            "updated_by": None,
            "updated_at": None,
        }
    return {
        "name": suite.name,
        "expectations": suite.expectations,
        "meta": suite.meta,
        "version": suite.version,
        "origin": suite.origin,
        "updated_by": suite.updated_by.username if suite.updated_by_id else None,
        "updated_at": _iso(suite.updated_at),
    }
