"""Locale-aware filters (Babel) of the templates, with the message's locale: format_date,
format_datetime, format_number, format_currency and format_percent. The sandbox registers
LOCALE_FILTERS with every environment.
"""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache, wraps

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from jinja2 import Undefined, pass_context

DEFAULT_LOCALE = "en"
LOCALE_VAR = "mc_locale"


def _keeps_missing(func):
    """A missing value goes through the filter unchanged, so that printing it applies the
    message's missing-value policy (fail, empty or default) instead of a formatting error."""

    @wraps(func)
    def wrapper(context, value, *args, **kwargs):
        if value is None or isinstance(value, Undefined):
            return value
        return func(context, value, *args, **kwargs)

    return wrapper


@lru_cache(maxsize=256)
def _babel_locale(code: str) -> Locale:
    # Parsing a locale code costs more than formatting the value: once per locale per process.
    return Locale.parse(code)


def _locale(context) -> Locale:
    return _babel_locale(context.get(LOCALE_VAR) or DEFAULT_LOCALE)


def _as_decimal(value) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    # Event data is untrusted: 1e999999999 would be written out as a billion digits.
    if not number.is_finite() or abs(number.adjusted()) > 30:
        raise ValueError(f"{str(value)[:40]!r} is not a number in the usual range")
    return number


def _as_datetime(value) -> datetime | date:
    if isinstance(value, datetime | date):
        return value
    try:
        text = str(value).strip()
        return datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO 8601 date (e.g. 2026-12-24 or 2026-12-24T18:30:00Z)"
        ) from None


@pass_context
@_keeps_missing
def format_date(context, value, format="medium"):
    moment = _as_datetime(value)
    day = moment.date() if isinstance(moment, datetime) else moment
    return babel_dates.format_date(day, format=format, locale=_locale(context))


@pass_context
@_keeps_missing
def format_datetime(context, value, format="medium", tz=None):
    moment = _as_datetime(value)
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    zone = babel_dates.get_timezone(tz) if tz else None
    return babel_dates.format_datetime(moment, format=format, tzinfo=zone, locale=_locale(context))


@pass_context
@_keeps_missing
def format_number(context, value, format=None):
    return babel_numbers.format_decimal(_as_decimal(value), format=format, locale=_locale(context))


@pass_context
@_keeps_missing
def format_currency(context, value, currency="EUR", format=None):
    return babel_numbers.format_currency(
        _as_decimal(value), str(currency).upper(), format=format, locale=_locale(context)
    )


@pass_context
@_keeps_missing
def format_percent(context, value, format=None):
    return babel_numbers.format_percent(_as_decimal(value), format=format, locale=_locale(context))


LOCALE_FILTERS = {
    "format_date": format_date,
    "format_datetime": format_datetime,
    "format_number": format_number,
    "format_currency": format_currency,
    "format_percent": format_percent,
}
