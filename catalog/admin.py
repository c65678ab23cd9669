from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from catalog import services
from catalog.models import Column, Dataset, DatasetVersion, Tag
from config.errors import Conflict, NotAllowed


class ColumnInline(admin.TabularInline):
    """Read-only here: columns are documented through the API or the web UI."""

    model = Column
    extra = 0
    fields = ["name", "type", "description", "is_pii", "present"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    """Edits go through catalog.services, like the API's, so ownership, stewardship and sensitivity
    changes made here are checked and sent as dataset_changed (governance audits them, via "admin")."""

    list_display = ["namespace", "name", "owner", "sensitivity", "domain", "origin", "updated_at"]
    list_filter = ["sensitivity", "origin", "domain"]
    search_fields = ["namespace", "name", "title"]
    filter_horizontal = ["stewards", "tags"]
    inlines = [ColumnInline]
    # A URN is an identity other records refer to: not renamed here.
    readonly_fields = ["namespace", "name", "origin", "search_text"]

    def has_add_permission(self, request):
        return False  # datasets are registered through the API or the web UI (audited there)

    def save_model(self, request, obj, form, change):
        data = {}
        for field in form.changed_data:
            if field not in services.EDITABLE_FIELDS:
                continue
            value = form.cleaned_data[field]
            if field == "owner":
                value = value.get_username() if value else None
            elif field == "stewards":
                value = [u.get_username() for u in value]
            elif field == "tags":
                value = [t.name for t in value]
            data[field] = value
        try:
            services.update_dataset(actor=request.user, dataset=obj, via="admin", **data)
        except (ValidationError, NotAllowed) as exc:
            self.message_user(
                request, f"Not saved: {' '.join(getattr(exc, 'messages', [str(exc)]))}", messages.ERROR
            )
            return

    def save_related(self, request, form, formsets, change):
        # Stewards and tags were set by update_dataset (audited); the form's own m2m save would
        # bypass it, and must not apply them when the service refused the change.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        try:
            services.delete_dataset(actor=request.user, dataset=obj, via="admin")
        except (Conflict, NotAllowed) as exc:
            self.message_user(request, f"Not deleted: {exc}", messages.ERROR)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    """Read-only: a version's bytes, checksum and profile are what model cards cite."""

    list_display = ["dataset", "number", "format", "size_bytes", "profile_status", "created_at"]
    list_filter = ["format", "profile_status"]
    readonly_fields = ["checksum", "size_bytes"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(Tag)
