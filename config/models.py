"""The project's own tables: who a user is at the OpenID provider, and which groups the provider manages."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models


class ProviderIdentity(models.Model):
    """A Django user as the OpenID provider knows them: its issuer and subject (``sub``).

    Users are found by this pair, never by username or e-mail: a provider account whose
    ``preferred_username`` equals a local account's name must not take that account over. A service
    account (``is_service``) is the user of a pipeline's client-credentials tokens, where the subject
    is the client.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_identity"
    )
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    is_service = models.BooleanField(default=False)
    # The provider's group names last mirrored (sorted, joined): the API mirrors only on a change.
    groups_seen = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="provider_identity_unique")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class ProviderGroup(models.Model):
    """Marks a Django group as the provider's: memberships in it follow the groups claim at each login.

    Groups without this mark are local: the provider neither adds anyone to them nor removes anyone.
    """

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="provider_group")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.group.name
