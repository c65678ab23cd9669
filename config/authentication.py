"""API authentication. Kept apart from config.rest: DRF imports it while rest_framework.views loads."""

from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from config import oidc, oidc_users


@cache
def _token_sql() -> tuple[str, list[str], list[str]]:
    """One statement that reads a token and its user → (sql, token field names, user field names)."""
    user_model = get_user_model()
    token_fields = [f.attname for f in Token._meta.concrete_fields]
    user_fields = [f.attname for f in user_model._meta.concrete_fields]
    cols = [f't."{Token._meta.get_field(a).column}"' for a in token_fields]
    cols += [f'u."{user_model._meta.get_field(a).column}"' for a in user_fields]
    sql = (
        f"SELECT {', '.join(cols)} FROM {Token._meta.db_table} t"  # noqa: S608 -- model metadata only
        f" JOIN {user_model._meta.db_table} u ON u.{user_model._meta.pk.column} = t.user_id WHERE t.key = %s"
    )
    return sql, token_fields, user_fields


class BearerOrTokenAuthentication(TokenAuthentication):
    """DRF's token authentication accepting ``Bearer <key>`` too, as openlineage-python sends it.

    Every API request passes here, so the token and its user are read with one prepared-once SQL
    statement instead of a queryset compiled per request: the ORM's compilation cost more than the
    database's answer (bench/governance_clearance_bench.py, docs/benchmarks.md "Governance").
    The checks are DRF's: an unknown key or an inactive user is refused with DRF's messages.
    A Bearer value shaped as a JWT (three dot-separated parts; a DRF key has no dot) is an access
    token of the OpenID provider instead, checked by config/oidc.py.
    """

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        parts = header.split()
        if len(parts) == 2 and parts[0].lower() == "bearer":
            if oidc.looks_like_jwt(parts[1]):
                return self.authenticate_provider_token(parts[1])
            return self.authenticate_credentials(parts[1])
        return super().authenticate(request)

    def authenticate_provider_token(self, token: str):
        """An access token of the OpenID provider (config/oidc.py): every failure is a 401 that says why."""
        if not oidc.enabled():
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        try:
            claims = oidc.decode(token, audience=settings.OIDC_AUDIENCE)
            user = oidc_users.user_for_token(claims=claims)
        except oidc.InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        except oidc.ProviderUnavailable as exc:
            raise exceptions.AuthenticationFailed(
                _("The token cannot be checked: the OpenID provider's keys are unavailable.")
            ) from exc
        except oidc_users.UnknownServiceAccount as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, claims

    def authenticate_credentials(self, key):
        sql, token_fields, user_fields = _token_sql()
        with connection.cursor() as cur:
            cur.execute(sql, [key])
            row = cur.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        n = len(token_fields)
        user = get_user_model().from_db(connection.alias, user_fields, row[n:])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token.from_db(connection.alias, token_fields, row[:n])
        token.user = user
        return user, token

    def authenticate_header(self, request) -> str:
        return 'Token realm="api", Bearer realm="api"'
