"""The staff app: sign-in (form and OpenID Connect), roles, sessions, the audit record."""
