from django.contrib import admin

from profiling.models import ExpectationSuite, ProfileRun, QualityResult


@admin.register(ProfileRun)
class ProfileRunAdmin(admin.ModelAdmin):
    list_display = ("dataset", "version_number", "status", "progress", "attempts", "finished_at")
    list_filter = ("status",)
    readonly_fields = ("claim_token", "heartbeat_at", "queued_at", "started_at", "finished_at")
    search_fields = ("dataset__name", "dataset__namespace")


@admin.register(ExpectationSuite)
class ExpectationSuiteAdmin(admin.ModelAdmin):
    list_display = ("dataset", "name", "version", "origin", "updated_at")


@admin.register(QualityResult)
class QualityResultAdmin(admin.ModelAdmin):
    list_display = ("dataset", "version_number", "success", "score", "created_at")
