"""``python manage.py lineage_rebuild``: rebuild the derived graph from the stored events."""

from django.core.management.base import BaseCommand

from lineage import fold


class Command(BaseCommand):
    help = "Rebuild jobs, runs, edges and column lineage from the stored OpenLineage events."

    def handle(self, *args, **options):
        count = fold.rebuild_graph()
        self.stdout.write(self.style.SUCCESS(f"Replayed {count} events."))
