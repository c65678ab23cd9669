"""``manage.py load_demo``: a catalog that is not empty on the first screen (idempotent).

Demo users, datasets with versions (profiled as they arrive), lineage, access requests and a model:
the data is built in config/demo/, one module per app, through the apps' services.

Demo users share one password and are refused outside DEBUG (``--force`` to override), so that
the command cannot plant known logins in production.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.demo.catalog import DATASETS, load_dataset
from config.demo.governance import load_governance
from config.demo.lineage import load_lineage
from config.demo.monitoring import load_monitoring
from config.demo.sources import load_sources
from config.demo.users import DEMO_PASSWORD, USERS, load_users, token_of


class Command(BaseCommand):
    help = "Load demo users, datasets (with versions), lineage, a model and access requests. Idempotent."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="load even with DEBUG off (demo logins share a password)"
        )
        parser.add_argument("--quiet-logins", action="store_true", help="do not print logins and tokens")

    def handle(self, *args, force: bool = False, quiet_logins: bool = False, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off: the demo users have a published password. Use --force if you mean it."
            )
        users = load_users()
        datasets = {spec.name: load_dataset(spec, users, self.stdout.write) for spec in DATASETS}
        load_sources(users, self.stdout.write)
        load_lineage(users["admin"])
        load_governance(users, datasets, self.stderr.write)
        load_monitoring(users, datasets, self.stderr.write)
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded: {len(datasets)} datasets."))
        if not quiet_logins:
            self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
            for u in USERS:
                self.stdout.write(f"  {u.username:<14} API token {token_of(users[u.username])}   {u.role}")
