"""Settings read from the environment: with DEBUG off, a bad set-up stops start-up with a clear message.

Each case starts a fresh interpreter (``django.setup()``) with only the given environment, as a
server process would start.
"""

import secrets

import pytest

SETUP = "import django; django.setup(); from django.conf import settings; print('STARTED', settings.DEBUG)"
STRONG_KEY = secrets.token_urlsafe(64)


@pytest.fixture
def env(tmp_path):
    """The environment of a production start, minus what each test takes away."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "GOUVERNAIL_VAR_DIR": str(tmp_path),
        "DEBUG": "0",
        "SECRET_KEY": STRONG_KEY,
        "ALLOWED_HOSTS": "catalog.example.org",
    }


def test_production_environment_starts(run_python, env):
    result = run_python(SETUP, env)
    assert result.returncode == 0, result.stderr
    assert "STARTED False" in result.stdout


def test_nothing_set_is_the_embedded_default_with_debug_on(run_python, tmp_path):
    code = (
        SETUP + "; print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL, "
        "settings.CELERY_TASK_ALWAYS_EAGER)"
    )
    result = run_python(
        code, {"DJANGO_SETTINGS_MODULE": "config.settings", "GOUVERNAIL_VAR_DIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    assert "STARTED True" in result.stdout
    engine, broker, eager = result.stdout.split("\n")[1].split()
    assert engine == "django.db.backends.sqlite3"
    # A broker that needs no server, and tasks really queued (a worker runs them), not run inline.
    assert broker.startswith(("filesystem://", "sqla+sqlite://")) and eager == "False"


@pytest.mark.parametrize(
    "key",
    [
        None,  # missing
        "",
        "changeme",
        "x" * 60,  # long but one character repeated
        "django-insecure-gouvernail-embedded-default-key-do-not-use-in-production",
    ],
    ids=["missing", "empty", "short", "repetitive", "the-embedded-default"],
)
def test_debug_off_with_a_missing_or_weak_secret_key_stops_start_up(run_python, env, key):
    if key is None:
        del env["SECRET_KEY"]
    else:
        env["SECRET_KEY"] = key
    result = run_python(SETUP, env)
    assert result.returncode != 0
    assert "STARTED" not in result.stdout
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY" in result.stderr


@pytest.mark.parametrize("hosts", [None, ""], ids=["missing", "empty"])
def test_debug_off_without_allowed_hosts_stops_start_up(run_python, env, hosts):
    if hosts is None:
        del env["ALLOWED_HOSTS"]
    else:
        env["ALLOWED_HOSTS"] = hosts
    result = run_python(SETUP, env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "ALLOWED_HOSTS" in result.stderr


def test_database_and_broker_come_from_the_environment(run_python, env):
    env.update(
        DATABASE_URL="postgres://gv:pw@db.internal:5432/gouvernail",
        CELERY_BROKER_URL="redis://cache.internal:6379/0",
        REDIS_URL="redis://cache.internal:6379/1",
    )
    code = (
        SETUP + "; d = settings.DATABASES['default']; "
        "print(d['ENGINE'], d['HOST'], d['NAME'], settings.CELERY_BROKER_URL, "
        "settings.CACHES['default']['BACKEND'])"
    )
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[1].split() == [
        "django.db.backends.postgresql",
        "db.internal",
        "gouvernail",
        "redis://cache.internal:6379/0",
        "config.cache.ResilientRedisCache",  # Django's RedisCache, degrading while Redis is down
    ]


def test_static_files_are_served_by_whitenoise_in_production(run_python, env):
    code = SETUP + "; print(settings.STORAGES['staticfiles']['BACKEND'], settings.MIDDLEWARE[1])"
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[1].split() == [
        "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    ]


def test_production_serves_static_files_itself(run_python, env, tmp_path):
    """collectstatic, then the WSGI app itself (no separate web server) serves a hashed, compressed
    admin stylesheet with a far-future cache header, as gunicorn would."""
    env["STATIC_ROOT"] = str(tmp_path / "static")
    code = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('collectstatic', interactive=False, verbosity=0)\n"
        "from django.templatetags.static import static\n"
        "from django.test import Client\n"
        "url = static('admin/css/base.css')\n"
        "r = Client(HTTP_HOST='catalog.example.org').get(url, HTTP_ACCEPT_ENCODING='gzip')\n"
        "print(url, r.status_code, r.headers.get('Content-Encoding'), r.headers.get('Cache-Control'))\n"
    )
    result = run_python(code, env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    url, status, encoding, cache = result.stdout.strip().split("\n")[-1].split(" ", 3)
    assert url != "/static/admin/css/base.css" and url.endswith(".css")  # a hashed name
    assert status == "200" and encoding == "gzip"
    assert "max-age=315360000" in cache and "immutable" in cache


def test_deploy_check_is_clean_for_an_https_production_environment(run_python, env):
    env.update(
        SECURE_SSL_REDIRECT="1",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        SECURE_HSTS_PRELOAD="1",
    )
    code = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('check', '--deploy', '--fail-level', 'WARNING')\n"
    )
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize(("value", "mode"), [(None, "sync"), ("deferred", "deferred"), ("sync", "sync")])
def test_lineage_apply_comes_from_the_environment(run_python, env, value, mode):
    if value is not None:
        env["LINEAGE_APPLY"] = value
    result = run_python(SETUP + "; print('MODE', settings.LINEAGE_APPLY)", env)
    assert result.returncode == 0, result.stderr
    assert f"MODE {mode}" in result.stdout


def test_a_bad_lineage_apply_stops_start_up(run_python, env):
    env["LINEAGE_APPLY"] = "later"
    result = run_python(SETUP, env)
    assert result.returncode != 0
    assert "LINEAGE_APPLY must be sync or deferred" in result.stderr


@pytest.mark.parametrize(("value", "queue"), [(None, "celery"), ("lineage", "lineage")])
def test_the_fold_task_goes_to_the_queue_named_by_the_environment(run_python, env, value, queue):
    if value is not None:
        env["LINEAGE_FOLD_QUEUE"] = value
    code = (
        SETUP + "\nfrom config.celery import app\nimport lineage.tasks\n"
        "print('QUEUE', app.amqp.router.route({}, 'lineage.fold_pending')['queue'].name)\n"
        "print('OTHER', app.amqp.router.route({}, 'profiling.run_profile')['queue'].name)\n"
    )
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"QUEUE {queue}" in result.stdout and "OTHER celery" in result.stdout


BACKENDS = (
    SETUP + "; print('BACKENDS', ' '.join(b.rsplit('.', 1)[1] for b in settings.AUTHENTICATION_BACKENDS))"
)


@pytest.mark.parametrize(
    ("oidc_env", "password_login"),
    [
        ({}, True),  # nothing set: local login exactly as before
        ({"OIDC_LOCAL_LOGIN": "false"}, True),  # cannot switch passwords off without a provider
        ({"OIDC_ISSUER": "https://sso.example.org", "OIDC_CLIENT_ID": "gv"}, True),
        (
            {"OIDC_ISSUER": "https://sso.example.org", "OIDC_CLIENT_ID": "gv", "OIDC_LOCAL_LOGIN": "false"},
            False,
        ),
    ],
    ids=["none", "local-off-without-issuer", "sso", "sso-only"],
)
def test_password_login_follows_the_oidc_settings(run_python, env, oidc_env, password_login):
    result = run_python(BACKENDS, {**env, **oidc_env})
    assert result.returncode == 0, result.stderr
    assert ("ModelBackend" in result.stdout) is password_login
    assert "ProviderBackend" in result.stdout


@pytest.mark.parametrize(
    ("oidc_env", "message"),
    [
        ({"OIDC_ISSUER": "https://sso.example.org"}, "set OIDC_CLIENT_ID"),
        ({"OIDC_ALGORITHMS": "RS256,HS256"}, "OIDC_ALGORITHMS may list only"),
        ({"OIDC_SERVICE_ACCOUNTS": "sometimes"}, "OIDC_SERVICE_ACCOUNTS must be"),
    ],
    ids=["issuer-without-client", "hmac-algorithm", "bad-service-accounts"],
)
def test_a_bad_oidc_setting_stops_start_up(run_python, env, oidc_env, message):
    result = run_python(SETUP, {**env, **oidc_env})
    assert result.returncode != 0
    assert message in result.stderr
