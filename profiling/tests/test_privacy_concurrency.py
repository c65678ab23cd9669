"""Two first requests for a version's private release at the same moment spend its budget once:
the budget row's lock (SELECT ... FOR UPDATE on PostgreSQL, the database's write lock on SQLite)
makes the second wait and find the stored release.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_dp .venv/bin/pytest profiling/tests/test_privacy_concurrency.py
"""

import threading

import pytest
from django.db import connection

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from profiling import privacy_budget
from profiling.models import PrivacyBudget, PrivateRelease
from profiling.tests.factories import credit_csv

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_first_requests_make_one_release_and_spend_once(owner, steward, outsider, make_user, data_root):
    dataset = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="race/dp",
        stewards=[steward.username],
        sensitivity="restricted",
    )
    path = data_root / "race.csv"
    path.write_text(credit_csv(300))
    version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
    version.refresh_from_db()
    assert version.profile_run.status == "succeeded"
    privacy_budget.set_bounds(
        actor=steward, dataset=dataset, columns=[{"column": "age", "lower": 18, "upper": 80}]
    )
    privacy_budget.set_budget(actor=steward, version=version, epsilon_total=5, epsilon_per_release=1)
    other = make_user("other-outsider")
    answers: list[int] = []
    barrier = threading.Barrier(2)

    def ask(user) -> None:
        try:
            barrier.wait()
            outcome = privacy_budget.obtain_release(actor=user, version=version)
            answers.append(outcome.release.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(u,)) for u in (outsider, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == 2 and answers[0] == answers[1]
    assert PrivateRelease.objects.filter(version=version).count() == 1
    assert PrivacyBudget.objects.get(version=version).epsilon_spent == pytest.approx(1.0)
