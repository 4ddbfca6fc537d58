import json

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from campaign.admin_actions import ReadOnlyAdmin

from .models import AuditEntry
from .selectors import audit_csv_rows, audit_entries_for_export


class ObjectTypeFilter(admin.SimpleListFilter):
    title = _("object type")
    parameter_name = "object_type"

    def lookups(self, request, model_admin):
        types = AuditEntry.objects.order_by("object_type").values_list("object_type", flat=True).distinct()
        choices = []
        for label in types:
            try:
                name = apps.get_model(label)._meta.verbose_name
            except (LookupError, ValueError):
                name = label
            choices.append((label, str(name).capitalize()))
        return choices

    def queryset(self, request, queryset):
        return queryset.filter(object_type=self.value()) if self.value() else queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit log: read-only for everyone, filtered, exported as CSV (the filtered list)."""

    change_list_template = "admin/audit/auditentry/change_list.html"
    list_display = [
        "created_at",
        "actor_label",
        "source",
        "action",
        "object_type",
        "object_label",
        "ip_network",
    ]
    list_filter = [
        ("actor", admin.RelatedOnlyFieldListFilter),
        "action",
        ObjectTypeFilter,
        "source",
        "created_at",
    ]
    search_fields = ["object_label", "object_id", "actor_label"]
    date_hierarchy = "created_at"
    list_select_related = ["actor"]
    fields = [
        "created_at",
        "source",
        "actor",
        "actor_label",
        "actor_integration_id",
        "ip_network",
        "action",
        "object_type",
        "object_id",
        "object_label",
        "changes_display",
    ]
    readonly_fields = fields

    @admin.display(description=_("changes"))
    def changes_display(self, obj):
        changes = obj.changes or {}
        rows = []
        before, after = changes.get("before") or {}, changes.get("after") or {}
        for name in [*after, *(key for key in before if key not in after)]:
            rows.append((name, _value(before.get(name)), _value(after.get(name))))
        table = (
            format_html(
                "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
                _("field"),
                _("before"),
                _("after"),
                format_html_join(
                    "", "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>", rows
                ),
            )
            if rows
            else ""
        )
        diff = format_html_join(
            "",
            "<h4>{}</h4><pre class='audit-diff' style='white-space: pre-wrap; overflow-wrap: anywhere'>"
            "{}</pre>",
            (
                (
                    part["name"],
                    "\n".join(
                        {"added": "+ ", "removed": "- "}.get(line["kind"], "  ") + line["text"]
                        for line in part["lines"]
                    ),
                )
                for part in changes.get("diff") or []
            ),
        )
        return format_html("{}{}", table, diff) or "-"

    def get_urls(self):
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="audit_auditentry_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """The filtered list (same query string as the list) as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        rows = audit_csv_rows(entries=audit_entries_for_export(entries=changelist.get_queryset(request)))
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        name = f"audit-log-{timezone.now():%Y%m%d-%H%M%S}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


def _value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True)
