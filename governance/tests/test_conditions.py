"""Policy conditions on the latest profiled version, with profiles computed by profiling itself."""

import pytest

from governance import access_requests, dataset_policies
from governance.clearance import evaluate
from governance.tests.conftest import credit_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def credit(owner, make_dataset):
    return make_dataset(
        "internal",
        name="credit/applications",
        sensitive_columns=["gender"],
        label_column="approved",
        positive_label=1,
    )


def test_quality_condition(owner, requester, credit, add_version):
    dataset_policies.set_dataset_policy(actor=owner, dataset=credit, require_quality_pass=True)
    # Not profiled yet: refused, saying why.
    answer = evaluate(principal=requester, urns=[credit.urn], purpose="training")
    assert (
        not answer["allowed"]
        and "no profiled version has no quality result" in answer["datasets"][0]["reasons"][-1]
    )

    from profiling import suites as profiling_services

    profiling_services.save_suite(
        actor=owner,
        dataset=credit,
        expectations=[
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "age", "min_value": 0, "max_value": 120},
            }
        ],
    )
    add_version(credit, credit_csv(120))
    answer = evaluate(principal=requester, urns=[credit.urn], purpose="training")
    assert answer["allowed"], answer
    assert "quality suite passed on version 1" in answer["datasets"][0]["reasons"]

    profiling_services.save_suite(
        actor=owner,
        dataset=credit,
        expectations=[
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "age", "min_value": 0, "max_value": 30},
            }
        ],
    )
    add_version(credit, credit_csv(120, seed=2))
    answer = evaluate(principal=requester, urns=[credit.urn], purpose="training")
    assert not answer["allowed"]
    assert "version 2 failed it" in answer["datasets"][0]["reasons"][-1]


def test_bias_condition(owner, requester, credit, add_version):
    add_version(credit, credit_csv(400, bias=0.3))
    dataset_policies.set_dataset_policy(actor=owner, dataset=credit, max_parity_difference=0.05)
    answer = evaluate(principal=requester, urns=[credit.urn], purpose="training")
    assert not answer["allowed"]
    assert "over the policy's cap of 0.05" in answer["datasets"][0]["reasons"][-1]
    assert "gender" in answer["datasets"][0]["reasons"][-1]

    dataset_policies.set_dataset_policy(actor=owner, dataset=credit, max_parity_difference=0.9)
    answer = evaluate(principal=requester, urns=[credit.urn], purpose="training")
    assert answer["allowed"] and "within 0.9" in answer["datasets"][0]["reasons"][-1]


def test_bias_condition_without_sensitive_columns_refuses(owner, requester, make_dataset, add_version):
    plain = make_dataset("internal")
    add_version(plain, credit_csv(50))
    dataset_policies.set_dataset_policy(actor=owner, dataset=plain, max_parity_difference=0.1)
    answer = evaluate(principal=requester, urns=[plain.urn], purpose="training")
    assert not answer["allowed"] and "no bias figures" in answer["datasets"][0]["reasons"][-1]


def test_a_profile_that_breaks_a_condition_is_audited_and_told(
    owner, steward, requester, credit, add_version, django_capture_on_commit_callbacks
):
    from django.core import mail

    from governance.models import AuditRecord

    dataset_policies.set_dataset_policy(actor=owner, dataset=credit, max_parity_difference=0.05)
    with django_capture_on_commit_callbacks(execute=True):
        req = access_requests.create_access_request(
            actor=requester, datasets=[credit.urn], purpose="analysis", justification="x"
        )
    access_requests.approve_access_request(actor=steward, request=req)
    mail.outbox.clear()
    add_version(credit, credit_csv(400, bias=0.3))
    rec = AuditRecord.objects.get(action="policy.condition_failed")
    assert rec.object_urns == [credit.urn] and rec.after["version"] == 1 and rec.via == "system"
    sent = [m for m in mail.outbox if "policy condition failed" in m.subject]
    assert len(sent) == 1 and {owner.email, steward.email, requester.email} <= set(sent[0].to)
    assert "demographic parity difference" in sent[0].body


def test_a_profile_without_conditions_records_nothing(make_dataset, add_version):
    from governance.models import AuditRecord

    plain = make_dataset("internal")
    add_version(plain, credit_csv(30))
    assert not AuditRecord.objects.filter(action="policy.condition_failed").exists()


def test_an_empty_suite_is_no_quality_result(owner, steward, requester, credit, add_version):
    """QA G13: a steward emptied the suite, the re-run "passed" with zero expectations."""
    from profiling import suites as profiling_services

    dataset_policies.set_dataset_policy(actor=owner, dataset=credit, require_quality_pass=True)
    profiling_services.save_suite(actor=steward, dataset=credit, expectations=[])
    add_version(credit, credit_csv(80))
    answer = evaluate(principal=requester, urns=[credit.urn], purpose="training")
    assert not answer["allowed"] and "has no quality result" in answer["datasets"][0]["reasons"][-1]


def test_stewards_tighten_a_policy_only_the_owner_or_staff_relax_it(owner, steward, staff, credit):
    """QA G13: as with sensitivity, a steward alone must not undo the owner's conditions."""
    from config.errors import NotAllowed
    from governance.models import DatasetPolicy

    dataset_policies.set_dataset_policy(
        actor=steward, dataset=credit, require_quality_pass=True, max_approval_days=30
    )
    dataset_policies.set_dataset_policy(
        actor=steward, dataset=credit, max_approval_days=10, max_parity_difference=0.1
    )
    for relax in (
        {"require_quality_pass": False},
        {"max_approval_days": 20},
        {"max_approval_days": None},
        {"max_parity_difference": 0.2},
        {"max_parity_difference": None},
    ):
        with pytest.raises(NotAllowed, match="owner or staff may relax"):
            dataset_policies.set_dataset_policy(actor=steward, dataset=credit, **relax)
    policy = DatasetPolicy.objects.get(dataset=credit)
    assert (policy.require_quality_pass, policy.max_approval_days, policy.max_parity_difference) == (
        True,
        10,
        0.1,
    )
    dataset_policies.set_dataset_policy(actor=owner, dataset=credit, max_approval_days=None)
    dataset_policies.set_dataset_policy(actor=staff, dataset=credit, require_quality_pass=False)
    policy.refresh_from_db()
    assert (policy.require_quality_pass, policy.max_approval_days) == (False, None)


@pytest.mark.django_db(transaction=True)
def test_a_policy_is_set_in_a_transaction_of_its_own(owner, credit):
    """Outside any caller's transaction (a view in autocommit): select_for_update needs the service's."""
    dataset_policies.set_dataset_policy(actor=owner, dataset=credit, require_quality_pass=True)
