"""Tell a client when a lineage read did not wait for every event posted before it."""

from lineage import fold


class LineagePendingHeaderMiddleware:
    """``X-Lineage-Pending: N`` on an answer built from a graph that N events posted before the
    request had not reached yet: the view folds pending events for at most
    LINEAGE_READ_FOLD_SECONDS (``fold.catch_up_for_read``), then answers rather than keep the client
    waiting on a backlog (the worker folds the rest). Absent when the answer is current."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = fold.behind.set(0)
        try:
            response = self.get_response(request)
            left = fold.behind.get()
        finally:
            fold.behind.reset(token)
        if left:
            response["X-Lineage-Pending"] = str(left)
        return response
