"""Users of the OpenID provider: found by issuer and subject, created on first sight, groups mirrored.

Decisions (docs/operations.md "Single sign-on"):
- A user is found by (issuer, ``sub``) only. A new one is named after ``preferred_username``, else
  ``email``, else ``sub``; a name already taken by another account gets ``-`` and six hex digits of
  the subject's hash, so a provider account never takes over a local one of the same name.
- The groups claim is mirrored at each login: groups the provider names are created (marked as the
  provider's, ProviderGroup) and joined; the user leaves the provider's groups it no longer names.
  Local groups (not marked) are never touched, even when the claim names one. A login without the
  claim counts as no groups (with a warning in the log). An API token without the claim leaves the
  memberships as the last login set them (access tokens often carry no groups).
- A client-credentials token (its subject is the client) is a service account ``service-<client>``,
  created on first use with OIDC_SERVICE_ACCOUNTS=auto, else made beforehand in Django's admin.
"""

from __future__ import annotations

import hashlib
import logging
import re

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction

from config import oidc
from config.models import ProviderGroup, ProviderIdentity

logger = logging.getLogger(__name__)

_NOT_IN_USERNAME = re.compile(r"[^\w.@+-]")


class UnknownServiceAccount(Exception):
    """A client-credentials token of a client that has no service account (OIDC_SERVICE_ACCOUNTS=registered)."""


def _username(claims: dict, *, service: bool) -> str:
    if service:
        base = "service-" + str(claims.get("client_id") or claims.get("azp") or claims["sub"])
    else:
        base = str(claims.get("preferred_username") or claims.get("email") or claims["sub"])
    base = _NOT_IN_USERNAME.sub("_", base)[:140] or "user"
    model = get_user_model()
    if not model.objects.filter(username__iexact=base).exists():
        return base
    suffix = hashlib.sha256(f"{settings.OIDC_ISSUER}|{claims['sub']}".encode()).hexdigest()[:6]
    return f"{base}-{suffix}"


def _groups_seen(names: list[str]) -> str:
    return "\n".join(names)


@transaction.atomic
def mirror_groups(*, user: AbstractBaseUser, names: list[str]) -> None:
    """Makes the user's memberships in the provider's groups exactly ``names``; local groups stay."""
    wanted = set(names)
    existing = {g.name: g for g in Group.objects.filter(name__in=wanted).select_related("provider_group")}
    for name in wanted - existing.keys():
        group, _ = Group.objects.get_or_create(name=name)
        ProviderGroup.objects.get_or_create(group=group)
        existing[name] = Group.objects.select_related("provider_group").get(pk=group.pk)
    local = sorted(n for n, g in existing.items() if not hasattr(g, "provider_group"))
    if local:
        logger.warning("the provider names local groups %s for %s: not mirrored", local, user.get_username())
    current = {g.name: g for g in user.groups.filter(provider_group__isnull=False)}
    user.groups.add(*[g for n, g in existing.items() if n not in local and n not in current])
    user.groups.remove(*[g for n, g in current.items() if n not in wanted])


@transaction.atomic
def user_for_claims(*, claims: dict, from_login: bool) -> AbstractBaseUser:
    """The user of a verified token's (or login's) claims: found, or created, with its groups mirrored.

    Raises UnknownServiceAccount for a client that may not have its account made on first use.
    """
    service = oidc.is_client_token(claims)
    identity = (
        ProviderIdentity.objects.select_related("user")
        .filter(issuer=settings.OIDC_ISSUER, subject=str(claims["sub"]))
        .first()
    )
    names = oidc.group_names(claims)
    if names is None and from_login and not service:
        logger.warning(
            "no %r claim for %s: treated as no groups (see OIDC_GROUPS_CLAIM in docs/operations.md)",
            settings.OIDC_GROUPS_CLAIM,
            claims.get("preferred_username") or claims["sub"],
        )
        names = []
    if identity is None:
        if service and settings.OIDC_SERVICE_ACCOUNTS != "auto":
            raise UnknownServiceAccount(
                "This client has no service account here; an administrator must register it."
            )
        user = get_user_model().objects.create_user(
            username=_username(claims, service=service),
            email="" if service else str(claims.get("email") or "")[:254],
            first_name="" if service else str(claims.get("given_name") or "")[:150],
            last_name="" if service else str(claims.get("family_name") or "")[:150],
        )
        identity = ProviderIdentity.objects.create(
            user=user, issuer=settings.OIDC_ISSUER, subject=str(claims["sub"]), is_service=service
        )
    elif from_login:
        user = identity.user
        email = str(claims.get("email") or "")[:254]
        if email and email != user.email:
            user.email = email
            user.save(update_fields=["email"])
    user = identity.user
    if names is not None and _groups_seen(names) != identity.groups_seen:
        mirror_groups(user=user, names=names)
        identity.groups_seen = _groups_seen(names)
        identity.save(update_fields=["groups_seen"])
    return user


def groups_unchanged(identity: ProviderIdentity, claims: dict) -> bool:
    """Whether an API token's groups need no mirroring: no groups claim, or the groups last mirrored."""
    names = oidc.group_names(claims)
    return names is None or _groups_seen(names) == identity.groups_seen
