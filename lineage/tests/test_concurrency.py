"""Concurrent posting against a live server: stored events == 2xx answers, nothing lost, no 5xx.

Threads post at once events that name the same new datasets and jobs (races on registration),
and the very same event several times (races on idempotency). Runs on SQLite and, with
DATABASE_URL=postgres://..., on PostgreSQL (marked test below).
"""

import json
import threading
import uuid

import pytest
import requests
from rest_framework.authtoken.models import Token

from catalog.models import Dataset
from lineage.models import LineageEvent, Node, Run
from lineage.tests.events import ds, facet, run_event

pytestmark = pytest.mark.django_db(transaction=True)


def _hammer(url: str, token: str, bodies: list[dict], threads: int) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(chunk):
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        barrier.wait()
        for body in chunk:
            r = session.post(f"{url}/api/v1/lineage", data=json.dumps(body), timeout=60)
            with lock:
                statuses.append(r.status_code)

    chunks = [bodies[i::threads] for i in range(threads)]
    pool = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return statuses


def _bodies(n_jobs: int, runs_per_job: int) -> list[dict]:
    bodies = []
    for j in range(n_jobs):
        # Every job reads the same shared sources (concurrent first registrations), in alternating
        # order and with a schema that changes from job to job (concurrent facet and catalog-column
        # writes on the same rows: no deadlock, no lost event).
        schema = facet(fields=[{"name": f"col_{j}", "type": "INT"}])
        shared = [ds("s3://lake", "shared/a", schema=schema), ds("s3://lake", "shared/b", schema=schema)]
        for r in range(runs_per_job):
            run_id = str(uuid.uuid4())
            for event_type in ("START", "COMPLETE"):
                bodies.append(
                    run_event(
                        f"job_{j}",
                        event_type=event_type,
                        run_id=run_id,
                        inputs=shared[:: 1 if j % 2 else -1] + [ds("s3://lake", f"in_{j}")],
                        outputs=[ds("s3://lake", f"out_{j % 3}")],
                        event_time=f"2026-01-10T10:{r:02d}:{'00' if event_type == 'START' else '30'}Z",
                    )
                )
    return bodies


def _check(live_server, owner, threads: int, n_jobs: int, runs_per_job: int):
    token = Token.objects.create(user=owner).key
    bodies = _bodies(n_jobs, runs_per_job)
    duplicate = run_event("dup", inputs=[ds("s3://lake", "shared/a")])
    bodies += [duplicate] * threads
    statuses = _hammer(live_server.url, token, bodies, threads)

    assert all(s < 500 for s in statuses), statuses
    assert statuses.count(201) == LineageEvent.objects.count()
    assert statuses.count(201) == len(bodies) - threads + 1  # every distinct event, once
    assert statuses.count(200) == threads - 1  # the retries of the duplicate
    assert Dataset.objects.filter(name__startswith="shared/").count() == 2
    assert Node.objects.filter(kind="JOB").count() == n_jobs + 1
    assert Run.objects.filter(state="COMPLETED").count() == n_jobs * runs_per_job + 1  # + dup
    answer = requests.get(
        f"{live_server.url}/api/v1/lineage",
        params={"nodeId": "dataset:s3://lake:shared/a", "direction": "downstream", "depth": 2},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    jobs = {n["id"] for n in answer["graph"] if n["type"] == "JOB"}
    assert jobs == {f"job:pipelines:job_{j}" for j in range(n_jobs)} | {"job:pipelines:dup"}


def test_concurrent_posting_counts_match(live_server, owner):
    _check(live_server, owner, threads=4, n_jobs=6, runs_per_job=3)


@pytest.mark.postgres
def test_concurrent_posting_counts_match_on_postgres(live_server, owner):
    _check(live_server, owner, threads=8, n_jobs=12, runs_per_job=5)
