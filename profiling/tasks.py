"""The profile job. Thin: takes a run id, calls profiling.runner and profiling.jobs, owns retries and
limits.

* ``acks_late`` + ``reject_on_worker_lost``: a worker that dies mid-job leaves the message to be
  delivered again; the run's lease (jobs.claim_run) makes that redelivery redo an interrupted
  job once and skip a finished one.
* Time limits come from settings (PROFILING_SOFT_TIME_LIMIT, PROFILING_TIME_LIMIT): the soft one
  fails the job with a message, the hard one kills its process (then the attempt cap applies).
* Only transient errors (database, storage I/O) are retried, with backoff; bad input fails at once.
"""

import gc
import logging

from celery import shared_task
from celery.exceptions import TimeLimitExceeded
from celery.signals import task_failure, worker_init, worker_ready
from django.conf import settings

from profiling import jobs, part_jobs, runner

logger = logging.getLogger(__name__)

MAX_TRANSIENT_RETRIES = 5
# A profile job's task and its parts' alike: redelivered when a worker dies (the lease decides who
# works), the deployment's time limits, a few retries of transient errors.
JOB_TASK = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "soft_time_limit": getattr(settings, "PROFILING_SOFT_TIME_LIMIT", 3600),
    "time_limit": getattr(settings, "PROFILING_TIME_LIMIT", 3720),
    "max_retries": MAX_TRANSIENT_RETRIES,
    "ignore_result": True,
}


@shared_task(name="profiling.profile_version", **JOB_TASK)
def profile_version(self, run_id: int) -> str:
    """Profile the dataset version of ProfileRun ``run_id``."""
    eager = bool(self.request.is_eager)
    try:
        # The limits this message carries (hard, soft), for the failure message.
        soft_limit = (getattr(self.request, "timelimit", None) or (None, None))[1]
        outcome = runner.execute_profile_run(
            run_id=run_id, heartbeat=not eager, soft_limit=soft_limit, split=part_jobs.plan_parts
        )
    except runner.TransientProfileError as exc:
        if eager or self.request.retries >= self.max_retries:
            jobs.fail_run(
                run_id=run_id,
                message=f"Profiling kept failing on a temporary error and gave up: {str(exc)[:300]}",
            )
            return "failed"
        logger.warning("profile run %s: transient error, retrying: %s", run_id, exc)
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc
    if outcome.retry_in is not None and not eager:
        # Another worker holds the job: look again when its lease would have run out, so that the
        # job is taken over if that worker died and skipped if it finished.
        raise self.retry(countdown=outcome.retry_in, max_retries=None)
    return outcome.state


@shared_task(name="profiling.profile_part", **JOB_TASK)
def profile_part(self, part_id: int) -> str:
    """Profile one part of a version profiled in parts (profiling.part_jobs); the last merges."""
    eager = bool(self.request.is_eager)
    try:
        outcome = part_jobs.execute_part(part_id=part_id, heartbeat=not eager)
    except runner.TransientProfileError as exc:
        if eager or self.request.retries >= self.max_retries:
            part_jobs.fail_part_run(
                part_id=part_id,
                message=f"Profiling kept failing on a temporary error and gave up: {str(exc)[:300]}",
            )
            return "failed"
        logger.warning("profile part %s: transient error, retrying: %s", part_id, exc)
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc
    if outcome.retry_in is not None and not eager:
        raise self.retry(countdown=outcome.retry_in, max_retries=None)
    return outcome.state


@shared_task(name="profiling.requeue_stale_runs", ignore_result=True)
def requeue_stale_runs() -> int:
    """Queue again jobs whose message may be lost (see jobs.requeue_stale_runs); beat runs it."""
    return len(jobs.requeue_stale_runs())


@worker_ready.connect(dispatch_uid="profiling.sweep_on_worker_start")
def sweep_on_worker_start(sender=None, **kwargs) -> None:
    """A worker starting is often one replacing a dead one: pick up what that one left."""
    if getattr(settings, "PROFILING_SWEEP_SECONDS", 0) <= 0:
        return
    from django.db import connection

    try:
        jobs.requeue_stale_runs()
    except Exception:  # a failed sweep must not stop the worker from starting
        logger.exception("start-up sweep of stale profile runs failed")
    finally:
        connection.close()  # the pool's processes open their own


@worker_init.connect(dispatch_uid="profiling.preload")
def preload(sender=None, **kwargs) -> None:
    """In the worker's main process, before the pool forks: import what every job needs (GX above
    all) and freeze it out of the garbage collector's walks (PROFILING_PRELOAD, config/settings.py).
    The pool's processes start with it loaded, shared copy-on-write."""
    if not getattr(settings, "PROFILING_PRELOAD", False):
        return
    try:
        from profiling import quality

        quality.preload()
    except Exception:  # a job imports what it needs anyway
        logger.exception("preloading the profiling job's modules failed")
    gc.freeze()


@task_failure.connect(sender=profile_version, dispatch_uid="profiling.fail_on_hard_time_limit")
def fail_on_hard_time_limit(sender=None, exception=None, args=None, kwargs=None, **extra) -> None:
    """The hard limit kills the job's process and acknowledges its message (it is not a lost
    worker), so nothing else would end the run: fail it here, in the worker's main process."""
    if not isinstance(exception, TimeLimitExceeded):
        return
    run_id = (args or [None])[0] if args else (kwargs or {}).get("run_id")
    if run_id is None:
        return
    from django.db import connection

    limit = (exception.args or [None])[0] or getattr(settings, "PROFILING_TIME_LIMIT", None)
    try:
        jobs.fail_run(
            run_id=run_id,
            message=f"Profiling was stopped at the hard time limit ({limit} s); the file may be too big "
            "for one job or the suite too costly.",
        )
    except Exception:  # the sweep and the attempt cap still end the run
        logger.exception("could not mark profile run %s failed after its hard time limit", run_id)
    finally:
        if not connection.in_atomic_block:
            connection.close()  # the main process must not keep a connection its children inherit


@shared_task(name="profiling.run_monitor", ignore_result=True)
def run_monitor(monitor_id: int) -> str:
    """Beat's entry for a monitor's cron schedule (profiling.monitors.run_scheduled)."""
    from profiling import monitors

    return monitors.run_scheduled(monitor_id)


@shared_task(name="profiling.monitor_sweep", ignore_result=True)
def monitor_sweep() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE): the freshness rules of the monitors that are due."""
    from profiling import monitors

    return monitors.sweep_freshness()
