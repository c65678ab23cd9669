from django.contrib import admin

from profiling.models import ExpectationSuite, ProfileRun, QualityResult


class ReadOnlyAdmin(admin.ModelAdmin):
    """Profiles, suites and quality results are what model cards and clearance cite: read here,
    changed only by profiling's services."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ProfileRun)
class ProfileRunAdmin(ReadOnlyAdmin):
    list_display = ("dataset", "version_number", "status", "progress", "attempts", "finished_at")
    list_filter = ("status",)
    readonly_fields = ("claim_token", "heartbeat_at", "queued_at", "started_at", "finished_at")
    search_fields = ("dataset__name", "dataset__namespace")


@admin.register(ExpectationSuite)
class ExpectationSuiteAdmin(ReadOnlyAdmin):
    list_display = ("dataset", "name", "version", "origin", "updated_at")


@admin.register(QualityResult)
class QualityResultAdmin(ReadOnlyAdmin):
    list_display = ("dataset", "version_number", "success", "score", "created_at")
