from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project itself, installed so that its management commands (load_demo) are found."""

    name = "config"
    verbose_name = "Gouvernail"
