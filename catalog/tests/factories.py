import factory
from django.contrib.auth import get_user_model

from catalog.models import Dataset


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")


class DatasetFactory(factory.django.DjangoModelFactory):
    """A dataset row. Tests of behaviour create datasets through catalog.services instead."""

    class Meta:
        model = Dataset

    namespace = "s3://lake"
    name = factory.Sequence(lambda n: f"warehouse/table_{n}")
    owner = factory.SubFactory(UserFactory)

    @factory.post_generation
    def stewards(self, create, extracted, **kwargs):
        if create and extracted:
            self.stewards.set(extracted)
