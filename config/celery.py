"""The Celery app, importable as ``config.celery:app`` so that ``celery -A config worker`` starts a worker."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("gouvernail")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
