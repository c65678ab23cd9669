"""The Celery app, importable as ``config.celery:app`` so that ``celery -A config worker`` starts a worker."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Arrow's allocator (mimalloc) hands the memory of freed batches back to the system at once rather
# than after its default delay: pandas and numpy allocate elsewhere (malloc), so pages mimalloc kept
# were added to theirs. Measured on a profile part of 6.25M rows: peak RSS 415 → 364 MiB; the
# native quality suite over kept columns: 945 → 728 MiB (docs/benchmarks.md, 100M rows). Set here,
# before anything imports pyarrow; the environment may still override it.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")

app = Celery("gouvernail")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
