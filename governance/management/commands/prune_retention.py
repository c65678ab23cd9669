"""``python manage.py prune_retention``: prune what is past its retention age now (see
governance.retention; the beat task does the same in bounded runs)."""

from django.core.management.base import BaseCommand

from governance.retention import prune_all


class Command(BaseCommand):
    help = "Prune lineage events, superseded profiles and event deliveries past their retention settings."

    def handle(self, *args, **options):
        counts = prune_all()
        self.stdout.write(self.style.SUCCESS(", ".join(f"{k}: {v} pruned" for k, v in counts.items())))
