"""Admin views of lineage: for looking, not editing. The record is append-only and the graph is
derived from it (``manage.py lineage_rebuild``), so nothing here adds, changes or deletes rows."""

from django.contrib import admin

from lineage.models import LineageEvent, Node, Run


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LineageEvent)
class LineageEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "event_type", "job_key", "run_id", "event_time", "received_at", "state"]
    # "failed" lists the events the graph refused, each with its reason (error).
    list_filter = ["state", "kind", "event_type", "deferred"]
    search_fields = ["job_key", "run_id"]
    date_hierarchy = "received_at"


@admin.register(Node)
class NodeAdmin(ReadOnlyAdmin):
    list_display = ["key", "kind", "dataset_id", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["key"]


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["run_id", "job", "state", "started_at", "ended_at"]
    list_filter = ["state"]
    search_fields = ["run_id", "job__key"]
    list_select_related = ["job"]
