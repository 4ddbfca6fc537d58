from django.contrib import admin
from django.db import models
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from campaign.admin_actions import ReadOnlyAdmin

from .conditions import ConditionWidget
from .models import Contact, Typology, TypologyRule
from .services import typology_rule_save, typology_save

SIMULATE = "admin:messages_app_transactionalmessage_simulate"


@admin.register(TypologyRule)
class TypologyRuleAdmin(admin.ModelAdmin):
    formfield_overrides = {models.JSONField: {"widget": ConditionWidget}}
    list_display = ["label", "kind", "rule_type", "channel_label", "order", "active"]
    list_filter = ["active", "kind", "channel"]
    list_editable = ["order", "active"]
    search_fields = ["label", "description"]
    fieldsets = [
        (None, {"fields": ["label", "kind", "channel", "order", "active", "description"]}),
        (_("Excluded domains"), {"fields": ["domains"], "classes": ["collapse"]}),
        (_("Custom condition"), {"fields": ["condition"], "classes": ["collapse"]}),
        (_("SMS length"), {"fields": ["max_segments"], "classes": ["collapse"]}),
        (
            _("Fatigue"),
            {
                "fields": ["threshold", "threshold_field", "period", "period_unit", "category"],
                "classes": ["collapse"],
            },
        ),
    ]

    @admin.display(description=_("type"))
    def rule_type(self, obj):
        return obj.get_type_display()

    @admin.display(description=_("channel"), ordering="channel")
    def channel_label(self, obj):
        return obj.get_channel_display() if obj.channel else _("Every channel")

    def save_model(self, request, obj, form, change):
        typology_rule_save(rule=obj)


@admin.register(Typology)
class TypologyAdmin(admin.ModelAdmin):
    list_display = ["label", "name", "rule_count"]
    search_fields = ["label", "name"]
    prepopulated_fields = {"name": ["label"]}
    filter_horizontal = ["rules"]
    readonly_fields = ["rules_in_order", "simulations"]

    @admin.display(description=_("rules, in the order they run"))
    def rules_in_order(self, obj):
        rules = list(obj.rules.order_by("order", "pk")) if obj.pk else []
        if not rules:
            return _("No rule yet: choose them above.")
        return format_html(
            '<ol class="mc-rule-order">{}</ol>',
            format_html_join(
                "",
                '<li><a href="{}">{}</a> ({}, {}){}</li>',
                (
                    (
                        reverse("admin:typologies_typologyrule_change", args=[rule.pk]),
                        rule.label,
                        rule.get_type_display(),
                        rule.get_channel_display() if rule.channel else _("every channel"),
                        "" if rule.active else format_html(" <strong>{}</strong>", _("inactive")),
                    )
                    for rule in rules
                ),
            ),
        )

    @admin.display(description=_("simulate on a message"))
    def simulations(self, obj):
        messages = list(obj.messages.order_by("label")) if obj.pk else []
        if not messages:
            return _("No profile-based message uses this typology yet.")
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">{}</a>',
            (
                (
                    reverse("admin:messages_app_transactionalmessage_simulate", args=[message.pk]),
                    message.label,
                )
                for message in messages
            ),
        )

    @admin.display(description=_("rules"))
    def rule_count(self, obj):
        return obj.rules.count()

    def save_model(self, request, obj, form, change):
        typology_save(typology=obj)

    def save_related(self, request, form, formsets, change):
        typology_save(typology=form.instance, rules=list(form.cleaned_data["rules"]))
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    list_display = ["sent_at", "profile", "channel", "category", "source"]
    list_filter = ["channel", "category"]
    list_select_related = ["profile"]
    raw_id_fields = ["profile"]
    date_hierarchy = "sent_at"
