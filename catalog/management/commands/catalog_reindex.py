"""Rebuild the search index of every dataset (after a bulk load or a restore)."""

from django.core.management.base import BaseCommand

from catalog.search_index import rebuild_index


class Command(BaseCommand):
    help = "Rebuild the full-text search index (PostgreSQL tsvector or SQLite FTS5) of every dataset."

    def handle(self, *args, **options):
        count = rebuild_index()
        self.stdout.write(f"Indexed {count} datasets.")
