"""The user id in a URL: one path segment, encoded whole.

Auth0 user ids may hold `/` and `.` (a custom database, an import, a SAML NameID:
`auth0|a/../b`). Left as they are, a browser collapses the dot segments and the link targets
another user. `to_url` escapes `%` and `/` (and an id made only of dots) once; Django's
`reverse()` then quotes the result again (`%` to `%25`), so the browser sees `%252F`, never a
slash or a dot segment. Every server decodes a path exactly once (the dev server and waitress
decode `%2F` before routing), so the view's segment reads `a%2F..%2Fb`, which `to_python`
decodes back to the id. An id without `/` or `%` keeps the URL it always had
(`/users/auth0%7C123/`).
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from django.utils.http import RFC3986_SUBDELIMS

# What Django's reverse() leaves unquoted in a path.
REVERSE_SAFE = RFC3986_SUBDELIMS + "/~:@"


class UserIdConverter:
    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return unquote(value)

    def to_url(self, value: str) -> str:
        escaped = str(value).replace("%", "%25").replace("/", "%2F")
        if not escaped.strip("."):  # "." or "..": a dot segment of its own
            escaped = escaped.replace(".", "%2E")
        return escaped


def path_segment(user_id: str) -> str:
    """The id as `reverse()` puts it in a path (for URLs built without reverse)."""
    return quote(UserIdConverter().to_url(user_id), safe=REVERSE_SAFE)
