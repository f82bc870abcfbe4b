"""Deterministic, realistic users for the sandbox tenant, fast enough for a million.

`seed_users(n, seed)` replaces (or, with `append=True`, extends) the tenant's users. The same seed
always gives the same users: each block of `CHUNK` users draws from its own `random.Random`
seeded with `(seed, first index)`, so a block does not depend on how many users come after it.

The data is meant to hurt: accents, CJK, apostrophes, quotes, commas and line breaks in names;
values that look like spreadsheet formulas or hold `<script>`; addresses shared by two users on
different connections; mixed-case social addresses next to lower-cased database ones; absent
fields; nested metadata with arrays, booleans and numbers.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import connections

from sandbox import faults, seed_access, seed_shapes, seed_support
from sandbox.access_models import Membership, UserPermission, UserRole
from sandbox.indexing import S_COLUMNS, search_columns, search_terms
from sandbox.models import (
    AuthenticationMethod,
    Connection,
    IndexQueue,
    LogEvent,
    RefreshToken,
    SearchTerm,
    TenantMeta,
    TenantUser,
    Ticket,
    UserBlock,
    UserSession,
)
from sandbox.routers import SANDBOX_DB

CHUNK = 5000
DATABASE_CONNECTION = "Username-Password-Authentication"

# (id, name, display_name, strategy, options, is_domain_connection)
CONNECTIONS: tuple[tuple[str, str, str, str, dict[str, Any], bool], ...] = (
    (
        "con_Db1Pw2Xk9LmQ4RtZ",
        DATABASE_CONNECTION,
        "Username-Password-Authentication",
        "auth0",
        {
            "brute_force_protection": True,
            "password_policy": "good",
            "requires_username": True,
            "import_mode": False,
        },
        False,
    ),
    (
        "con_Go0gLe7Aa3Bb5Cc8",
        "google-oauth2",
        "Google",
        "google-oauth2",
        {"email": True, "profile": True, "scope": ["email", "profile"]},
        False,
    ),
    (
        "con_GiTh9Ub4Dd6Ee1Ff",
        "github",
        "GitHub",
        "github",
        {"email": True, "scope": ["user:email"]},
        False,
    ),
    (
        "con_AcMe5SaMl2Gg7Hh3",
        "acme-saml",
        "ACME Corp SSO",
        "samlp",
        {
            "signInEndpoint": "https://sso.acme.example/saml/login",
            "domain_aliases": ["acme.example"],
            "tenant_domain": "acme.example",
        },
        True,
    ),
    *seed_shapes.PASSWORDLESS_CONNECTIONS,
)

# The dates span EPOCH_START .. EPOCH_END, moved by whole days so that EPOCH_END is the day the
# tenant is seeded: the same seed on the same day gives the same users, and a fresh demo has
# users who signed up in the last few days.
EPOCH_START = 1451606400  # 2016-01-01T00:00:00Z
EPOCH_END = 1793491200  # 2026-11-01T00:00:00Z
DAY_MS = 86_400_000
# How far (days) the seeding day may lie from EPOCH_END, either way, for the table of day names.
SHIFT_LIMIT_DAYS = 30 * 366

# (display, ascii slug) pools.
FIRST_NAMES: tuple[tuple[str, str], ...] = (
    ("John", "john"), ("Mary", "mary"), ("James", "james"), ("Emma", "emma"),
    ("Olivia", "olivia"), ("Liam", "liam"), ("Noah", "noah"), ("Ava", "ava"),
    ("Sophia", "sophia"), ("Mia", "mia"), ("Lucas", "lucas"), ("Mateo", "mateo"),
    ("Aarav", "aarav"), ("Priya", "priya"), ("Fatima", "fatima"), ("Mohammed", "mohammed"),
    ("Ngozi", "ngozi"), ("Olga", "olga"), ("Dmitri", "dmitri"), ("Hannah", "hannah"),
    ("William", "william"), ("Charlotte", "charlotte"), ("Benjamin", "benjamin"),
    ("Amelia", "amelia"), ("Elijah", "elijah"), ("Isabella", "isabella"), ("Ethan", "ethan"),
    ("Zoë", "zoe"), ("José", "jose"), ("François", "francois"), ("Ángel", "angel"),
    ("Søren", "soren"), ("Łukasz", "lukasz"), ("Chloé", "chloe"), ("Jürgen", "jurgen"),
    ("Anaïs", "anais"), ("Siobhán", "siobhan"), ("Björn", "bjorn"), ("Zoltán", "zoltan"),
    ("Renée", "renee"), ("Noémie", "noemie"), ("Íñigo", "inigo"), ("Dāvis", "davis"),
    ("D'Arcy", "darcy"), ("Mary-Jane", "maryjane"), ("Jean-Luc", "jeanluc"),
)  # fmt: skip
LAST_NAMES: tuple[tuple[str, str], ...] = (
    ("Smith", "smith"), ("Johnson", "johnson"), ("Williams", "williams"), ("Brown", "brown"),
    ("Jones", "jones"), ("Miller", "miller"), ("Davis", "davis"), ("Wilson", "wilson"),
    ("Taylor", "taylor"), ("Anderson", "anderson"), ("Thomas", "thomas"), ("Moore", "moore"),
    ("Martin", "martin"), ("Jackson", "jackson"), ("Lee", "lee"), ("Walker", "walker"),
    ("Dupont", "dupont"), ("Kowalski", "kowalski"), ("Rossi", "rossi"), ("Novak", "novak"),
    ("Ivanova", "ivanova"), ("Okafor", "okafor"), ("Patel", "patel"), ("Khan", "khan"),
    ("O'Brien", "obrien"), ("D'Angelo", "dangelo"), ("O'Connor", "oconnor"),
    ("Müller", "muller"), ("García", "garcia"), ("Núñez", "nunez"), ("Lefèvre", "lefevre"),
    ("Ødegaard", "odegaard"), ("Nguyễn", "nguyen"), ("Çelik", "celik"), ("Dvořák", "dvorak"),
    ("Żółw", "zolw"), ("van der Berg", "vanderberg"), ("de la Cruz", "delacruz"),
    ("Smith-Jones", "smithjones"), ("Brontë", "bronte"),
)  # fmt: skip
# CJK names: (family, given, family slug, given slug); shown family first, without a space.
CJK_NAMES: tuple[tuple[str, str, str, str], ...] = (
    ("山田", "太郎", "yamada", "taro"), ("佐藤", "花子", "sato", "hanako"),
    ("田中", "健", "tanaka", "ken"), ("鈴木", "由美", "suzuki", "yumi"),
    ("王", "伟", "wang", "wei"), ("李", "娜", "li", "na"), ("张", "芳", "zhang", "fang"),
    ("陈", "静", "chen", "jing"), ("김", "민준", "kim", "minjun"),
    ("박", "서연", "park", "seoyeon"),
)  # fmt: skip
# Names a careful export must escape or a careless page would execute.
TRICKY_NAMES: tuple[str, ...] = (
    "Smith, John",
    'John "Johnny" Smith',
    "Anne\nMarie Durand",
    '=HYPERLINK("https://evil.example","Click me")',
    "+33 Fan Club",
    "-Dash Rendezvous",
    "@Handle Person",
    "<script>alert('name')</script>",
    "Tab\tSeparated",
    'Émile "Zola", Jr.',
)
TRICKY_NICKNAMES: tuple[str, ...] = (
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,2)",
    "<b>bold</b>",
    "it's me",
    "semi;colon",
)
BIOS: tuple[str, ...] = (
    'Loves hiking, coffee and "good" books.',
    "<script>alert(document.cookie)</script>",
    '=IMPORTXML("https://evil.example", "//a")',
    "Line one\nLine two",
    "Ça va? Très bien!",
    "日本語のプロフィール",
    "@here ping",
)
DB_DOMAINS = (
    "example.com", "example.org", "mail.example.net", "acme.example", "globex.example",
    "initech.example", "umbrella.example", "hooli.example", "outlook.example", "proton.example",
)  # fmt: skip
SOCIAL_DOMAINS = ("Gmail.com", "gmail.com", "GoogleMail.com", "Example.COM", "Yahoo.Example")
GITHUB_DOMAINS = ("users.noreply.github.com", "Example.org", "Hey.Example")
ACME_DOMAIN = "Acme.example"
PLANS = ("free", "free", "free", "free", "pro", "pro", "gold", "enterprise")
ROLES = ("admin", "billing", "support", "viewer", "editor")
COUNTRIES = ("FR", "US", "GB", "DE", "JP", "CN", "BR", "IN", "NG", "ES", "PL", "KR")
LANGUAGES = ("en", "fr", "de", "ja", "zh", "pt-BR", "es", "pl", "ko")
THEMES = ("light", "dark", "system")
CONSENT_TEXTS = (
    "I agree to the Terms of Service (v3).",
    "J'accepte les conditions générales.",
    'Marketing emails: yes, "weekly"',
    "",
)
PHONE_PREFIXES = ("+1", "+33", "+44", "+49", "+81", "+86", "+55", "+91", "+234", "+48")
USER_AGENT_IPS = ("203.0.113.", "198.51.100.", "192.0.2.", "2001:db8::")


# Day strings around EPOCH_START .. EPOCH_END (SHIFT_LIMIT_DAYS either side), so a timestamp is
# formatted without the time module.
_DAYS = tuple(
    time.strftime("%Y-%m-%d", time.gmtime(EPOCH_START + day * 86400))
    for day in range(-SHIFT_LIMIT_DAYS, (EPOCH_END - EPOCH_START) // 86400 + 2 + SHIFT_LIMIT_DAYS)
)


def date_shift_ms(seeded_ms: int) -> int:
    """How far the seeded dates move: from EPOCH_END to the day of `seeded_ms`, whole days."""
    days = seeded_ms // DAY_MS - EPOCH_END // 86400
    return max(-SHIFT_LIMIT_DAYS, min(SHIFT_LIMIT_DAYS, days)) * DAY_MS


def _iso(epoch_ms: int) -> str:
    """ISO-8601 with milliseconds and Z, as Auth0 writes dates (within the table of days)."""
    seconds, millis = divmod(epoch_ms - EPOCH_START * 1000, 1000)
    day, second = divmod(seconds, 86400)
    day += SHIFT_LIMIT_DAYS
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"{_DAYS[day]}T{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


def _mixed_case(rng: random.Random, text: str) -> str:
    return text[:1].upper() + "".join(c.upper() if rng.random() < 0.35 else c for c in text[1:])


def _chunk_users(seed: int, start: int, count: int, shift_ms: int) -> Iterator[dict[str, Any]]:
    """Users number `start` .. `start + count - 1`, all from one block's random stream."""
    rng = random.Random(f"{seed}:{start}")
    first_ms, last_ms = EPOCH_START * 1000 + shift_ms, EPOCH_END * 1000 + shift_ms
    pick: Callable[[tuple[Any, ...]], Any] = lambda pool: pool[int(rng.random() * len(pool))]  # noqa: E731
    last_db_email: str | None = None
    for index in range(start, start + count):
        roll = rng.random()
        connection = (
            DATABASE_CONNECTION
            if roll < 0.55
            else "google-oauth2"
            if roll < 0.80
            else "github"
            if roll < 0.92
            else "acme-saml"
        )
        if rng.random() < 0.07:
            family, given, family_slug, given_slug = pick(CJK_NAMES)
            full_name = family + given
        else:
            given, given_slug = pick(FIRST_NAMES)
            family, family_slug = pick(LAST_NAMES)
            full_name = f"{given} {family}"
        if rng.random() < 0.01:
            full_name = pick(TRICKY_NAMES)
        local = f"{given_slug}.{family_slug}{index}"

        created = first_ms + int(rng.random() * (last_ms - first_ms))
        profile: dict[str, Any] = {"created_at": _iso(created)}

        email: str | None
        if connection == DATABASE_CONNECTION:
            email = f"{local}@{pick(DB_DOMAINS)}"
            last_db_email = email
        elif connection == "acme-saml":
            email = f"{_mixed_case(rng, local)}@{ACME_DOMAIN}"
        else:
            domains = SOCIAL_DOMAINS if connection == "google-oauth2" else GITHUB_DOMAINS
            email = f"{given_slug.capitalize()}.{family_slug.capitalize()}{index}@{pick(domains)}"
            share = rng.random()
            if last_db_email and share < 0.02:
                # The same address as a database user: one person, two accounts.
                email = last_db_email
            elif last_db_email and share < 0.03:
                # The same address in another case: /users-by-email tells them apart.
                email = _mixed_case(rng, last_db_email)
            elif connection == "github" and share > 0.97:
                email = None
        if email is not None:
            profile["email"] = email
            profile["email_verified"] = connection != DATABASE_CONNECTION or rng.random() < 0.7

        if connection != DATABASE_CONNECTION or rng.random() < 0.6:
            profile["family_name"] = family
            profile["given_name"] = given

        if connection == DATABASE_CONNECTION:
            hex_id = f"{rng.getrandbits(96):024x}"
            user_id = f"auth0|{hex_id}"
            identity: dict[str, Any] = {
                "connection": connection,
                "user_id": hex_id,
                "provider": "auth0",
                "isSocial": False,
            }
        elif connection == "google-oauth2":
            digits = f"1{index:011d}{rng.getrandbits(29):09d}"
            user_id = f"google-oauth2|{digits}"
            identity = {
                "connection": connection,
                "user_id": digits,
                "provider": "google-oauth2",
                "isSocial": True,
            }
        elif connection == "github":
            number = 1_000_000 + index
            user_id = f"github|{number}"
            identity = {
                "connection": connection,
                "user_id": number,
                "provider": "github",
                "isSocial": True,
            }
        else:
            saml_id = f"acme-saml|{email}"
            user_id = f"samlp|{saml_id}"
            identity = {
                "connection": connection,
                "user_id": saml_id,
                "provider": "samlp",
                "isSocial": False,
            }
        identities = [identity]
        if connection == DATABASE_CONNECTION and rng.random() < 0.01:
            # A linked account: the GitHub identity lives on under the primary user.
            identities.append(
                {
                    "connection": "github",
                    "user_id": 50_000_000 + index,
                    "provider": "github",
                    "isSocial": True,
                    "profileData": {"name": full_name, "login": f"{given_slug}{index}"},
                }
            )
        profile["identities"] = identities
        profile["name"] = full_name
        if rng.random() < 0.004:
            profile["nickname"] = pick(TRICKY_NICKNAMES)
        elif connection == "github":
            profile["nickname"] = f"{given_slug}{family_slug}{index % 10000}"
        elif email is not None:
            profile["nickname"] = email.split("@", 1)[0]
        if rng.random() < 0.35:
            profile["phone_number"] = (
                f"{pick(PHONE_PREFIXES)}{rng.randrange(100_000_000, 9_999_999_999)}"
            )
            profile["phone_verified"] = rng.random() < 0.6
        if connection == DATABASE_CONNECTION and rng.random() < 0.2:
            profile["username"] = f"{given_slug[:6]}{index}"[:15]
        if connection == "github":
            profile["picture"] = f"https://avatars.githubusercontent.com/u/{1_000_000 + index}?v=4"
        elif connection == "google-oauth2":
            profile["picture"] = (
                f"https://lh3.googleusercontent.com/a/ACg8oc{rng.getrandbits(64):x}"
            )
        else:
            initials = (given_slug[:1] + family_slug[:1]) or "u"
            profile["picture"] = (
                f"https://s.gravatar.com/avatar/{rng.getrandbits(128):032x}?s=480&r=pg&d="
                f"https%3A%2F%2Fcdn.auth0.com%2Favatars%2F{initials}.png"
            )

        activity = rng.random()
        last_login: int | None = None
        logins: int | None = None
        if activity < 0.06:
            pass  # never signed in: no logins_count, last_login or last_ip at all
        elif activity < 0.08:
            logins = 0
        else:
            # Heavy-tailed: most users sign in a few times, a few thousands of times.
            logins = min(int(rng.paretovariate(0.9)), 25_000)
            last_login = created + int(rng.random() * (last_ms - created))
        updated = max(created, last_login or created) + int(rng.random() * 3_600_000)
        profile["updated_at"] = _iso(updated)
        profile["user_id"] = user_id

        if rng.random() < 0.85:
            plan = pick(PLANS)
            app_metadata: dict[str, Any] = {"plan": plan, "country": pick(COUNTRIES)}
            roles = [role for role in ROLES if rng.random() < 0.18]
            app_metadata["roles"] = roles
            if plan == "enterprise":
                app_metadata["seats"] = rng.randrange(5, 500)
                app_metadata["billing"] = {"annual": rng.random() < 0.5, "discount": 0.15}
            profile["app_metadata"] = app_metadata
        if rng.random() < 0.75:
            given_consent = rng.random() < 0.8
            user_metadata: dict[str, Any] = {
                "consent": {
                    "given": given_consent,
                    "date": _iso(created)[:10],
                    "text_details": pick(CONSENT_TEXTS),
                },
                "preferences": {"language": pick(LANGUAGES), "newsletter": rng.random() < 0.4},
            }
            if rng.random() < 0.3:
                user_metadata["preferences"]["theme"] = pick(THEMES)
            if rng.random() < 0.05:
                user_metadata["bio"] = pick(BIOS)
            if rng.random() < 0.1:
                user_metadata["addresses"] = [
                    {"city": "Paris", "zip": "75001"},
                    {"city": "Lyon", "zip": "69001", "primary": False},
                ]
            if rng.random() < 0.03:
                user_metadata["score"] = round(rng.random() * 10, 2)
                user_metadata["deleted_reason"] = None
            profile["user_metadata"] = user_metadata

        if last_login is not None:
            ip_prefix = pick(USER_AGENT_IPS)
            profile["last_ip"] = (
                f"{ip_prefix}{rng.randrange(1, 255)}"
                if not ip_prefix.endswith("::")
                else f"{ip_prefix}{rng.getrandbits(16):x}"
            )
            profile["last_login"] = _iso(last_login)
        if logins is not None:
            profile["logins_count"] = logins
        blocked = rng.random()
        if blocked < 0.02:
            profile["blocked"] = True
        elif blocked < 0.05:
            profile["blocked"] = False
        yield seed_shapes.reshape(profile, index)


def generate_users(
    n: int,
    seed: int,
    start: int = 0,
    *,
    seeded_ms: int | None = None,
    support_seed: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Profiles number `start` .. `start + n - 1` of the tenant seeded with `seed` at `seeded_ms`
    (epoch ms; now by default), whose support cases come from `support_seed` (`seed`)."""
    if seeded_ms is None:
        seeded_ms = int(time.time() * 1000)
    cases = seed if support_seed is None else support_seed
    shift_ms = date_shift_ms(seeded_ms)
    end = start + n
    block = (start // CHUNK) * CHUNK
    while block < end:
        first = max(block, start)
        chunk = _chunk_users(seed, block, min(CHUNK, end - block), shift_ms)
        for offset, profile in enumerate(chunk):
            if block + offset >= first:
                seed_support.recent_sign_in(cases, seeded_ms, profile)
                yield profile
        block += CHUNK


@dataclass(frozen=True)
class SeedResult:
    users: int
    terms: int
    seconds: float


def ensure_connections() -> None:
    """The tenant's four connections, created or reset to their seeded values."""
    for position, (con_id, name, display, strategy, options, domain) in enumerate(CONNECTIONS):
        Connection.objects.using(SANDBOX_DB).update_or_create(
            name=name,
            defaults={
                "id": con_id,
                "display_name": display,
                "strategy": strategy,
                "options": options,
                "is_domain_connection": domain,
                "position": position,
            },
        )


_USER_TABLE = TenantUser._meta.db_table
_TERM_TABLE = SearchTerm._meta.db_table
_QUEUE_TABLE = IndexQueue._meta.db_table
_META_TABLE = TenantMeta._meta.db_table
# Tables that hang off users: emptied with them.
_SUPPORT_TABLES = tuple(
    model._meta.db_table
    for model in (UserBlock, AuthenticationMethod, RefreshToken, UserSession, Ticket, LogEvent)
) + tuple(m._meta.db_table for m in (UserRole, UserPermission, Membership))


def _insert(model: Any, columns: str) -> str:
    marks = ", ".join("?" * len(columns.split(",")))
    return f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({marks})"  # noqa: S608


_SUPPORT_INSERTS = (
    ("blocks", _insert(UserBlock, "user_id, identifier, ip, connection, created_at")),
    ("methods", _insert(AuthenticationMethod, "id, user_id, type, body")),
    ("sessions", _insert(UserSession, "id, user_id, body")),
    ("tokens", _insert(RefreshToken, "id, user_id, session_id, body")),
    *seed_access.INSERTS,
)
_USER_INSERT = (
    f"INSERT INTO {_USER_TABLE} (id, user_id, email, profile, searchable, {', '.join(S_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(['?'] * (5 + len(S_COLUMNS)))})"
)
# A block's terms travel as one JSON array of [user pk, path, value] and SQLite unpacks it: far
# cheaper than pickling ten rows a user as tuples and binding them one by one.
_TERM_INSERT = (
    f"INSERT INTO {_TERM_TABLE} (user_id, path, value) "  # noqa: S608
    "SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)"
)


def _secondary_indexes(raw: sqlite3.Connection) -> list[tuple[str, str]]:
    return raw.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN (?, ?) ORDER BY name",
        (_USER_TABLE, _TERM_TABLE),
    ).fetchall()


Rows = tuple[list[tuple[Any, ...]], bytes, int, seed_support.SupportRows]
# (seed, first user number, count, support seed, seeding time in epoch ms)
Task = tuple[int, int, int, int, int]


def _rows(task: Task) -> Rows:
    """The user rows of users number `start` .. `start + count - 1` (pk = number + 1), their
    term rows as a JSON array for `_TERM_INSERT`, how many terms that is, and their support
    rows (blocks, MFA methods, sessions, refresh tokens) for the few with a support case."""
    seed, start, count, support_seed, seeded_ms = task
    user_rows: list[tuple[Any, ...]] = []
    term_rows: list[tuple[int, str, str]] = []
    support = seed_support.SupportRows()
    generated = generate_users(
        count, seed, start=start, seeded_ms=seeded_ms, support_seed=support_seed
    )
    for pk, profile in enumerate(generated, start=start + 1):
        seed_support.add_rows(support, support_seed, pk, profile, seeded_ms)
        user_rows.append(
            (
                pk,
                profile["user_id"],
                profile.get("email"),
                orjson.dumps(profile).decode(),
                1,
                *search_columns(profile),
            )
        )
        term_rows += [(pk, path, value) for path, value in search_terms(profile)]
    return user_rows, orjson.dumps(term_rows), len(term_rows), support


def _blocks(seed: int, start: int, n: int, support_seed: int, seeded_ms: int) -> list[Task]:
    tasks = []
    position = start
    while position < start + n:
        end = min((position // CHUNK + 1) * CHUNK, start + n)
        tasks.append((seed, position, end - position, support_seed, seeded_ms))
        position = end
    return tasks


def tenant_seed() -> tuple[int, int, int] | None:
    """The support seed, seeding time (epoch ms) and last seeded user pk of the tenant."""
    meta = dict(TenantMeta.objects.using(SANDBOX_DB).values_list("key", "value"))
    if "seed" not in meta:
        return None
    return int(meta["seed"]), int(meta["seeded_ms"]), int(meta.get("seeded_pk", 0))


def _generated(tasks: list[Task], workers: int) -> Iterator[Rows]:
    if workers <= 1 or len(tasks) < 2:
        yield from map(_rows, tasks)
        return
    # Blocks are generated in worker processes while this one writes; imap keeps their order.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(_rows, tasks)


def seed_users(
    n: int,
    seed: int,
    *,
    append: bool = False,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> SeedResult:
    """Replace the tenant's users with `n` seeded ones (or add them with `append`)."""
    started = time.perf_counter()
    say = progress or (lambda message: None)
    ensure_connections()
    seed_access.ensure_catalogue()
    db = connections[SANDBOX_DB]
    db.ensure_connection()
    raw: sqlite3.Connection = db.connection
    first_id = 1
    existing = 0
    if append:
        first_id = (raw.execute(f"SELECT max(id) FROM {_USER_TABLE}").fetchone()[0] or 0) + 1  # noqa: S608
        existing = raw.execute(f"SELECT count(*) FROM {_USER_TABLE}").fetchone()[0]  # noqa: S608
    # Rebuilding indexes after the load is much faster than maintaining them row by row, unless
    # a few users join a big tenant.
    rebuild = n > existing // 4
    # Inside a caller's transaction (tests) the journal cannot change; load within it.
    own_transaction = not raw.in_transaction
    # Index rebuilds read the whole table once per index: keep it in memory, not in syscalls.
    raw.execute("PRAGMA cache_size = -2000000")
    raw.execute("PRAGMA mmap_size = 2147418112")
    raw.execute("PRAGMA threads = 2")
    foreign_keys = raw.execute("PRAGMA foreign_keys").fetchone()[0]
    if own_transaction:
        # Every table that refers to users is emptied with them: without the per-row foreign key
        # checks SQLite empties a table at once instead of row by row.
        raw.execute("PRAGMA foreign_keys = OFF")
        raw.execute("PRAGMA synchronous = OFF")
        # When another process holds the database the journal stays WAL: slower, still right.
        with contextlib.suppress(sqlite3.OperationalError):
            raw.execute("PRAGMA journal_mode = OFF")
    terms = 0
    done = 0
    try:
        if own_transaction:
            raw.execute("BEGIN IMMEDIATE")
        # Indexes go first: the old users need not be taken out of them one by one.
        indexes = _secondary_indexes(raw) if rebuild else []
        for name, _ in indexes:
            raw.execute(f'DROP INDEX "{name}"')
        if not append:
            for table in (*_SUPPORT_TABLES, _META_TABLE, _QUEUE_TABLE, _TERM_TABLE, _USER_TABLE):
                raw.execute(f"DELETE FROM {table}")  # noqa: S608
        meta = dict(raw.execute(f"SELECT key, value FROM {_META_TABLE}").fetchall())  # noqa: S608
        if "seed" in meta:
            # Appended users get their support cases from the tenant's first seed.
            support_seed, seeded_ms = int(meta["seed"]), int(meta["seeded_ms"])
        else:
            support_seed, seeded_ms = seed, int(faults.now().timestamp() * 1000)
            raw.executemany(
                f"INSERT INTO {_META_TABLE} (key, value) VALUES (?, ?)",  # noqa: S608
                [("seed", str(support_seed)), ("seeded_ms", str(seeded_ms))],
            )
        tasks = _blocks(seed, first_id - 1, n, support_seed, seeded_ms)
        generated = _generated(tasks, workers or os.cpu_count() or 1)
        for user_rows, term_json, term_count, support in generated:
            raw.executemany(_USER_INSERT, user_rows)
            raw.execute(_TERM_INSERT, (term_json.decode(),))
            for name, sql in _SUPPORT_INSERTS:
                raw.executemany(sql, getattr(support, name))
            terms += term_count
            done += len(user_rows)
            if done % 100_000 < CHUNK:
                say(f"  {done:,} users in {time.perf_counter() - started:.1f}s")
        if indexes:
            say(f"  rebuilding {len(indexes)} indexes ({time.perf_counter() - started:.1f}s)")
        for _, sql in indexes:
            raw.execute(sql)
        # Users up to this pk are seeded ones (their log history is made on read).
        raw.execute(
            f"INSERT OR REPLACE INTO {_META_TABLE} (key, value) VALUES ('seeded_pk', ?)",  # noqa: S608
            (str(first_id - 1 + n),),
        )
        if own_transaction:
            raw.execute("COMMIT")
    except BaseException:
        if own_transaction and raw.in_transaction:
            raw.execute("ROLLBACK")
        raise
    finally:
        if own_transaction:
            raw.execute("PRAGMA journal_mode = WAL")
            raw.execute("PRAGMA synchronous = NORMAL")
            raw.execute(f"PRAGMA foreign_keys = {int(foreign_keys)}")
    # Statistics let SQLite's planner tell a selective index from a useless one.
    say(f"  analyzing ({time.perf_counter() - started:.1f}s)")
    # Exact for the users table: with sampled figures SQLite takes `searchable = 1` for a
    # selective seek on any (searchable, column) index and walks a million rows at random.
    raw.execute("PRAGMA analysis_limit = 0")
    raw.execute(f"ANALYZE {_USER_TABLE}")
    raw.execute("PRAGMA analysis_limit = 1000")
    raw.execute(f"ANALYZE {_TERM_TABLE}")
    return SeedResult(users=n, terms=terms, seconds=time.perf_counter() - started)
