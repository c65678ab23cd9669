"""What profiling registers when Django starts (ProfilingConfig.ready()), in a fresh process as a web
server starts: the Celery tasks that profiling.jobs sends by name, and the search page's facet."""

import os
import subprocess
import sys

import pytest

from catalog.search_facets import EXTRA_FACETS
from profiling import facets

CODE = (
    "import sys, django\n"
    "django.setup()\n"
    "from celery import current_app\n"
    "from catalog.search_facets import EXTRA_FACETS\n"
    "print('profiling.profile_version' in current_app.tasks, 'quality' in EXTRA_FACETS,\n"
    "      'profiling.views' in sys.modules)\n"
)


def test_a_starting_process_registers_the_job_task_and_the_quality_facet():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    # Registered at start-up, not as a side effect of loading the web pages.
    assert out.stdout.split() == ["True", "True", "False"]


@pytest.mark.django_db
def test_the_registered_facet_is_profilings():
    facet = EXTRA_FACETS["quality"]
    assert (facet.param, facet.label) == ("quality", "Quality")
    assert facet.counts is facets.quality_counts and facet.apply is facets.quality_filter
