from django.contrib import admin
from django.utils.html import format_html

from .models import CapturedEmail


@admin.register(CapturedEmail)
class CapturedEmailAdmin(admin.ModelAdmin):
    list_display = ["created_at", "to", "subject", "from_email"]
    search_fields = ["to", "subject", "message_id"]
    fields = ["created_at", "from_email", "to", "subject", "message_id", "html_preview", "text", "raw"]
    readonly_fields = fields

    @admin.display(description="HTML")
    def html_preview(self, obj):
        if not obj.html:
            return "-"
        # A sandboxed frame: the email's HTML runs no script and cannot reach the admin.
        return format_html(
            '<iframe sandbox srcdoc="{}" style="width:100%;height:480px;border:1px solid #ccc;'
            'background:#fff" title="HTML content"></iframe>',
            obj.html,
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
