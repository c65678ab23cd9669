"""Signals governance sends about itself; governance/receivers.py subscribes to them.

Why a signal and not a call: the request services are what the periodic expiry task runs, and the
notifications are Celery tasks too, so a service that queued them itself would import the module
that imports it. The service announces the step; receivers.py queues what follows it.
"""

from django.dispatch import Signal

# One step of an access request was recorded (created, an approval, approved, rejected, revoked,
# withdrawn, expired), inside the transaction that made it.
#   event: AccessRequestEvent -- the step, with its request
# receivers.py queues the e-mails and the webhook once that transaction commits.
access_request_step = Signal()
