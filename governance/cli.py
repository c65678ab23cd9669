"""``gouvernail``: the command a pipeline runs to ask Gouvernail before it trains or ships.

    gouvernail clearance check --datasets URN[,URN] --purpose training [--principal USER]
    gouvernail clearance check --models model:<namespace>:<name>[@<version>] --purpose deployment
    gouvernail models register --namespace NS --name NAME --version V --trained-on URN@N [URN@N ...]
    gouvernail evaluate --model ID --dataset URN@N --label-column y --prediction-column p [--wait]
    gouvernail mlflow sync [--wait]

GOUVERNAIL_URL and GOUVERNAIL_TOKEN come from the environment (or --url, --token). Exit status:
0 done (cleared); 1 the answer is no (not cleared, the evaluation or sync failed, registered but
not cleared with --require-cleared); 2 the question failed (bad input, 401/403/404, server down).
``--json`` prints the server's answer as JSON instead of sentences.

Standard library only, on governance/client.py's HTTP calls: it runs wherever Python does.
"""

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from governance.client import Client, GouvernailError, clearance

CLEARED, REFUSED, ERROR = 0, 1, 2
_UNFINISHED = {"queued", "pending", "running"}


def _print(args: argparse.Namespace, answer: Any, lines: list[str]) -> None:
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
    else:
        print("\n".join(lines))


def _client(args: argparse.Namespace) -> Client:
    return Client(args.url, args.token, args.timeout)


# ---------------------------------------------------------------------------------------------
# The commands: each returns its exit status


def clearance_check(args: argparse.Namespace) -> int:
    if bool(args.datasets) == bool(args.models):
        raise GouvernailError("Give --datasets or --models (models with --purpose deployment).")
    answer = clearance(
        _client(args),
        # Given once: sent as written, and the server splits at the commas that start a URN.
        datasets=(args.datasets[0] if len(args.datasets) == 1 else args.datasets) if args.datasets else None,
        models=(args.models[0] if len(args.models) == 1 else args.models) if args.models else None,
        purpose=args.purpose,
        principal=args.principal,
    )
    word = "cleared" if answer["allowed"] else "NOT cleared"
    lines = [f"{answer.get('principal')} is {word} for {answer.get('purpose')}."]
    for entry in [*answer.get("models", []), *answer.get("datasets", [])]:
        mark = "ok " if entry.get("allowed") else "NO "
        lines.append(f"{mark} {entry['urn']}")
        if not entry.get("allowed") or args.verbose:
            lines.extend(f"      - {r}" for r in entry.get("reasons", []))
    _print(args, answer, lines)
    return CLEARED if answer["allowed"] else REFUSED


def models_register(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "namespace": args.namespace,
        "name": args.name,
        "version": args.version,
        "trained_on": args.trained_on,
    }
    if args.run_id:
        body["run_id"] = args.run_id
    if args.principal:
        body["principal"] = args.principal
    mv = _client(args).call("POST", "/api/v1/models/", body=body)
    lines = [
        f"Registered {mv['namespace']}/{mv['name']} version {mv['version']} as model {mv['id']} "
        f"({'cleared' if mv['cleared'] else 'NOT cleared'} for training).",
        *(f"  trained on {t}" for t in mv.get("trained_on", [])),
    ]
    _print(args, mv, lines)
    return REFUSED if args.require_cleared and not mv["cleared"] else CLEARED


def _label(value: str) -> Any:
    """A positive label as JSON when it reads as JSON (1, true, "yes"), else the text itself."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def evaluate(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "dataset": args.dataset,
        "label_column": args.label_column,
        "prediction_column": args.prediction_column,
    }
    if args.score_column:
        body["score_column"] = args.score_column
    if args.positive_label is not None:
        body["positive_label"] = _label(args.positive_label)
    client = _client(args)
    base = f"/api/v1/models/{args.model}/evaluations"
    job = client.call("POST", base, body=body)
    eid = job["id"]  # the POST's answer names it; the evaluation's own answer need not
    if args.wait:
        job = {"id": eid, **_wait(client, f"{base}/{eid}", job, args)}
    lines = [f"Evaluation {eid} of model {args.model}: {job['status']}."]
    for key in ("overall", "equalized_odds_difference", "demographic_parity_difference"):
        if job.get(key):
            lines.append(f"  {key.replace('_', ' ')}: {json.dumps(job[key])}")
    lines.extend(f"  warning: {w}" for w in job.get("warnings") or [])
    if job.get("error"):
        lines.append(f"  error: {job['error']}")
    _print(args, job, lines)
    return REFUSED if job["status"] == "failed" else CLEARED


def mlflow_sync(args: argparse.Namespace) -> int:
    client = _client(args)
    job = client.call("POST", "/api/v1/integrations/mlflow/sync")
    sid = job["id"]
    if args.wait:
        job = {"id": sid, **_wait(client, f"/api/v1/integrations/mlflow/sync/{sid}", job, args)}
    counts = ", ".join(f"{k} {job[k]}" for k in ("seen", "created", "updated", "unchanged") if k in job)
    lines = [f"MLflow sync {sid}: {job['status']}" + (f" ({counts})" if counts else "") + "."]
    lines.extend(f"  error: {e.get('message', e)}" for e in job.get("errors") or [] if isinstance(e, dict))
    _print(args, job, lines)
    return REFUSED if job["status"] in ("failed", "partial") else CLEARED


def _wait(client: Client, path: str, job: dict, args: argparse.Namespace) -> dict:
    """Poll ``path`` until the job is no longer queued, pending or running (or --wait-timeout)."""
    deadline = time.monotonic() + args.wait_timeout
    while job.get("status") in _UNFINISHED:
        if time.monotonic() >= deadline:
            raise GouvernailError(f"Still {job.get('status')} after {args.wait_timeout:g} s: {path}")
        time.sleep(args.poll_interval)
        job = client.call("GET", path)
    return job


# ---------------------------------------------------------------------------------------------
# The command line


def _common(parser: argparse.ArgumentParser, default: Callable[[Any], Any]) -> None:
    """The connection and output options, accepted before and after the command."""
    parser.add_argument(
        "--url", default=default(None), help="Gouvernail's base URL (default: $GOUVERNAIL_URL)"
    )
    parser.add_argument("--token", default=default(None), help="API token (default: $GOUVERNAIL_TOKEN)")
    parser.add_argument("--timeout", type=float, default=default(30.0), help="Seconds per HTTP call")
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="Print the answer as JSON"
    )


def _waiting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true", help="Wait until it has succeeded or failed")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="Seconds between polls")
    parser.add_argument("--wait-timeout", type=float, default=600.0, help="Give up after this many seconds")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gouvernail", description="Ask Gouvernail before training or shipping a model."
    )
    _common(parser, lambda value: value)
    after = argparse.ArgumentParser(add_help=False)
    _common(after, lambda value: argparse.SUPPRESS)  # after the command: only overrides what was given
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    group = commands.add_parser("clearance", help="Clearance questions").add_subparsers(
        dest="sub", required=True
    )
    check = group.add_parser(
        "check", parents=[after], help="May the principal use these datasets (or ship these models)?"
    )
    check.add_argument("--datasets", action="append", default=[], metavar="URN[,URN]", help="Dataset URNs")
    check.add_argument(
        "--models", action="append", default=[], metavar="URN[,URN]", help="Model URNs (deployment)"
    )
    check.add_argument(
        "--purpose", required=True, choices=["training", "evaluation", "analysis", "deployment"]
    )
    check.add_argument("--principal", help="Answer for this user (pipeline accounts, staff)")
    check.add_argument("-v", "--verbose", action="store_true", help="Reasons of cleared entries too")
    check.set_defaults(run=clearance_check)

    group = commands.add_parser("models", help="Registered models").add_subparsers(dest="sub", required=True)
    reg = group.add_parser("register", parents=[after], help="Register a trained model version")
    reg.add_argument("--namespace", required=True)
    reg.add_argument("--name", required=True)
    reg.add_argument("--version", required=True)
    reg.add_argument("--trained-on", required=True, nargs="+", action="extend", metavar="URN[@N]")
    reg.add_argument("--run-id")
    reg.add_argument("--principal", help="The person it was trained for (pipeline accounts, staff)")
    reg.add_argument("--require-cleared", action="store_true", help="Exit 1 when registered as not cleared")
    reg.set_defaults(run=models_register)

    ev = commands.add_parser("evaluate", parents=[after], help="Evaluate a model version on predictions")
    ev.add_argument("--model", required=True, type=int, help="Model version id")
    ev.add_argument("--dataset", required=True, metavar="URN@N", help="The catalogued predictions")
    ev.add_argument("--label-column", required=True)
    ev.add_argument("--prediction-column", required=True)
    ev.add_argument("--score-column")
    ev.add_argument("--positive-label")
    _waiting(ev)
    ev.set_defaults(run=evaluate)

    group = commands.add_parser("mlflow", help="MLflow interop").add_subparsers(dest="sub", required=True)
    sync = group.add_parser("sync", parents=[after], help="Sync MLflow's model registry now (staff)")
    _waiting(sync)
    sync.set_defaults(run=mlflow_sync)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command → its exit status (argparse exits 2 itself on a malformed command line)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except GouvernailError as exc:
        failed = {"error": str(exc), "status": exc.status, "body": exc.body}
    except (KeyError, TypeError) as exc:  # an answer without the fields this version expects
        failed = {"error": f"Unexpected answer from the server (missing {exc})", "status": None, "body": None}
    print(f"gouvernail: {failed['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(failed, indent=2, ensure_ascii=False))
    return ERROR


if __name__ == "__main__":
    sys.exit(main())
