"""The product's settings hold only the product; the sandbox tenant has settings
of its own (sandbox/settings.py, the product's plus the sandbox), which manage.py picks for the
sandbox's commands, and the product imports nothing of the sandbox. (`check --deploy` under the
product's settings alone: tests/config/test_ops.py.)"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from tests.fixtures.processes import ROOT, embedded_env, manage, python

PRODUCT_FOLDERS = ("config", "staff", "users_admin", "exports", "management_api", "ops")

SETTINGS_SUMMARY = (
    "import json\n"
    "from django.conf import settings as s\n"
    "print(json.dumps({\n"
    "    'apps': [a for a in s.INSTALLED_APPS if a.split('.')[0] == 'sandbox'],\n"
    "    'databases': sorted(s.DATABASES), 'routers': s.DATABASE_ROUTERS,\n"
    "    'sandbox_settings': sorted(n for n in dir(s) if n.startswith('SANDBOX_')),\n"
    "    'upstream': [\n"
    "        s.AUTH0_BASE_URL, s.AUTH0_DOMAIN, s.AUTH0_CLIENT_ID, s.AUTH0_CLIENT_SECRET,\n"
    "    ],\n"
    "    'sandbox': [\n"
    "        f'http://{s.SANDBOX_HOST}:{s.SANDBOX_PORT}', s.SANDBOX_DOMAIN,\n"
    "        s.SANDBOX_CLIENT_ID, s.SANDBOX_CLIENT_SECRET,\n"
    "    ] if hasattr(s, 'SANDBOX_HOST') else None,\n"
    "}))"
)


def summary(tmp_path: Path, module: str, **env: str) -> dict[str, object]:
    result = python(embedded_env(tmp_path, DJANGO_SETTINGS_MODULE=module, **env), SETTINGS_SUMMARY)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_products_settings_hold_no_sandbox_app_database_or_setting(tmp_path: Path) -> None:
    product = summary(tmp_path, "config.settings")
    assert product["apps"] == []
    assert product["databases"] == ["default"]
    assert product["routers"] == []
    assert product["sandbox_settings"] == []
    # With AUTH0_DOMAIN unset its upstream is still the bundled sandbox, at its default address.
    assert product["upstream"] == [
        "http://127.0.0.1:8001",
        "userdesk-sandbox.sandbox.local",
        "sandbox-client-id",
        "sandbox-client-secret",
    ]


def test_the_sandbox_settings_add_the_sandbox_and_agree_with_the_products_upstream(
    tmp_path: Path,
) -> None:
    moved = {
        "SANDBOX_PORT": "9123",
        "SANDBOX_TENANT": "acme-demo",
        "SANDBOX_CLIENT_ID": "another-id",
        "SANDBOX_CLIENT_SECRET": "another-secret",
    }
    sandbox = summary(tmp_path, "sandbox.settings", **moved)
    assert sandbox["apps"] == ["sandbox"]
    assert sandbox["databases"] == ["default", "sandbox"]
    assert sandbox["routers"] == ["sandbox.routers.SandboxRouter"]
    assert "SANDBOX_SEARCH_LAG_SECONDS" in sandbox["sandbox_settings"]  # type: ignore[operator]
    expected = ["http://127.0.0.1:9123", "acme-demo.sandbox.local", "another-id", "another-secret"]
    assert sandbox["sandbox"] == expected
    # The product, reading the same variables, points at that very sandbox.
    assert summary(tmp_path, "config.settings", **moved)["upstream"] == expected


def test_no_product_module_imports_the_sandbox() -> None:
    offenders = []
    for folder in PRODUCT_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                else:
                    continue
                if any(name.split(".")[0] == "sandbox" for name in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_the_sandbox_commands_run_under_the_sandbox_settings_whatever_the_environment_says(
    tmp_path: Path,
) -> None:
    env = embedded_env(tmp_path)  # DJANGO_SETTINGS_MODULE=config.settings, as for the product
    faults = manage(env, "sandbox_faults")
    assert faults.returncode == 0, faults.stderr
    assert "latency_ms" in faults.stdout
    identities = manage(env, "sandbox_identities")
    assert identities.returncode == 0, identities.stderr
    lines = [json.loads(line) for line in identities.stdout.splitlines()]
    assert {line["email"] for line in lines} >= {"exports@userdesk.local", "blocked@userdesk.local"}
    assert next(line for line in lines if line["email"] == "blocked@userdesk.local")["blocked"]
    # The product's own settings do not know the sandbox's commands at all.
    refused = manage(env, "sandbox_faults", "--settings=config.settings")
    assert refused.returncode != 0
    assert "Unknown command: 'sandbox_faults'" in refused.stderr


def test_seeding_if_empty_leaves_a_seeded_tenant_alone(tmp_path: Path) -> None:
    env = embedded_env(tmp_path)
    first = manage(env, "sandbox_seed", "--if-empty", "--users", "5", "--seed", "2")
    assert first.returncode == 0, first.stderr
    assert "Seeded 5 users" in first.stdout
    again = manage(env, "sandbox_seed", "--if-empty", "--users", "9")
    assert again.returncode == 0, again.stderr
    assert "already has users; not seeding it again" in again.stdout
    assert "Seeded" not in again.stdout
