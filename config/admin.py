"""Admin pages for single sign-on: provider identities (service accounts are registered here) and groups."""

from django.contrib import admin

from config.models import ProviderGroup, ProviderIdentity


@admin.register(ProviderIdentity)
class ProviderIdentityAdmin(admin.ModelAdmin):
    list_display = ("user", "subject", "issuer", "is_service", "created_at")
    list_filter = ("is_service",)
    search_fields = ("user__username", "subject")


@admin.register(ProviderGroup)
class ProviderGroupAdmin(admin.ModelAdmin):
    list_display = ("group", "created_at")
