"""``manage.py audit_anchor``: append the audit chain's signed head to AUDIT_ANCHOR_PATH now."""

from django.core.management.base import BaseCommand

from governance import audit_anchor


class Command(BaseCommand):
    help = (
        "Write the audit chain's head (sequence and hash), signed, to the anchor file outside the database."
    )

    def handle(self, *args, **options):
        anchor = audit_anchor.write_anchor()
        if anchor is None:
            self.stdout.write("The audit chain is empty: nothing to anchor.")
        else:
            self.stdout.write(
                f"Anchored seq={anchor.seq} hash={anchor.hash[:16]}... in {audit_anchor.anchor_path()}"
            )
