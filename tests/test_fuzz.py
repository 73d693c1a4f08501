"""Schemathesis against both OpenAPI documents of a running server: no 5xx, no answer
that contradicts its schema, no malformed input accepted.

A bounded, seeded run on every test run: a fixed number of examples per
operation, the host's document with an API key that sees everything, and the
OGC document (public) on its core, process and job operations and three
collections (lines, points, an aggregate). ``make fuzz`` runs the longer
campaign: every operation of both documents, public and with a key, more
examples (``ONEMAP_FUZZ_EXAMPLES``, ``ONEMAP_FUZZ_FULL=1``).

The checks are schemathesis' ``not_a_server_error`` and
``response_schema_conformance``, and ``negative_data_rejection`` with the one
exception OGC API Features makes (``tests/fuzz_hooks.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spatial_api.app import create_app
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CHECKS = "not_a_server_error,response_schema_conformance,negative_data_rejection_ogc"
SEED = 20261204
EXAMPLES = int(os.environ.get("ONEMAP_FUZZ_EXAMPLES", "5"))
FULL = os.environ.get("ONEMAP_FUZZ_FULL") == "1"
ADMIN_KEY = "demo-admin-key"
#: The OGC operations of the bounded run (every one in the full campaign).
OGC_SUBSET = (r"^/(|conformance|collections|openapi|processes.*|jobs.*"
              r"|collections/(roads|addresses|population_blocks)(/.*)?)$")


def _st() -> str:
    exe = Path(sys.executable).with_name("st")
    found = str(exe) if exe.is_file() else shutil.which("st")
    assert found, "schemathesis is not installed (pip install -e '.[test]')"
    return found


@pytest.fixture(scope="module")
def base(demo_dir: Path) -> Iterator[str]:
    port = free_port()
    app = create_app(Settings(data_dir=demo_dir, host="127.0.0.1", port=port))
    with serve_in_thread(app, port) as url:
        yield url


def fuzz(url: str, report: Path, *extra: str) -> dict[str, Any]:
    """One schemathesis run; its JSON report (with the text output attached)."""
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [_st(), "run", url, "--checks", CHECKS, "--max-examples", str(EXAMPLES),
           "--seed", str(SEED), "--report", "json", "--report-json-path", str(report),
           "--no-color", *([] if FULL else ["--no-shrink"]), *extra]
    # cwd: schemathesis keeps a cache of the crashes it found in .schemathesis/ there.
    proc = subprocess.run(cmd, cwd=report.parent, env=env, capture_output=True, text=True,
                          timeout=3600, check=False)
    out: dict[str, Any] = json.loads(report.read_text()) if report.is_file() else {}
    out["returncode"] = proc.returncode
    out["output"] = proc.stdout[-20000:] + proc.stderr[-5000:]
    return out


def assert_clean(run: dict[str, Any]) -> None:
    cases = run.get("test_cases", {})
    print(f"\nschemathesis: {run.get('operations')} {cases} "
          f"in {run.get('running_time', 0):.0f} s")  # the record of the run (pytest -s)
    assert run["returncode"] == 0 and not run.get("failures") and not run.get("errors"), \
        run["output"]
    assert cases.get("generated", 0) > 0 and cases.get("errored", 0) == 0


ROLES = [[], ["-H", f"X-API-Key: {ADMIN_KEY}"]]


def _role(auth: list[str]) -> str:
    return "key" if auth else "public"


@pytest.mark.parametrize("auth", ROLES if FULL else ROLES[1:], ids=_role)
def test_fuzz_host(base: str, tmp_path: Path, auth: list[str]) -> None:
    assert_clean(fuzz(f"{base}/openapi.json", tmp_path / "host.json", *auth))


@pytest.mark.parametrize("auth", ROLES if FULL else ROLES[:1], ids=_role)
def test_fuzz_ogc(base: str, tmp_path: Path, auth: list[str]) -> None:
    subset = [] if FULL else ["--include-path-regex", OGC_SUBSET]
    assert_clean(fuzz(f"{base}/ogc/openapi?f=json", tmp_path / "ogc.json", *auth, *subset))
