from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from management_api.tenants import Tenant, all_tenants

from .audit import ACCOUNT_ACTIONS, ACTION_FAMILIES, AUDIT_READ, action_label
from .models import AuditEvent


class SignInForm(AuthenticationForm):
    """Django's sign-in form, worded for staff who sign in with their email address."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email address and password do not match a staff account.",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "Email address"
        self.fields["username"].widget.attrs.update(
            {"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        )
        self.fields["password"].widget.attrs["autocomplete"] = "current-password"

    def clean_username(self) -> str:
        # add_staff stores emails lower-cased; accept any spelling at sign-in.
        return str(self.cleaned_data["username"]).strip().lower()

    def clean(self) -> dict[str, Any]:
        if not settings.PASSWORD_SIGN_IN:
            raise ValidationError("Password sign-in is switched off here.", code="disabled")
        return super().clean()

    def get_invalid_login_error(self) -> ValidationError:
        """Django's message, plus how many attempts are left before the account is locked."""
        error = super().get_invalid_login_error()
        username = self.cleaned_data.get("username")
        if not username or self.request is None:
            return error
        failures = AxesProxyHandler.get_failures(self.request, {"username": username})
        left = max(settings.AXES_FAILURE_LIMIT - failures, 0)
        minutes = f"{settings.AXES_COOLOFF_TIME * 60:g}"
        warning = (
            f"{left} attempt{'s' if left != 1 else ''} left before sign-in for this account "
            f"is locked for {minutes} minutes."
        )
        return ValidationError([error, ValidationError(warning, code="attempts_left")])


class DateInput(forms.DateInput):
    input_type = "date"


def check_date_range(form: forms.Form, cleaned: dict[str, Any]) -> None:
    """A filter form's `date_from` must not be after its `date_to` (said at date_to)."""
    date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
    if date_from and date_to and date_from > date_to:
        form.add_error("date_to", "The end date is before the start date.")


class AuditFilterForm(forms.Form):
    """The audit log's filters: a GET form, so a filtered view is a shareable URL."""

    actor = forms.CharField(
        required=False,
        max_length=254,
        label="Actor email contains",
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
    action = forms.ChoiceField(required=False, label="Action")
    user = forms.CharField(
        required=False,
        max_length=500,
        label="About the user (id)",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    date_from = forms.DateField(required=False, label="From (UTC)", widget=DateInput)
    date_to = forms.DateField(required=False, label="To (UTC)", widget=DateInput)

    def __init__(
        self, *args: Any, tenants: Sequence[Tenant] = (), only_user: str = "", **kwargs: Any
    ) -> None:
        """`tenants`: the ones the member may see; with several configured, a filter by tenant
        (with one, every event is that tenant's). `only_user`: the one user whose events the
        member may read (the user filter is fixed to it, the tenant is the current one)."""
        super().__init__(*args, **kwargs)
        if only_user:
            self.fields["user"].disabled = True
            self.fields["user"].initial = only_user
            self.fields["user"].help_text = "Your role reads the events about one user."
        elif len(all_tenants()) > 1:
            self.fields["tenant"] = forms.ChoiceField(
                required=False,
                label="Tenant",
                choices=[("", "Every tenant"), *((t.slug, t.name) for t in tenants)],
            )
        recorded = AuditEvent.objects.values_list("action", flat=True).distinct()
        # Sign-in and account events are offered before the first one happens.
        actions = sorted({*recorded, *ACCOUNT_ACTIONS, AUDIT_READ}, key=action_label)
        field = self.fields["action"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            ("", "Any action"),
            *ACTION_FAMILIES.items(),
            *((action, action_label(action)) for action in actions),
        ]

    def clean_actor(self) -> str:
        return str(self.cleaned_data["actor"]).strip()

    def clean_user(self) -> str:
        return str(self.cleaned_data["user"]).strip()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        check_date_range(self, cleaned)
        return cleaned
