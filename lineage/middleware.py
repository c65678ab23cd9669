"""Tell a client when a lineage read did not wait for every event posted before it."""

import time

from lineage import fold


class LineagePendingHeaderMiddleware:
    """``X-Lineage-Pending: N`` on an answer built from a graph that N events posted before the
    request had not reached yet: the view folds pending events for at most
    LINEAGE_READ_FOLD_SECONDS (``fold.catch_up_for_read``), then answers rather than keep the client
    waiting on a backlog (the worker folds the rest). Absent when the answer is current.

    It also notes when the request began: the budget counts from there, so the time the request
    spent before its view (the other middleware, authentication) is not added on top of it. First
    of the middleware after WhiteNoise for that reason."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = fold.behind.set(0)
        started = fold.request_started.set(time.monotonic())
        try:
            response = self.get_response(request)
            left = fold.behind.get()
        finally:
            fold.request_started.reset(started)
            fold.behind.reset(token)
        if left:
            response["X-Lineage-Pending"] = str(left)
        return response
