"""``manage.py verify_audit``: walk the audit chain; exit non-zero naming the first broken record."""

from django.core.management.base import BaseCommand, CommandError

from governance import audit, audit_anchor
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
        try:
            anchor = audit_anchor.latest_anchor()
        except audit_anchor.AnchorError as exc:
            raise CommandError(f"Audit anchor cannot be trusted: {exc}") from None
        count = AuditRecord.objects.count()
        if anchor is None:
            self.stderr.write(
                f"no audit anchor at {audit_anchor.anchor_path()}: the removal of the newest records or of "
                "the whole chain cannot be detected (run `manage.py audit_anchor`, or let beat do it)"
            )
        else:
            problem = audit_anchor.check_against_anchor(anchor)
            if problem:
                raise CommandError(f"Audit chain does not match its anchor: {problem}")
        anchored = f", anchored up to seq={anchor.seq} at {anchor.at}" if anchor else ", no anchor"
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {count} record(s) verified{anchored}."))
