"""The sandbox server runs under settings of its own, and nothing changes
`settings` at run time."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.fixtures.processes import ROOT, embedded_env, python


def test_the_sandbox_settings_start_from_the_products_and_serve_only_the_sandbox(
    tmp_path: Path,
) -> None:
    env = embedded_env(tmp_path, DJANGO_SETTINGS_MODULE="sandbox.settings")
    result = python(
        env,
        "from django.conf import settings\n"
        "print(settings.ROOT_URLCONF, settings.MIDDLEWARE, settings.DEBUG, "
        "settings.SANDBOX_TENANT, settings.EXPORT_STEP_ATTEMPTS)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == (
        "sandbox.urls ['django.middleware.common.CommonMiddleware', "
        "'sandbox.http.rate_limit_headers_middleware'] False userdesk-sandbox 12"
    )


def test_no_module_assigns_to_settings_at_run_time() -> None:
    offenders = []
    for folder in ("config", "exports", "management_api", "ops", "sandbox", "staff", "users_admin"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Assign):
                    continue
                targets = node.targets
                for target in targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "settings"
                    ):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
