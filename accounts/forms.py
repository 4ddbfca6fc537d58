from django import forms
from django.contrib.admin.forms import AdminPasswordChangeForm
from django.utils.translation import gettext_lazy as _

from .services import user_password_set


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=10,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
        help_text=_("The 6 digits your authenticator app shows for Message Center."),
    )


class OwnPasswordChangeForm(AdminPasswordChangeForm):
    """The admin's "change my password" page (old password first), through the service."""

    def save(self, commit=True):
        user_password_set(user=self.user, password=self.cleaned_data["new_password1"])
        return self.user
