"""The profile CSV columns (django-import-export resource): how a row is read, checked and compared
with the stored profile, and how a profile is written out. docs/formats.md lists the columns.

The resource only checks: it never writes. `profiles.imports` stages what it found and writes the
confirmed rows itself, in one transaction.
"""

import re
import zoneinfo
from datetime import datetime
from decimal import Decimal
from functools import cache

from django.core.exceptions import ValidationError
from django.db.models.functions import Lower
from django.utils.translation import gettext
from import_export import fields, resources, widgets
from import_export.instance_loaders import BaseInstanceLoader
from import_export.results import RowResult

from .models import AttributeType, ImportKey, ImportRowAction, Profile, Service, Subscription
from .selectors import (
    PROFILE_FIELDS,
    address_hash,
    attribute_definitions,
    attribute_value_parse,
    suppressed_hashes,
)

ATTRIBUTE_PREFIX = "attributes."
SUBSCRIPTIONS_COLUMN = "subscriptions"
# Service names in the subscriptions column are separated by this character.
SUBSCRIPTIONS_SEPARATOR = "|"
PROFILE_COLUMNS = PROFILE_FIELDS
E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")
# A cell a spreadsheet would run as a formula (CSV injection): exported behind a quote, which an
# import takes off again. Numbers and phone numbers are left as they are.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER_RE = re.compile(r"^[+-]?\d+(\.\d+)?$")


def cell_escape(text: str) -> str:
    if text.startswith(FORMULA_START) and not NUMBER_RE.match(text) and not E164_RE.match(text):
        return "'" + text
    return text


def cell_unescape(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def import_key_normalize(*, key: str, value: str) -> str:
    """A key as profiles are matched by it: email addresses regardless of case."""
    value = (value or "").strip()
    return value.lower() if key == ImportKey.EMAIL else value


def attribute_json(value: object) -> object:
    """A typed attribute value as the profile's JSON holds it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class TextWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return "" if value is None else cell_unescape(str(value).strip())

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else cell_escape(str(value))


class MomentWidget(widgets.Widget):
    """A date and time in ISO 8601 (2026-12-24T18:30:00Z); empty for none."""

    def clean(self, value, row=None, **kwargs):
        return attribute_value_parse(type=AttributeType.DATETIME, value=(value or "").strip())

    def render(self, value, obj=None, **kwargs):
        return value.isoformat() if value else ""


class AttributeField(fields.Field):
    """One declared custom attribute, `attributes.<name>`, typed by its declaration."""

    def __init__(self, *, name: str, type: str):
        self.name, self.type = name, type
        column = f"{ATTRIBUTE_PREFIX}{name}"
        super().__init__(attribute=column, column_name=column, widget=TextWidget())

    def clean(self, row, **kwargs):
        return attribute_value_parse(
            type=self.type, value=cell_unescape((row.get(self.column_name) or "").strip())
        )

    def save(self, instance, row, is_m2m=False, **kwargs):
        value = self.clean(row)
        attributes = dict(instance.attributes or {})
        if value is None:
            attributes.pop(self.name, None)
        else:
            attributes[self.name] = attribute_json(value)
        instance.attributes = attributes

    def get_value(self, instance):
        return (instance.attributes or {}).get(self.name) if isinstance(instance.attributes, dict) else None

    def export(self, instance, **kwargs):
        value = self.get_value(instance)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return cell_escape(str(value))


class SubscriptionsField(fields.Field):
    """The subscription services the profile is subscribed to, by name, separated by `|`. An
    import adds the subscriptions it lists (source: import) and never removes one; a profile that
    left a service stays unsubscribed."""

    def __init__(self, *, services: dict[str, int], stored: dict[int, set[str]]):
        self.services = services
        # Profile id -> the services it has a subscription to (active or left), read by the
        # instance loader for the rows being checked.
        self.stored = stored
        super().__init__(
            attribute=SUBSCRIPTIONS_COLUMN, column_name=SUBSCRIPTIONS_COLUMN, widget=TextWidget()
        )

    def clean(self, row, **kwargs):
        names = [name.strip() for name in (row.get(self.column_name) or "").split(SUBSCRIPTIONS_SEPARATOR)]
        names = sorted({name for name in names if name})
        unknown = [name for name in names if name not in self.services]
        if unknown:
            raise ValueError(
                gettext("Unknown subscription service {names} (known: {known}).").format(
                    names=", ".join(unknown), known=", ".join(sorted(self.services)) or gettext("none yet")
                )
            )
        return names

    def save(self, instance, row, is_m2m=False, **kwargs):
        instance._import_subscriptions = self.clean(row)

    def get_value(self, instance):
        stored = self.stored.get(instance.pk, set())
        return sorted(stored | set(getattr(instance, "_import_subscriptions", [])))

    def export(self, instance, **kwargs):
        if instance.pk is None:
            return ""
        return SUBSCRIPTIONS_SEPARATOR.join(
            sorted(
                subscription.service.name
                for subscription in instance.subscriptions.all()
                if subscription.unsubscribed_at is None
            )
        )


class ProfileKeyLoader(BaseInstanceLoader):
    """The stored profiles of a chunk of rows, in one query, by the import key (email regardless of
    case); when several profiles share a key the oldest is taken, as targeting does."""

    def __init__(self, resource, dataset=None):
        super().__init__(resource, dataset)
        key = resource.key
        self.profiles: dict[str, Profile] = {}
        if dataset is None or key not in (dataset.headers or []):
            return
        values = {import_key_normalize(key=key, value=value) for value in dataset[key]} - {""}
        queryset = Profile.objects.order_by("pk")
        if key == ImportKey.EMAIL:
            queryset = queryset.annotate(match=Lower("email")).filter(match__in=values)
        else:
            queryset = queryset.filter(**{f"{key}__in": values})
        for profile in queryset:
            self.profiles.setdefault(import_key_normalize(key=key, value=getattr(profile, key)), profile)
        stored = resource.stored_subscriptions
        stored.clear()
        for profile_id, service in Subscription.objects.filter(
            profile__in=[profile.pk for profile in self.profiles.values()]
        ).values_list("profile_id", "service__name"):
            stored.setdefault(profile_id, set()).add(service)

    def get_instance(self, row):
        return self.profiles.get(
            import_key_normalize(key=self.resource.key, value=row.get(self.resource.key))
        )


class _NoDiff:
    def __init__(self, resource, instance, new):
        pass

    def compare_with(self, resource, instance):
        pass

    def as_html(self):
        return []


class ProfileResource(resources.ModelResource):
    """Profiles as CSV rows. `key` is the column rows are matched by (upsert). Used for export as
    is; for import, `import_data(..., dry_run=True)` checks a chunk of rows and leaves in `checked`
    what each row would do."""

    class Meta:
        model = Profile
        fields = PROFILE_COLUMNS
        import_order = PROFILE_COLUMNS
        export_order = PROFILE_COLUMNS
        instance_loader_class = ProfileKeyLoader
        skip_unchanged = True
        report_skipped = True
        skip_html_diff = True
        store_instance = True
        clean_model_instances = True
        # Rows are only checked (save_instance writes nothing): no savepoint per row, which would
        # cost two round trips each.
        use_bulk = True

    def __init__(self, *, key: str = ImportKey.EMAIL, **kwargs):
        super().__init__(**kwargs)
        self.key = key
        self._meta.import_id_fields = [key]
        for name in PROFILE_COLUMNS:
            widget = MomentWidget() if name.endswith("_opted_out_at") else TextWidget()
            self.fields[name] = fields.Field(attribute=name, column_name=name, widget=widget)
        services = dict(Service.objects.values_list("name", "pk"))
        self.stored_subscriptions: dict[int, set[str]] = {}
        self.fields[SUBSCRIPTIONS_COLUMN] = SubscriptionsField(
            services=services, stored=self.stored_subscriptions
        )
        for name, type_ in attribute_definitions().items():
            column = f"{ATTRIBUTE_PREFIX}{name}"
            self.fields[column] = AttributeField(name=name, type=type_)
        self.checked: list[dict] = []
        self._suppressed: set[str] = set()

    def get_diff_class(self):
        # The preview lists the columns a row changes (see import_row); the HTML diff of every
        # field, which reads each field twice per row, is not needed.
        return _NoDiff

    def get_export_order(self):
        return tuple(self.fields)

    def get_import_order(self):
        return tuple(self.fields)

    def get_export_queryset(self):
        return Profile.objects.prefetch_related("subscriptions__service").order_by("pk")

    def iter_queryset(self, queryset):
        # Rows are read a thousand at a time with their subscriptions, never the whole table.
        return queryset.prefetch_related("subscriptions__service").iterator(chunk_size=1000)

    # -- import: check only ------------------------------------------------------------------

    def before_import(self, dataset, **kwargs):
        """Read once per chunk which of its addresses are suppressed (erased profiles)."""
        hashes = []
        for column, channel in (("email", "email"), ("mobile_phone", "sms")):
            if column in (dataset.headers or []):
                hashes += [address_hash(channel=channel, address=value) for value in dataset[column] if value]
        self._suppressed = suppressed_hashes(hashes=hashes)

    def _suppressed_reason(self, row) -> str:
        for column, channel, label in (
            ("email", "email", gettext("email")),
            ("mobile_phone", "sms", gettext("mobile phone")),
        ):
            value = (row.get(column) or "").strip()
            if value and address_hash(channel=channel, address=value) in self._suppressed:
                return gettext(
                    "Skipped: this {label} belongs to an erased profile and may not be imported again."
                ).format(label=label)
        return ""

    def import_instance(self, instance, row, **kwargs):
        problems = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            problems = exc.message_dict
        phone = instance.mobile_phone
        if phone and not E164_RE.match(phone):
            problems["mobile_phone"] = gettext("Expected a phone number in E.164, e.g. +33612345678.")
        if instance.time_zone and instance.time_zone not in _time_zones():
            problems["time_zone"] = gettext("Unknown time zone (expected e.g. Europe/Paris).")
        if problems:
            raise ValidationError(problems)

    def save_instance(self, instance, is_create, row, **kwargs):
        """Never written here: profiles.imports writes the confirmed rows."""

    def save_m2m(self, instance, row, **kwargs):
        """Never written here (see save_instance)."""

    def import_row(self, row, instance_loader, **kwargs):
        key_value = import_key_normalize(key=self.key, value=row.get(self.key))
        number = kwargs["row_number"]
        if not key_value:
            column = self.fields[self.key].column_name
            return self._check(
                number,
                key_value,
                ImportRowAction.INVALID,
                problems=[
                    {
                        "column": column,
                        "problem": gettext("Empty: rows are matched to profiles by this column."),
                    }
                ],
            )
        reason = self._suppressed_reason(row)
        if reason:
            return self._check(
                number, key_value, ImportRowAction.SKIPPED, problems=[{"column": "", "problem": reason}]
            )
        result = super().import_row(row, instance_loader, **kwargs)
        if result.import_type == RowResult.IMPORT_TYPE_INVALID:
            order = {column: position for position, column in enumerate(row)}
            problems = [
                {"column": "" if column == "__all__" else column, "problem": message}
                for column, messages in sorted(
                    result.validation_error.message_dict.items(), key=lambda item: order.get(item[0], -1)
                )
                for message in messages
            ]
            self._check(number, key_value, ImportRowAction.INVALID, problems=problems)
        elif result.import_type == RowResult.IMPORT_TYPE_ERROR:
            problems = [{"column": "", "problem": str(error.error)} for error in result.errors]
            self._check(number, key_value, ImportRowAction.INVALID, problems=problems)
        else:
            action = {
                RowResult.IMPORT_TYPE_NEW: ImportRowAction.NEW,
                RowResult.IMPORT_TYPE_UPDATE: ImportRowAction.UPDATE,
            }.get(result.import_type, ImportRowAction.UNCHANGED)
            instance, original = result.instance, result.original
            changes = (
                [
                    column
                    for column in row
                    if column in self.fields
                    and (original is None or column != self.key)
                    and (
                        original is None
                        or self.fields[column].get_value(instance) != self.fields[column].get_value(original)
                    )
                ]
                if action != ImportRowAction.UNCHANGED
                else []
            )
            if action == ImportRowAction.UPDATE and not changes:
                # Only the key's case differs: the stored profile already holds the row.
                action = ImportRowAction.UNCHANGED
            self._check(number, key_value, action, data=self._data(instance, row), changes=changes)
        return result

    def _data(self, instance, row) -> dict:
        """The row's cleaned values, by column, for the columns the file has."""
        data = {}
        for column in row:
            field = self.fields.get(column)
            if field is None:
                continue
            if isinstance(field, SubscriptionsField):
                data[column] = getattr(instance, "_import_subscriptions", [])
            elif isinstance(field, AttributeField):
                data[column] = field.get_value(instance)
            else:
                data[column] = getattr(instance, field.attribute)
        return data

    def _check(self, number, key, action, *, data=None, changes=(), problems=()):
        self.checked.append(
            {
                "number": number,
                "key": key,
                "action": action,
                "data": data or {},
                "changes": list(changes),
                "problems": list(problems),
            }
        )
        result = RowResult()
        result.import_type = RowResult.IMPORT_TYPE_SKIP
        return result
