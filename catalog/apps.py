from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """Datasets, owners, stewards, tags, sensitivity, columns, versions and search: the base app."""

    name = "catalog"
    verbose_name = "Catalog"
    default_auto_field = "django.db.models.BigAutoField"
