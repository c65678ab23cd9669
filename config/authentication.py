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
from config.models import ProviderIdentity


@cache
def _with_user_sql(model, *where: str) -> tuple[str, list[str], list[str]]:
    """One statement that reads a row of ``model`` (a Token, a ProviderIdentity) and its user, by the
    ``where`` columns → (sql, the row's field names, the user's field names)."""
    user_model = get_user_model()
    row_fields = [f.attname for f in model._meta.concrete_fields]
    user_fields = [f.attname for f in user_model._meta.concrete_fields]
    cols = [f't."{model._meta.get_field(a).column}"' for a in row_fields]
    cols += [f'u."{user_model._meta.get_field(a).column}"' for a in user_fields]
    conditions = " AND ".join(f't."{model._meta.get_field(w).column}" = %s' for w in where)
    sql = (
        f"SELECT {', '.join(cols)} FROM {model._meta.db_table} t"  # noqa: S608 -- model metadata only
        f" JOIN {user_model._meta.db_table} u ON u.{user_model._meta.pk.column} = t.user_id WHERE {conditions}"
    )
    return sql, row_fields, user_fields


def _read_with_user(model, *values, where: tuple[str, ...]):
    """(row, its user) read by one prepared-once statement, or None."""
    sql, row_fields, user_fields = _with_user_sql(model, *where)
    with connection.cursor() as cur:
        cur.execute(sql, list(values))
        found = cur.fetchone()
    if found is None:
        return None
    n = len(row_fields)
    user = get_user_model().from_db(connection.alias, user_fields, found[n:])
    row = model.from_db(connection.alias, row_fields, found[:n])
    row.user = user
    return row


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
            identity = _read_with_user(
                ProviderIdentity, settings.OIDC_ISSUER, str(claims["sub"]), where=("issuer", "subject")
            )
            if identity is not None and oidc_users.groups_unchanged(identity, claims):
                user = identity.user  # the usual case: one statement, no write
            else:
                user = oidc_users.user_for_claims(claims=claims, from_login=False)
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
        token = _read_with_user(Token, key, where=("key",))
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Token realm="api", Bearer realm="api"'
