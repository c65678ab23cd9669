"""``manage.py verify_audit``: walk the audit chain; exit non-zero naming the first broken record."""

from django.core.management.base import BaseCommand, CommandError

from governance import audit
from governance.models import AuditRecord


class Command(BaseCommand):
    help = (
        "Check the audit chain's hashes and sequence; fail on the first record that was altered or removed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all", action="store_true", help="List every inconsistency, not only the first."
        )

    def handle(self, *args, **options):
        breaks = list(audit.iter_breaks()) if options["all"] else [b for b in [audit.first_break()] if b]
        if breaks:
            for b in breaks:
                self.stderr.write(f"audit record seq={b.seq} (id {b.record_id}): {b.reason}")
            first = breaks[0]
            raise CommandError(
                f"Audit chain broken at record seq={first.seq} (id {first.record_id}): {first.reason}"
            )
        count = AuditRecord.objects.count()
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {count} record(s) verified."))
