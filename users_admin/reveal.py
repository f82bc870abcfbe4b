"""*Reveal*: unmask one user's personal data for PII_REVEAL_MINUTES, with a reason code and a
ticket reference (users_admin.pii masks it). A POST behind its own form, idempotent by the
form's token (a second submission finds the first reveal), audited as `users.reveal` on the
user's timeline."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from staff.audit import record
from staff.permissions import Capability, can, requires

from .pii import REVEALED, active_reveal, masked_names
from .pii_models import Reveal, RevealReason


class RevealForm(forms.Form):
    reason = forms.ChoiceField(
        label="Why do you need to see it?",
        choices=[("", "Choose a reason"), *RevealReason.choices],
        error_messages={"required": "Choose why you need to see this user's personal data."},
    )
    ticket = forms.CharField(
        label="Ticket reference",
        max_length=200,
        help_text="The ticket or case this is for, e.g. SUP-4711.",
        error_messages={"required": "Type the ticket or case this is for."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("initial", {"token": uuid.uuid4()})
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["reason"].widget.attrs["autofocus"] = True

    def clean_ticket(self) -> str:
        ticket = str(self.cleaned_data["ticket"]).strip()
        if not ticket:
            raise forms.ValidationError("Type the ticket or case this is for.")
        return ticket


@requires(Capability.SEARCH_USERS)
def reveal(request: HttpRequest, user_id: str) -> HttpResponse:
    """The reveal form (GET) and the reveal itself (POST)."""
    detail = redirect("users_admin:detail", user_id)
    if can(request.user, Capability.SEE_PERSONAL_DATA):
        messages.info(request, "Your role sees personal data unmasked: nothing to reveal.")
        return detail
    form = RevealForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        first = Reveal.objects.filter(token=data["token"]).first()
        if first is None:
            try:
                with transaction.atomic():
                    first = Reveal.objects.create(
                        token=data["token"],
                        user_id=user_id,
                        staff_id=cast(int, request.user.pk),
                        reason=data["reason"],
                        ticket=data["ticket"],
                        expires_at=timezone.now() + timedelta(minutes=settings.PII_REVEAL_MINUTES),
                    )
            except IntegrityError:  # the same form, sent twice at once: the first one won
                first = Reveal.objects.get(token=data["token"])
            else:
                label = RevealReason(first.reason).label
                record(
                    request,
                    REVEALED,
                    target=user_id,
                    reason=f"{label}, ticket {first.ticket}",
                    reason_code=first.reason,
                    ticket=first.ticket,
                    minutes=settings.PII_REVEAL_MINUTES,
                    until=first.expires_at.isoformat(timespec="seconds"),
                    fields=masked_names(),
                )
        if first.user_id != user_id or first.staff_id != request.user.pk:
            form.add_error(None, "This form was sent for another user; open the user again.")
        else:
            until = timezone.localtime(first.expires_at)
            messages.success(request, f"Personal data revealed until {until:%H:%M} UTC.")
            return detail
    return render(
        request,
        "users_admin/reveal.html",
        {
            "user_id": user_id,
            "form": form,
            "minutes": settings.PII_REVEAL_MINUTES,
            "masked": masked_names(),
            "revealed": active_reveal(request.user, user_id),
        },
        status=400 if form.is_bound else 200,
    )
