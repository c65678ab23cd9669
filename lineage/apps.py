from django.apps import AppConfig


class LineageConfig(AppConfig):
    name = "lineage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the fold task with Celery in every process: lineage.fold queues it by name (the
        # task module imports the folder, so the folder cannot import it).
        from lineage import tasks  # noqa: F401
