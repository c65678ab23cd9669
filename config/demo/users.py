"""The demo logins: four users sharing one published password, each with an API token."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

DEMO_PASSWORD = "gouvernail-demo"  # noqa: S105 - published on purpose; refused outside DEBUG


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    role: str
    is_staff: bool = False


USERS = [
    DemoUser("admin", "Ada", "staff admin (Django admin, every dataset)", is_staff=True),
    DemoUser("olivia_owner", "Olivia", "data owner of most datasets"),
    DemoUser("sam_steward", "Sam", "data steward (documents, approves access)"),
    DemoUser("dan_scientist", "Dan", "data scientist (requests access, trains models)"),
]


def load_users() -> dict:
    """{username: user} for every demo user, created with the demo password when missing."""
    User = get_user_model()
    out = {}
    for u in USERS:
        user, created = User.objects.get_or_create(
            username=u.username,
            defaults={
                "first_name": u.first_name,
                "email": f"{u.username}@example.org",
                "is_staff": u.is_staff,
                "is_superuser": u.is_staff,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        Token.objects.get_or_create(user=user)
        out[u.username] = user
    return out


def token_of(user) -> str:
    return Token.objects.get(user=user).key
