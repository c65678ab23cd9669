from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """Datasets, owners, stewards, tags, sensitivity, columns, versions and search: the base app."""

    name = "catalog"
    verbose_name = "Catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # tasks: registered in every process (web included): catalog.scans sends scans by the task's
        # registered name (the task module imports scans, so scans cannot import it).
        from catalog import tasks  # noqa: F401
