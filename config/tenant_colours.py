"""The tenants' colours as a stylesheet (`/tenants.css`: the CSP refuses inline style), each
with the text colour that reads on it by WCAG 2 contrast (a colour nothing reads on is
darkened until white does)."""

from __future__ import annotations

from management_api.tenants import Tenant, all_tenants

LIGHT_TEXT = "#ffffff"
DARK_TEXT = "#111827"
# WCAG 2 AA for normal text.
MIN_CONTRAST = 4.5


def _channels(colour: str) -> tuple[int, int, int]:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a `#rgb` or `#rrggbb` colour."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _channels(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def text_colour(background: str) -> str:
    """White or near-black, whichever contrasts more with the background (one of them always
    reaches 4.5:1)."""
    return max((LIGHT_TEXT, DARK_TEXT), key=lambda text: contrast(text, background))


def band_colours(colour: str) -> tuple[str, str]:
    """(background, text) of a tenant's band: its colour when white or near-black reads on it
    at 4.5:1, else its colour darkened until white does (a mid grey reads with neither)."""
    background = colour
    while contrast(text_colour(background), background) < MIN_CONTRAST:
        r, g, b = (int(c * 0.9) for c in _channels(background))
        background = f"#{r:02x}{g:02x}{b:02x}"
    return background, text_colour(background)


def stylesheet(tenants: tuple[Tenant, ...] | None = None) -> str:
    """One rule per tenant: `.tenant-<slug>` takes its colour and readable text."""
    rules = []
    for tenant in tenants if tenants is not None else all_tenants():
        background, text = band_colours(tenant.colour)
        rules.append(
            f".tenant-{tenant.slug} {{ --tenant-colour: {background}; "
            f"--tenant-text: {text}; background: {background}; color: {text}; }}"
        )
    return "\n".join(rules) + "\n"
