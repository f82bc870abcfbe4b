"""Auth0 log event type codes in plain words (Auth0's own event names, shortened)."""

from __future__ import annotations

from typing import Any

LOG_TYPES: dict[str, str] = {
    "s": "Signed in",
    "f": "Sign-in failed",
    "fp": "Sign-in failed: wrong password",
    "fu": "Sign-in failed: unknown email or username",
    "w": "Warning during sign-in",
    "ss": "Signed up",
    "fs": "Sign-up failed",
    "slo": "Signed out",
    "flo": "Sign-out failed",
    "ssa": "Silent sign-in succeeded",
    "fsa": "Silent sign-in failed",
    "scp": "Password changed",
    "fcp": "Password change failed",
    "scpr": "Password reset email requested",
    "fcpr": "Password reset request failed",
    "sce": "Email changed",
    "fce": "Email change failed",
    "scu": "Username changed",
    "fcu": "Username change failed",
    "scpn": "Phone number changed",
    "fcpn": "Phone number change failed",
    "sv": "Email verified (link used)",
    "fv": "Verification email could not be sent",
    "svr": "Verification email queued",
    "fvr": "Verification email request failed",
    "sdu": "User deleted",
    "fdu": "User deletion failed",
    "du": "User deleted",
    "sapi": "Changed through the Management API",
    "fapi": "Management API change failed",
    "mgmt_api_read": "Read through the Management API",
    "fn": "Notification could not be sent",
    "cs": "Passwordless code sent",
    "cls": "Passwordless code or link sent",
    "limit_wc": "Blocked: too many failed sign-ins to this account from one address",
    "limit_sul": "Blocked: too many sign-ins a minute from one address",
    "limit_mu": "Address blocked: too many failed sign-ins or sign-ups",
    "ublkdu": "Sign-in block released",
    "pwd_leak": "Sign-in with a breached password",
    "signup_pwd_leak": "Sign-up with a breached password",
    "reset_pwd_leak": "Password reset with a breached password",
    "api_limit": "Rate limit reached",
    "api_limit_warning": "Rate limit nearly reached",
    "mfar": "MFA required",
    "gd_start_enroll": "MFA enrolment started",
    "gd_enrollment_complete": "MFA enrolled",
    "gd_unenroll": "MFA device removed",
    "gd_update_device_account": "MFA device updated",
    "gd_start_auth": "MFA challenge started",
    "gd_auth_succeed": "MFA passed",
    "gd_auth_failed": "MFA failed",
    "gd_auth_rejected": "MFA push rejected",
    "gd_otp_rate_limit_exceed": "Too many MFA failures",
    "gd_recovery_succeed": "Recovery code used",
    "gd_recovery_failed": "Recovery code failed",
    "gd_recovery_rate_limit_exceed": "Too many recovery code failures",
    "gd_send_sms": "MFA code sent by SMS",
    "gd_send_sms_failure": "MFA SMS could not be sent",
    "gd_send_voice": "MFA code sent by voice call",
    "gd_send_pn": "MFA push notification sent",
    "gd_send_pn_failure": "MFA push notification failed",
    "gd_send_email": "MFA code sent by email",
    "srrt": "Refresh token revoked",
    "sertft": "Refresh token used",
    "fertft": "Refresh token refused",
    "seacft": "Authorization code exchanged",
    "feacft": "Authorization code exchange failed",
    "fco": "Refused by CORS",
    "fcoa": "Cross-origin sign-in failed",
    "scoa": "Cross-origin sign-in succeeded",
}

# Auth0's authentication method types (and Guardian's authenticator types) in plain words.
MFA_METHODS: dict[str, str] = {
    "totp": "Authenticator app",
    "otp": "Authenticator app",
    "phone": "Phone",
    "sms": "Phone (text message)",
    "voice": "Phone (voice call)",
    "email": "Email",
    "push-notification": "Push notification (Guardian app)",
    "guardian": "Push notification (Guardian app)",
    "push": "Push notification (Guardian app)",
    "webauthn-roaming": "Security key",
    "webauthn-platform": "Device biometrics (fingerprint or face)",
    "passkey": "Passkey",
    "recovery-code": "Recovery code",
    "password": "Password",
}
CONTACT_METHODS = frozenset({"phone", "sms", "voice", "email"})


def method_words(method_type: str) -> str:
    return MFA_METHODS.get(method_type, f"MFA method {method_type}")


def method_summary(method: dict[str, Any]) -> str:
    """A method as an agent names it: its kind in words, then how it reaches the user, masked
    as Auth0 answers it (a phone method's `name` is its whole number: never shown), or its
    name (a security key's "YubiKey 5C")."""
    kind = str(method.get("type") or "")
    words = method_words(kind)
    if kind == "phone" and method.get("preferred_authentication_method") in ("sms", "voice"):
        words = method_words(str(method["preferred_authentication_method"]))
    if kind in CONTACT_METHODS:
        shown = method.get("phone_number") or method.get("email") or ""
    else:
        shown = method.get("name") or ""
    return f"{words} · {shown}" if shown and shown != words else words


SUCCESS_LOGIN_TYPES = frozenset({"s"})
FAILED_LOGIN_TYPES = frozenset({"f", "fp", "fu"})


def describe(event_type: str) -> str:
    return LOG_TYPES.get(event_type, f"Event {event_type}")


def is_failure(event: dict[str, Any]) -> bool:
    """Failures an agent should notice in the timeline (highlighted)."""
    kind = str(event.get("type") or "")
    return (
        kind.startswith("f")
        or kind.startswith("limit_")
        or kind.endswith(("_failed", "_failure", "_rejected", "_exceed"))
        or kind in {"pwd_leak", "signup_pwd_leak", "reset_pwd_leak", "api_limit", "w"}
    )
