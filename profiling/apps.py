from django.apps import AppConfig


class ProfilingConfig(AppConfig):
    name = "profiling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Queue a profile job whenever the catalog stores a version.
        from profiling import receivers  # noqa: F401
