"""The Celery app, importable as ``config.celery:app`` so that ``celery -A config worker`` starts a worker."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Arrow's allocator (mimalloc) hands freed memory back to the system 100 ms after it is freed. At
# once (0) kept the peak lowest but cost the pass 15-20 % of its time in page faults: 5M rows of the
# 10M-row reference Parquet file on one core, medians of three, 9.85 s at once, 8.28 s after 100 ms,
# peak RSS 368 and 398 MiB (mimalloc's own 10 ms: 380 MiB); 100M rows with a stored suite on two
# workers peaked at 580 and 683 MiB after 100 ms (674 and 550 at once), within the 1 GiB a worker
# may take (docs/benchmarks.md). Set here, before anything imports pyarrow; the environment may
# override it.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "100")

app = Celery("gouvernail")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
