from django.apps import AppConfig


class ProfilingConfig(AppConfig):
    name = "profiling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # receivers: queue a profile job whenever the catalog stores a version.
        # tasks: registered in every process (web included), since profiling.jobs sends the profile
        # job by its registered name rather than importing the task module.
        from profiling import receivers, tasks  # noqa: F401
        from profiling.facets import register_quality_facet

        # The search page's "Quality" facet, registered here rather than as a side effect of
        # importing a module that happens to be loaded.
        register_quality_facet()
