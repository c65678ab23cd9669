"""Governance's reads only read: every public function of its read modules (selectors, clearance
evaluation, model cards, the rules) runs under ``no_writes()`` on data that makes it do real work --
among others an approval past its expiry, which a list once expired as it read."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db.models import Q
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from governance import (
    access_requests,
    cards,
    clearance,
    dataset_policies,
    deliveries,
    policies,
    registry,
    selectors,
    subscriptions,
    teams,
)
from governance.models import AccessRequest, RequestStatus
from governance.tests.conftest import credit_csv
from tests.read_only import no_writes, public_functions

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(owner, steward, steward2, requester, make_dataset, derive, add_version):
    """Datasets of every kind of standing, requests in several states, a profiled policy, a model, a
    subscription to all of it with its deliveries."""
    sub, _ = subscriptions.create_subscription(actor=owner, events=["*"], email=True)
    conf = make_dataset(
        "confidential", name="risk/credit", sensitive_columns=["gender"], label_column="approved"
    )
    add_version(conf, credit_csv(60))
    dataset_policies.set_dataset_policy(
        actor=owner, dataset=conf, require_quality_pass=True, max_parity_difference=0.5, max_approval_days=30
    )
    source = make_dataset("restricted", name="raw/patients")
    features = make_dataset("internal", name="features/patients")
    derive(features, source)

    live = access_requests.create_access_request(
        actor=requester, datasets=[conf.urn], purpose="training", justification="scorecard"
    )
    access_requests.approve_access_request(actor=steward, request=live)
    overdue = access_requests.create_access_request(
        actor=requester, datasets=[source.urn], purpose="analysis", justification="study"
    )
    access_requests.approve_access_request(actor=steward, request=overdue)
    access_requests.approve_access_request(actor=owner, request=overdue)
    # Past its expiry but not swept: a read must show it as stored, and write nothing.
    AccessRequest.objects.filter(pk=overdue.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    pending = access_requests.create_access_request(
        actor=requester, datasets=[source.urn, features.urn], purpose="training", justification="model"
    )
    mv = registry.register_model_version(
        actor=requester, namespace="ml", name="credit", version="1", trained_on=[conf.urn, features.urn]
    )
    mv = selectors.model_version_list(user=requester).get(pk=mv.pk)
    deliveries.fan_out()
    return SimpleNamespace(
        owner=owner,
        steward=steward,
        requester=requester,
        conf=conf,
        source=source,
        features=features,
        live=live,
        overdue=overdue,
        pending=pending,
        mv=mv,
        urns=[conf.urn, features.urn, source.urn],
        sub=sub,
    )


def _card(w):
    return cards.build_card(w.mv, viewer=w.requester)


SELECTORS = {
    "dataset_refs_for_urns": lambda w: selectors.dataset_refs_for_urns([*w.urns, "not-a-urn"]),
    "datasets_for_urns": lambda w: selectors.datasets_for_urns([*w.urns, "not-a-urn"]),
    "resolve_urns": lambda w: selectors.resolve_urns(w.urns, field="datasets"),
    "resolve_urn_lists": lambda w: selectors.resolve_urn_lists(
        [w.urns, ["dataset:nowhere:x"]], field="datasets"
    ),
    "grant_rows": lambda w: selectors.grant_rows(
        principal_id=w.requester.pk, purpose="training", dataset_ids=[w.conf.pk, w.source.pk]
    ),
    "approvals_of": lambda w: selectors.approvals_of([w.live.pk, w.overdue.pk]),
    "policy_rows": lambda w: selectors.policy_rows([w.conf.pk, w.source.pk]),
    "policy_of": lambda w: selectors.policy_of(w.conf),
    "policies_for": lambda w: selectors.policies_for([w.conf.pk, w.features.pk]),
    "decidable_by": lambda w: list(AccessRequest.objects.filter(selectors.decidable_by(w.steward))),
    "visible_access_requests": lambda w: [
        list(selectors.visible_access_requests(u)) for u in (w.requester, w.steward, w.owner, None)
    ],
    "access_request_list": lambda w: [
        list(selectors.access_request_list(user=u)) for u in (w.requester, w.steward, w.owner)
    ],
    "access_request_detail": lambda w: selectors.access_request_detail(user=w.requester, pk=w.overdue.pk),
    "audit_list": lambda w: [
        list(selectors.audit_list(object_ref=ref, user=w.steward)[:50])
        for ref in (None, w.conf.urn, str(w.conf.pk), f"access_request:{w.live.pk}")
    ],
    "model_version_list": lambda w: list(selectors.model_version_list(user=w.requester)),
    "approved_dataset_ids": lambda w: list(selectors.approved_dataset_ids(w.requester)),
    "latest_evaluations": lambda w: selectors.latest_evaluations(w.mv),
    "model_policy_of": lambda w: selectors.model_policy_of(w.mv),
    "model_evaluations": lambda w: list(selectors.model_evaluations(w.mv)),
    "holds_live_approval": lambda w: [
        selectors.holds_live_approval(w.requester, ds) for ds in (w.conf, w.source, w.features)
    ],
    "subscriptions_for": lambda w: [
        list(selectors.subscriptions_for(u)) for u in (w.owner, w.requester, None)
    ],
    "subscription_deliveries": lambda w: list(selectors.subscription_deliveries(w.sub)),
}

CLEARANCE = {
    "parse_dataset_list": lambda w: clearance.parse_dataset_list(",".join(w.urns)),
    "upstream_of": lambda w: clearance.upstream_of(w.urns),
    "evaluate": lambda w: [
        clearance.evaluate(principal=w.requester, urns=w.urns, purpose=purpose)
        for purpose in ("training", "analysis")
    ],
    "evaluate_until": lambda w: clearance.evaluate_until(
        principal=w.requester, urns=w.urns, purpose="training", lineage_behind=2
    ),
    "answer_json": lambda w: clearance.answer_json(
        principal=w.requester, urns=w.urns, purpose="training", render=JSONRenderer().render
    ),
}

CARDS = {
    "build_card": _card,
    "hidden_urns": lambda w: cards.hidden_urns(w.requester),
    "scrub_hidden": lambda w: cards.scrub_hidden(_card(w), ["dataset:s3://x:y"]),
    "to_markdown": lambda w: cards.to_markdown(_card(w)),
    "to_html": lambda w: cards.to_html(_card(w)),
}

POLICIES = {
    "requirement": lambda w: [policies.requirement(s) for s in ("public", "restricted", "odd")],
    "requirement_text": lambda w: [policies.requirement_text(s) for s in ("internal", "confidential", "odd")],
    "roles_of": lambda w: policies.roles_of(w.owner.pk, owner_id=w.owner.pk, steward_ids=[w.steward.pk]),
    "requirement_met": lambda w: policies.requirement_met("restricted", [(w.steward.pk, ["steward"])]),
    "missing_text": lambda w: policies.missing_text("restricted", [(w.steward.pk, ["steward"])]),
    "decider": lambda w: policies.decider(
        w.steward, requester_id=w.requester.pk, datasets=w.pending.datasets.all()
    ),
    "may_decide": lambda w: [policies.may_decide(u, w.pending) for u in (w.steward, w.owner, w.requester)],
    "can_revoke": lambda w: [policies.can_revoke(u, w.live) for u in (w.steward, w.requester)],
    "can_withdraw": lambda w: policies.can_withdraw(w.requester, w.pending),
    "why_undecidable": lambda w: policies.why_undecidable(w.requester, [w.conf, w.source]),
    "relaxed": lambda w: policies.relaxed(
        {"require_quality_pass": True, "max_parity_difference": 0.1, "max_approval_days": 5},
        {"require_quality_pass": False, "max_parity_difference": None, "max_approval_days": 9},
    ),
    "conditions_hold": lambda w: policies.conditions_hold(w.conf, policies.Policy(True, 0.5, None)),
}

# Functions of words and numbers alone: they have nothing to read.
PURE = {
    "parse_dataset_list",
    "requirement",
    "requirement_text",
    "roles_of",
    "requirement_met",
    "missing_text",
}
PURE |= {"can_withdraw", "relaxed"}

TEAMS = {
    "teams_of": lambda w: teams.teams_of(w.steward),
    "awaiting_decision": lambda w: teams.awaiting_decision(w.steward),
}

READS = [
    (selectors, SELECTORS),
    (teams, TEAMS),
    (clearance, CLEARANCE),
    (cards, CARDS),
    (policies, POLICIES),
]


@pytest.mark.parametrize(("module", "table"), READS, ids=[m.__name__ for m, _ in READS])
def test_the_table_covers_every_public_function(module, table):
    assert set(table) == public_functions(module), "a public read of this module is missing from the table"


@pytest.mark.parametrize(
    ("module", "name"),
    [(m, name) for m, table in READS for name in table],
    ids=[f"{m.__name__.split('.')[-1]}.{name}" for m, table in READS for name in table],
)
def test_a_read_writes_nothing(world, module, name):
    table = dict(READS)[module]
    with no_writes() as seen:
        table[name](world)
    if name not in PURE:
        assert seen, f"{name} sent no query: the data does not make it do real work"


def test_a_list_shows_an_overdue_approval_as_stored_and_the_named_sweep_expires_it(world):
    with no_writes():
        listed = {r.pk: r.status for r in selectors.access_request_list(user=world.requester)}
    assert listed[world.overdue.pk] == RequestStatus.APPROVED
    assert access_requests.expire_due_access_requests() == 1
    assert AccessRequest.objects.get(pk=world.overdue.pk).status == RequestStatus.EXPIRED


def test_the_world_is_what_the_reads_expect(world):
    """The data above makes the reads do real work: a refusal from upstream, conditions, a pending request."""
    answer = clearance.evaluate(principal=world.requester, urns=[world.features.urn], purpose="training")
    assert answer["datasets"][0]["upstream_blockers"] == [world.source.urn]
    conf = clearance.evaluate(principal=world.requester, urns=[world.conf.urn], purpose="training")
    assert any("quality" in r for r in conf["datasets"][0]["reasons"])
    assert policies.may_decide(world.steward, world.pending)
    assert not AccessRequest.objects.filter(Q(pk=world.pending.pk) & ~Q(status="pending")).exists()
