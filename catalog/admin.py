from django.contrib import admin

from catalog.models import Column, Dataset, DatasetVersion, Tag


class ColumnInline(admin.TabularInline):
    model = Column
    extra = 0
    fields = ["name", "type", "description", "is_pii", "present"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["namespace", "name", "owner", "sensitivity", "domain", "origin", "updated_at"]
    list_filter = ["sensitivity", "origin", "domain"]
    search_fields = ["namespace", "name", "title"]
    filter_horizontal = ["stewards", "tags"]
    inlines = [ColumnInline]
    readonly_fields = ["search_text"]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    list_display = ["dataset", "number", "format", "size_bytes", "profile_status", "created_at"]
    list_filter = ["format", "profile_status"]
    readonly_fields = ["checksum", "size_bytes"]


admin.site.register(Tag)
