"""The MLflow sync endpoints and jobs: staff only, 409 without a tracking URI, one job at a time
(a job another worker holds is not run twice), the job's counts, and beat's schedule."""

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from governance import mlflow_jobs
from governance.models import MlflowSync
from governance.tests.mlflow_store import frame, log_model

pytestmark = pytest.mark.django_db

URL = "/api/v1/integrations/mlflow/sync"


@pytest.fixture
def mlflow_uri(tmp_path, settings):
    settings.MLFLOW_TRACKING_URI = f"sqlite:///{tmp_path}/mlflow.db"
    return settings.MLFLOW_TRACKING_URI


def test_staff_sync_answers_202_and_the_job_tells_what_it_did(
    mlflow_uri, staff, api_client_for, django_capture_on_commit_callbacks
):
    log_model(mlflow_uri, "churn", [(frame(), "s3://nowhere/churn.csv", None)])
    client = api_client_for(staff)
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(URL)
    assert r.status_code == 202, r.content
    job = client.get(f"{URL}/{r.json()['id']}").json()
    assert job["status"] == "succeeded" and job["requested_by"] == staff.username
    assert (job["seen"], job["created"], job["unchanged"], job["unknown_inputs"]) == (1, 1, 0, 1)

    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"{URL}/").json()
    job = client.get(f"{URL}/{again['id']}/").json()
    assert (job["seen"], job["created"], job["unchanged"]) == (1, 0, 1)


def test_only_staff_sync_and_without_a_tracking_uri_it_is_unavailable(settings, owner, staff, api_client_for):
    settings.MLFLOW_TRACKING_URI = "sqlite:////nonexistent/mlflow.db"
    assert api_client_for(owner).post(URL).status_code == 403
    assert api_client_for(owner).get(f"{URL}/1").status_code == 403
    settings.MLFLOW_TRACKING_URI = ""
    r = api_client_for(staff).post(URL)
    assert r.status_code == 409
    assert "MLFLOW_TRACKING_URI" in r.json()["detail"]
    assert not MlflowSync.objects.exists()


def test_a_job_held_by_another_worker_runs_once(mlflow_uri, staff):
    job = mlflow_jobs.request_sync(actor=staff)
    MlflowSync.objects.filter(pk=job.pk).update(
        status="running", heartbeat_at=timezone.now(), claim_token="x"
    )
    assert mlflow_jobs.run_job(job.pk) == ""  # another worker holds the lease
    assert mlflow_jobs.request_sync(actor=None, trigger="schedule").pk == job.pk  # one at a time
    MlflowSync.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timezone.timedelta(hours=1))
    assert mlflow_jobs.run_job(job.pk) == "succeeded"  # its worker died: taken over
    assert mlflow_jobs.run_job(job.pk) == ""  # a message delivered twice does the work once


def test_the_schedule_follows_mlflow_sync_cron(mlflow_uri, settings):
    settings.MLFLOW_SYNC_CRON = "*/15  * * * *"
    mlflow_jobs.keep_schedule()
    entry = PeriodicTask.objects.get(name="mlflow-sync")
    assert entry.task == "governance.request_mlflow_sync" and entry.crontab.minute == "*/15"
    settings.MLFLOW_SYNC_CRON = ""
    mlflow_jobs.keep_schedule()
    assert not PeriodicTask.objects.filter(name="mlflow-sync").exists()


def test_the_model_page_shows_the_mlflow_origin_and_unknown_data(settings, tmp_path, owner, client):
    from governance import mlflow_sync
    from governance.models import ModelVersion

    settings.MLFLOW_TRACKING_URI = f"sqlite:///{tmp_path}/mlflow.db"
    log_model(settings.MLFLOW_TRACKING_URI, "churn<script>", [(frame(), "s3://nowhere/churn.csv", None)])
    mlflow_sync.sync()
    mv = ModelVersion.objects.get()
    client.force_login(owner)
    page = client.get(f"/models/{mv.pk}/").content.decode()
    assert "MLflow origin" in page and mv.mlflow_origin.run_id in page
    assert "unknown data" in page and "No catalogued dataset is at &#x27;s3://nowhere/churn.csv&#x27;" in page
    assert "Trained on unknown data" in page and "churn&lt;script&gt;" in page and "churn<script>" not in page
    card = client.get(f"/api/v1/models/{mv.pk}/card").json()
    assert card["mlflow"]["unknown_data"][0]["source_type"] == "s3"
