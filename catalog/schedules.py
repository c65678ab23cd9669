"""Cron schedules kept as django-celery-beat PeriodicTasks: one home for every object that runs on a
schedule of its own (a source's scans, catalog.sources; a dataset's monitor, profiling.monitors).

Beat's DatabaseScheduler reads the PeriodicTask table, so an object's schedule is one row there,
written in the same transaction as the object (a rollback takes both back). The object keeps a
OneToOne to its row; ``keep_periodic_task`` creates, updates or deletes that row and says which it
is now, and the caller stores the link.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError


def check_cron(expr: str, *, field: str = "schedule") -> str:
    """A 5-field cron expression (minute hour day-of-month month day-of-week), normalised to single
    spaces, or ValidationError naming ``field``."""
    from celery.schedules import ParseException, crontab_parser

    if not isinstance(expr, str):
        raise ValidationError({field: ["A 5-field cron expression as text, e.g. '0 3 * * *'."]})
    fields = expr.split()
    if len(fields) != 5:
        raise ValidationError({field: ["Give 5 cron fields: minute hour day-of-month month day-of-week."]})
    limits = [(60, 0), (24, 0), (31, 1), (12, 1), (7, 0)]
    for value, (size, start) in zip(fields, limits, strict=True):
        try:
            crontab_parser(size, start).parse(value)
        except (ParseException, ValueError, IndexError) as exc:
            raise ValidationError({field: [f"'{value}' is not a valid cron field: {exc}"]}) from None
    return " ".join(fields)


def keep_periodic_task(
    current: Any,
    *,
    name: str,
    task: str,
    args: list[Any],
    cron: str,
    description: str = "",
):
    """Make beat's entry ``name`` run ``task(*args)`` on ``cron`` → the PeriodicTask, or None when
    ``cron`` is empty (``current``, the entry the caller links to, is then deleted).

    ``cron`` must have passed ``check_cron``. Call it inside the transaction that saves the owner of
    the schedule, and store the returned row on it when it differs from ``current``."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    if not cron:
        if current is not None:
            current.delete()
        return None
    minute, hour, day_of_month, month_of_year, day_of_week = cron.split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=settings.TIME_ZONE,
    )
    entry = current
    if entry is None:
        # A row left by an owner deleted without its entry (or a name taken over): reuse it.
        entry = PeriodicTask.objects.filter(name=name).first() or PeriodicTask(name=name)
    entry.task = task
    entry.crontab = crontab
    entry.interval = None
    entry.args = json.dumps(args)
    entry.enabled = True
    entry.description = description[:1000]
    entry.save()
    return entry
