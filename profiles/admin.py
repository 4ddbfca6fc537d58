from django.contrib import admin

from .models import Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["__str__", "email", "mobile_phone", "external_id", "language", "modified_at"]
    search_fields = ["email", "mobile_phone", "external_id", "first_name", "last_name"]
    list_filter = ["language"]
    readonly_fields = ["created_at", "modified_at"]
