"""Support cases of the seeded tenant: who is brute-force blocked, enrolled in MFA, signed in on
devices, waiting for a verification email, and the log history that goes with it.

A user's case is a hash of (seed, user_id), so it costs nothing for the million users who have
none. Blocks, MFA methods, sessions and refresh tokens are rows (the API deletes them), written
while seeding; the seeded log history is made on read from the same hash, dated back from when
the tenant was seeded, so seeding a million users writes no log rows at all.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from sandbox import seed_access, tenant_logs

# Cases by hash % 1000 (a user matches at most one; the connection decides what applies).
BRUTE_FORCE = range(0, 30)  # database users: 10 failed passwords from 1-3 IPs, then a block
MFA = range(30, 60)  # 2-5 factors: totp, phone (sms), webauthn, email, recovery code
DEVICES = range(60, 90)  # signed in on 1-3 devices: sessions and refresh tokens
UNVERIFIED = range(90, 120)  # unverified database users who asked for the email again
ACTIVE = range(120, 180)  # a plain recent history of sign-ins
DAY_MS = 86_400_000
IPS = ("203.0.113.", "198.51.100.", "192.0.2.")
AGENTS = (
    "Chrome 120.0.0 / Mac OS X 10.15.7",
    "Firefox 121.0.0 / Windows 10.0.0",
    "Mobile Safari 17.1.0 / iOS 17.1.0",
    "Chrome Mobile 119.0.0 / Android 14.0.0",
    "Edge 120.0.0 / Windows 10.0.0",
)
CONNECTION_IDS = {
    "Username-Password-Authentication": "con_Db1Pw2Xk9LmQ4RtZ",
    "google-oauth2": "con_Go0gLe7Aa3Bb5Cc8",
    "github": "con_GiTh9Ub4Dd6Ee1Ff",
    "acme-saml": "con_AcMe5SaMl2Gg7Hh3",
}
LOGIN_CLIENT = tenant_logs.LOGIN_CLIENT


def case(seed: int, user_id: str) -> int:
    return zlib.crc32(f"{seed}:{user_id}".encode()) % 1000


def _connection(profile: dict[str, Any]) -> str:
    return str((profile.get("identities") or [{}])[0].get("connection", ""))


def is_brute_force(seed: int, profile: dict[str, Any], kind: int | None = None) -> bool:
    return (
        (case(seed, profile["user_id"]) if kind is None else kind) in BRUTE_FORCE
        and _connection(profile) == "Username-Password-Authentication"
        and bool(profile.get("email"))
    )


def _rng(seed: int, user_id: str, part: str) -> random.Random:
    return random.Random(f"{seed}:{user_id}:{part}")


def _ip(rng: random.Random) -> str:
    return f"{rng.choice(IPS)}{rng.randrange(1, 255)}"


def _iso(epoch_ms: int) -> str:
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _hex(rng: random.Random, size: int) -> str:
    # Hex digits are letters and digits too, and far cheaper to draw than one choice a character.
    return f"{rng.getrandbits(4 * size):0{size}x}"


@dataclass
class SupportRows:
    """Rows for the support tables of one block of users (plain tuples for executemany)."""

    blocks: list[tuple[Any, ...]] = field(default_factory=list)
    methods: list[tuple[Any, ...]] = field(default_factory=list)
    sessions: list[tuple[Any, ...]] = field(default_factory=list)
    tokens: list[tuple[Any, ...]] = field(default_factory=list)
    user_roles: list[tuple[Any, ...]] = field(default_factory=list)
    user_permissions: list[tuple[Any, ...]] = field(default_factory=list)
    memberships: list[tuple[Any, ...]] = field(default_factory=list)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def add_rows(
    rows: SupportRows, seed: int, pk: int, profile: dict[str, Any], seeded_ms: int
) -> None:
    """The support rows of one seeded user (none for most)."""
    user_id = profile["user_id"]
    kind = case(seed, user_id)
    if kind in seed_access.ACCESS:
        seed_access.add_rows(rows, seed, pk, profile, seeded_ms)
    if kind >= DEVICES.stop:
        return  # most users: no support case
    if is_brute_force(seed, profile, kind):
        rng = _rng(seed, user_id, "blocks")
        for _ in range(1 + int(rng.random() * 2.2)):
            when = seeded_ms - int(rng.random() * 6 * DAY_MS)
            rows.blocks.append((pk, profile["email"], _ip(rng), _connection(profile), _iso(when)))
    elif kind in MFA:
        rng = _rng(seed, user_id, "mfa")
        for method_id, kind_name, body in _methods(rng, profile, seeded_ms):
            rows.methods.append((method_id, pk, kind_name, _dumps({**body, "id": method_id})))
    elif kind in DEVICES and profile.get("last_login"):
        rng = _rng(seed, user_id, "devices")
        for session, tokens in _devices(rng, profile, seeded_ms):
            rows.sessions.append((session["id"], pk, _dumps(session)))
            for token in tokens:
                rows.tokens.append((token["id"], pk, session["id"], _dumps(token)))


def _methods(
    rng: random.Random, profile: dict[str, Any], seeded_ms: int
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    enrolled = seeded_ms - int(rng.random() * 200 * DAY_MS)
    created = _iso(enrolled)
    last = _iso(seeded_ms - int(rng.random() * 20 * DAY_MS))
    yield (
        f"totp|dev_{_hex(rng, 16)}",
        "totp",
        {"id": "", "type": "totp", "confirmed": True, "created_at": created, "last_auth_at": last},
    )
    phone = profile.get("phone_number") or f"+1555{rng.randrange(1_000_000, 9_999_999)}"
    if rng.random() < 0.7:
        sms = f"sms|dev_{_hex(rng, 16)}"
        yield (
            f"phone|dev_{_hex(rng, 16)}",
            "phone",
            {
                "id": "",
                "type": "phone",
                "confirmed": True,
                "name": str(phone)[-20:],
                "phone_number": phone,
                "preferred_authentication_method": "sms",
                "authentication_methods": [{"id": sms, "type": "sms"}],
                "created_at": created,
            },
        )
    if rng.random() < 0.5:
        yield (
            f"webauthn-roaming|dev_{_hex(rng, 16)}",
            "webauthn-roaming",
            {
                "id": "",
                "type": "webauthn-roaming",
                "confirmed": True,
                "name": "YubiKey 5C",
                "key_id": _hex(rng, 43),
                "public_key": _hex(rng, 86),
                "created_at": created,
            },
        )
    if profile.get("email") and rng.random() < 0.3:
        yield (
            f"email|dev_{_hex(rng, 16)}",
            "email",
            {
                "id": "",
                "type": "email",
                "confirmed": True,
                "name": "Email",
                "email": profile["email"],
                "created_at": created,
            },
        )
    yield (
        f"recovery-code|dev_{_hex(rng, 16)}",
        "recovery-code",
        {"id": "", "type": "recovery-code", "confirmed": True, "created_at": created},
    )


def _devices(
    rng: random.Random, profile: dict[str, Any], seeded_ms: int
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    for _ in range(1 + int(rng.random() * 2.5)):
        started = seeded_ms - int(rng.random() * 14 * DAY_MS)
        touched = min(seeded_ms, started + int(rng.random() * 3 * DAY_MS))
        ip = _ip(rng)
        agent = rng.choice(AGENTS)
        session_id = _hex(rng, 32)
        device = {
            "initial_user_agent": agent,
            "initial_ip": ip,
            "initial_asn": "64496",
            "last_user_agent": agent,
            "last_ip": ip,
            "last_asn": "64496",
        }
        session = {
            "id": session_id,
            "user_id": profile["user_id"],
            "created_at": _iso(started),
            "updated_at": _iso(touched),
            "authenticated_at": _iso(started),
            "idle_expires_at": _iso(touched + 3 * DAY_MS),
            "expires_at": _iso(started + 30 * DAY_MS),
            "last_interacted_at": _iso(touched),
            "device": device,
            "clients": [{"client_id": LOGIN_CLIENT[0]}],
            "authentication": {"methods": [{"name": "pwd", "timestamp": _iso(started)}]},
        }
        tokens = []
        if rng.random() < 0.8:
            tokens.append(
                {
                    "id": f"rt_{_hex(rng, 16)}",
                    "user_id": profile["user_id"],
                    "created_at": _iso(started),
                    "idle_expires_at": _iso(touched + 15 * DAY_MS),
                    "expires_at": _iso(started + 90 * DAY_MS),
                    "device": device,
                    "client_id": LOGIN_CLIENT[0],
                    "session_id": session_id,
                    "rotating": True,
                    "resource_servers": [
                        {
                            "audience": "https://api.userdesk-demo.example/",
                            "scopes": "openid profile offline_access",
                        }
                    ],
                    "last_exchanged_at": _iso(touched),
                }
            )
        yield session, tokens


# The seeded log history, made on read --------------------------------------------------------


def _epoch_ms(iso: str) -> int:
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


def _sign_ins(rng: random.Random, profile: dict[str, Any]) -> list[int]:
    """When the user signed in lately, oldest first: ending at last_login, a few days apart."""
    logins = int(profile.get("logins_count") or 0)
    if not profile.get("last_login") or logins < 1:
        return []
    moment = _epoch_ms(profile["last_login"])
    earliest = _epoch_ms(profile["created_at"])
    found = []
    for _ in range(min(logins, 2 + int(rng.random() * 6))):
        if moment < earliest:
            break
        found.append(moment)
        moment -= int((0.2 + rng.random() * 3) * DAY_MS)
    return found[::-1]


def recent_sign_in(seed: int, seeded_ms: int, profile: dict[str, Any]) -> None:
    """A user with a seeded history who ever signed in did so in the days before the seeding, so
    that history shows sign-ins, and last_login says the last of them (updated_at follows)."""
    user_id = profile["user_id"]
    if not profile.get("last_login") or not profile.get("logins_count"):
        return
    if not (case(seed, user_id) < ACTIVE.stop or profile.get("blocked") is True):
        return
    rng = _rng(seed, user_id, "recent")
    # From the start of the seeding day: the same users whenever in the day they are made.
    day = seeded_ms // DAY_MS * DAY_MS
    last = day - int((0.05 + rng.random() * 3) * DAY_MS)
    if _iso(last) <= profile["created_at"]:
        return
    profile["last_login"] = _iso(last)
    updated = min(day, last + int(rng.random() * 3_600_000))
    profile["updated_at"] = max(profile["updated_at"], _iso(updated))


def seeded_events(seed: int, seeded_ms: int, profile: dict[str, Any]) -> list[dict[str, Any]]:
    """The seeded history of one user, oldest first (empty for most users)."""
    user_id = profile["user_id"]
    kind = case(seed, user_id)
    blocked = profile.get("blocked") is True
    if not (blocked or kind < ACTIVE.stop):
        return []
    rng = _rng(seed, user_id, "logs")
    connection_name = _connection(profile)
    connection = {"name": connection_name, "id": CONNECTION_IDS.get(connection_name, "")}
    is_database = connection_name == "Username-Password-Authentication"
    home_ip = _ip(rng)
    agent = rng.choice(AGENTS)
    events: list[tuple[int, str, dict[str, Any]]] = []

    def add(when: int, code: str, ip: str = home_ip, **extra: Any) -> None:
        events.append((when, code, {"ip": ip, **extra}))

    # The sign-ins agree with the profile: the last one is its last_login (from its last_ip),
    # and there are never more than its logins_count.
    for when in _sign_ins(rng, profile):
        if is_database and rng.random() < 0.25:
            add(when - 40_000, "fp", description="Wrong email or password.")
        add(when, "s", profile.get("last_ip") or home_ip)
    if is_database and rng.random() < 0.3:
        moment = seeded_ms - int((1 + rng.random() * 10) * DAY_MS)
        add(moment, "scpr", description="")
        add(moment + 120_000, "scp", description="Password changed successfully.")
    if blocked:
        late = seeded_ms - int(rng.random() * 2 * DAY_MS)
        add(late, "f", description="user is blocked")
        add(late + 30_000, "f", description="user is blocked")
    if is_brute_force(seed, profile):
        block_rng = _rng(seed, user_id, "blocks")
        for _ in range(1 + int(block_rng.random() * 2.2)):
            when = seeded_ms - int(block_rng.random() * 6 * DAY_MS)
            ip = _ip(block_rng)
            for attempt in range(10):
                add(
                    when - (10 - attempt) * 20_000, "fp", ip, description="Wrong email or password."
                )
            add(when, "limit_wc", ip)
    if kind in MFA:
        for method_id, method_kind, _ in _methods(_rng(seed, user_id, "mfa"), profile, seeded_ms):
            if method_kind == "recovery-code":
                continue
            late = seeded_ms - int(rng.random() * 10 * DAY_MS)
            add(late, "gd_auth_succeed", details={"authenticator": {"id": method_id}})
        add(seeded_ms - int(rng.random() * DAY_MS), "gd_auth_failed", description="Invalid OTP.")
    if kind in UNVERIFIED and profile.get("email_verified") is False:
        asked = seeded_ms - int(rng.random() * 3 * DAY_MS)
        add(asked, "svr", details={"email": profile.get("email")})
        add(asked + 60_000, "fv", details={"error": "mailbox unavailable"})
    events.sort(key=lambda item: item[0])
    built = []
    for number, (when, code, extra) in enumerate(events):
        moment_dt = dt.datetime.fromtimestamp(when / 1000, dt.UTC)
        built.append(
            tenant_logs.event(
                code,
                moment=moment_dt,
                log_id=tenant_logs.new_log_id(
                    moment_dt, tail=zlib.crc32(user_id.encode()) * 1000 + number
                ),
                user=profile,
                description=extra.get("description"),
                connection=connection,
                client=LOGIN_CLIENT,
                ip=extra["ip"],
                user_agent=agent,
                details=extra.get("details") or {},
            )
        )
    return built
