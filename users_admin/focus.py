"""Focus where the eye goes in an action panel or a form page: when it opens, its first field;
after a validation error or Auth0's refusal, the field in error. htmx focuses the `autofocus`
element it swaps in; a full page's browser does the same."""

from __future__ import annotations

from typing import Any

from django import forms


def focus_first(form: forms.Form) -> None:
    """Mark the first field in error, else the first visible field, `autofocus`."""
    for each in form.fields.values():
        each.widget.attrs.pop("autofocus", None)
    errors = getattr(form, "_errors", None) or {}
    visible = [name for name, f in form.fields.items() if not f.widget.is_hidden]
    chosen = next((name for name in visible if name in errors), visible[0] if visible else None)
    if chosen is not None:
        form.fields[chosen].widget.attrs["autofocus"] = True


class _FirstOptionFocus:
    """A choice widget that gives `autofocus` to its first option only (one per page)."""

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option: dict[str, Any] = super().create_option(*args, **kwargs)  # type: ignore[misc]
        if option["index"] not in (0, "0"):
            option["attrs"].pop("autofocus", None)
        return option


class Radios(_FirstOptionFocus, forms.RadioSelect):
    pass


class Checkboxes(_FirstOptionFocus, forms.CheckboxSelectMultiple):
    pass


class Focused(forms.Form):
    """A form that keeps its focus right: call `focus_first(self)` once its fields are set;
    validation and later errors move it."""

    def full_clean(self) -> None:
        super().full_clean()
        focus_first(self)

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        focus_first(self)


def focus_error(form: forms.Form) -> None:
    """Mark the first field in error `autofocus`, and none while there is no error: for a form
    on a page that opens on much else (a bulk run's page), which keeps the browser's focus until
    a submit is refused."""
    for each in form.fields.values():
        each.widget.attrs.pop("autofocus", None)
    errors = getattr(form, "_errors", None) or {}
    chosen = next(
        (name for name, f in form.fields.items() if name in errors and not f.widget.is_hidden),
        None,
    )
    if chosen is not None:
        form.fields[chosen].widget.attrs["autofocus"] = True


class FocusedOnError(forms.Form):
    """A form whose refused submit focuses the field in error (`focus_error`)."""

    def full_clean(self) -> None:
        super().full_clean()
        focus_error(self)

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        focus_error(self)
