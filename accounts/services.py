"""Users: creation, changes, roles, deactivation, password and two-factor enrolment; each change
audited in its own transaction."""

from collections.abc import Iterable

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.translation import gettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditAction
from audit.services import audit_changes, audit_record
from campaign.exceptions import ApplicationError, FieldError, ValidationFailed

EDITABLE_FIELDS = ("username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser")
TOTP_DEVICE_NAME = "Authenticator app"


def _fields(user: AbstractBaseUser) -> dict:
    return {name: getattr(user, name) for name in EDITABLE_FIELDS}


def _password_check(*, password: str, user: AbstractBaseUser) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        errors = [FieldError("password", message) for message in exc.messages]
        raise ValidationFailed(
            gettext("The password is too weak: %(reasons)s") % {"reasons": " ".join(exc.messages)},
            code="password_weak",
            errors=errors,
        ) from None


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str | None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    is_staff: bool = True,
    groups: Iterable[Group] = (),
) -> AbstractBaseUser:
    """A new user, with a password checked against the password policy (None: no password login)."""
    user_model = get_user_model()
    username = username.strip()
    if not username:
        raise ApplicationError(gettext("The username is required."), code="username_required")
    if user_model.objects.filter(username=username).exists():
        raise ApplicationError(
            gettext("The username %(name)s is taken.") % {"name": username}, code="username_taken"
        )
    user = user_model(
        username=username, email=email, first_name=first_name, last_name=last_name, is_staff=is_staff
    )
    if password is None:
        user.set_unusable_password()
    else:
        _password_check(password=password, user=user)
        user.set_password(password)
    user.save()
    group_names = sorted(group.name for group in groups)
    if group_names:
        user.groups.set(groups)
    audit_record(
        action=AuditAction.USER_CREATED,
        obj=user,
        after={**_fields(user), "groups": group_names, "password_login": password is not None},
    )
    return user


@transaction.atomic
def user_update(*, user: AbstractBaseUser, **changes) -> AbstractBaseUser:
    """Change the user's name, email and status flags (not the password, not the roles)."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError(
            gettext("Cannot change %(fields)s here.") % {"fields": ", ".join(sorted(unknown))},
            code="not_editable",
        )
    locked = type(user).objects.select_for_update().get(pk=user.pk)
    before = _fields(locked)
    for name, value in changes.items():
        setattr(user, name, value)
    after = _fields(user)
    before, after = audit_changes(before=before, after=after)
    if not after:
        return user
    user.save(update_fields=list(after))
    audit_record(action=AuditAction.USER_CHANGED, obj=user, before=before, after=after)
    return user


@transaction.atomic
def user_groups_set(*, user: AbstractBaseUser, groups: Iterable[Group]) -> AbstractBaseUser:
    """Give the user exactly these role groups."""
    groups = list(groups)
    before = sorted(user.groups.values_list("name", flat=True))
    after = sorted(group.name for group in groups)
    if before == after:
        return user
    user.groups.set(groups)
    audit_record(
        action=AuditAction.USER_GROUPS_CHANGED, obj=user, before={"groups": before}, after={"groups": after}
    )
    return user


@transaction.atomic
def user_deactivate(*, user: AbstractBaseUser) -> AbstractBaseUser:
    """The user can no longer log in; what it did stays attributed to it."""
    updated = type(user).objects.filter(pk=user.pk, is_active=True).update(is_active=False)
    if not updated:
        raise ApplicationError(
            gettext("%(name)s is already inactive.") % {"name": user}, code="already_inactive"
        )
    user.is_active = False
    audit_record(
        action=AuditAction.USER_DEACTIVATED, obj=user, before={"is_active": True}, after={"is_active": False}
    )
    return user


@transaction.atomic
def user_password_set(*, user: AbstractBaseUser, password: str | None) -> AbstractBaseUser:
    """A new password, checked against the password policy (None: password login disabled). The
    audit entry says that it changed, never what it is."""
    if password is None:
        user.set_unusable_password()
    else:
        _password_check(password=password, user=user)
        user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(
        action=AuditAction.USER_PASSWORD_CHANGED, obj=user, after={"password_login": password is not None}
    )
    return user


def user_totp_device(*, user: AbstractBaseUser) -> TOTPDevice:
    """The authenticator the user is enrolling: its pending (unconfirmed) device, created once."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


@transaction.atomic
def user_totp_confirm(*, device: TOTPDevice, token: str) -> TOTPDevice:
    """Finish the enrolment with a code of the app: from now on the user gives a code at login."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
    if device.confirmed:
        raise ApplicationError(gettext("This authenticator is already enrolled."), code="already_confirmed")
    if not device.verify_token((token or "").strip().replace(" ", "")):
        raise ApplicationError(
            gettext("The code is not valid: type the 6 digits the app shows now."), code="token_invalid"
        )
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=device.user, confirmed=False).delete()
    audit_record(action=AuditAction.USER_TWO_FACTOR_ENABLED, obj=device.user, after={"two_factor": True})
    return device


@transaction.atomic
def user_totp_remove(*, user: AbstractBaseUser) -> int:
    """Remove the user's authenticators: it logs in with its password alone again."""
    removed, _ = TOTPDevice.objects.filter(user=user).delete()
    if removed:
        audit_record(
            action=AuditAction.USER_TWO_FACTOR_DISABLED,
            obj=user,
            before={"two_factor": True},
            after={"two_factor": False},
        )
    return removed
