from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django_otp import user_has_device

from campaign.roles import ADMINISTRATORS


def user_is_administrator(*, user: AbstractBaseUser) -> bool:
    return user.is_superuser or user.groups.filter(name=ADMINISTRATORS).exists()


def user_needs_two_factor_enrolment(*, user: AbstractBaseUser) -> bool:
    """True when the settings require two-factor for this administrator and it has not enrolled."""
    return (
        settings.TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS
        and user_is_administrator(user=user)
        and not user_has_device(user)
    )


def user_has_two_factor(*, user: AbstractBaseUser) -> bool:
    return user_has_device(user)
