"""Provider-token benchmark: what checking an OpenID provider's JWT adds to an API request.

The same endpoint (GET /api/v1/datasets/) through the whole Django stack in this process (Django's
test Client), with a DRF token and with a provider access token (RS256, the provider's keys cached),
requests interleaved so that both see the same load. Prints p50/p95 of each, the p95 difference
(target: at most 1 ms) and the load average. The provider is tests/oidc_provider.py on loopback.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_oidc REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/oidc_token_bench.py --repeat 2000

Defaults: an SQLite file in a temporary folder and the in-process cache. A PostgreSQL database must
exist (createdb); the script migrates it.
"""

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, _Server  # noqa: E402

provider = Provider()
_Server(provider).start()

os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='gv-oidc-bench-')}/bench.sqlite3")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["OIDC_ISSUER"] = provider.url
os.environ["OIDC_CLIENT_ID"] = CLIENT_ID
os.environ["OIDC_CLIENT_SECRET"] = CLIENT_SECRET
os.environ["API_WRITE_RATE"] = ""

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

URL = "/api/v1/datasets/"


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-drf")
    drf_key = Token.objects.get_or_create(user=user)[0].key
    person = provider.add_user("bench-sso", groups=["bench-team"])
    jwt_token = provider.access_token(person, ttl=3600)

    client = Client()
    drf = {"HTTP_AUTHORIZATION": f"Bearer {drf_key}"}
    sso = {"HTTP_AUTHORIZATION": f"Bearer {jwt_token}"}
    for headers in (drf, sso) * 50:  # warm-up: the keys fetched and parsed, the user created once
        assert client.get(URL, **headers).status_code == 200
    fetches = provider.jwks_fetches

    times: dict[str, list[float]] = {"drf": [], "jwt": []}
    for _ in range(args.repeat):
        for name, headers in (("drf", drf), ("jwt", sso)):
            start = time.perf_counter()
            response = client.get(URL, **headers)
            times[name].append(time.perf_counter() - start)
            assert response.status_code == 200, response.content
    assert provider.jwks_fetches == fetches, "the keys were fetched again during the run"

    # The check alone (signature, claims), without the request around it.
    from django.conf import settings

    from config import oidc

    checks = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        oidc.decode(jwt_token, audience=settings.OIDC_AUDIENCE)
        checks.append(time.perf_counter() - start)

    load = os.getloadavg()
    for name in ("drf", "jwt"):
        print(
            f"{name:>4}: p50 {pct(times[name], 50):.3f} ms  p95 {pct(times[name], 95):.3f} ms  (n={args.repeat})"
        )
    diff = pct(times["jwt"], 95) - pct(times["drf"], 95)
    print(
        f"provider JWT adds {diff:+.3f} ms at p95 (target <= 1 ms); ratio p95 jwt/drf {pct(times['jwt'], 95) / pct(times['drf'], 95):.2f}"
    )
    print(
        f"the token check alone (config.oidc.decode): p50 {pct(checks, 50):.3f} ms  p95 {pct(checks, 95):.3f} ms"
    )
    print(
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; database {os.environ['DATABASE_URL'].split(':')[0]}"
    )


if __name__ == "__main__":
    main()
