"""What `pip install airflow-provider-filepool` brings: every distribution the code imports, every provider whose
connection type the README has users create, and requirements.txt pinning that same list."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503: prometheus_client is prometheus-client


def _name(requirement: str) -> str:
    return _canonical(re.split(r"[<>=!\[; ]", requirement.strip(), maxsplit=1)[0])


def install_requires() -> set[str]:
    tree = ast.parse((REPO / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.keyword) and n.arg == "install_requires")
    return {_name(ast.literal_eval(e)) for e in call.value.elts}  # type: ignore[attr-defined]


def pinned() -> set[str]:
    lines = (REPO / "requirements.txt").read_text().splitlines()
    return {_name(line) for line in lines if line.strip() and not line.startswith("#")}


def imported_distributions() -> set[str]:
    modules: set[str] = set()
    for path in (REPO / "filepool").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module)
    found: set[str] = set()
    owners = packages_distributions()
    for module in modules:
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top == "filepool":
            continue
        if module.startswith("airflow.providers.common."):  # common.compat is apache-airflow-providers-common-compat
            found.add("apache-airflow-providers-common-" + module.split(".")[3].replace("_", "-"))
        elif module.startswith("airflow.providers."):  # one distribution per provider
            found.add("apache-airflow-providers-" + module.split(".")[2].replace("_", "-"))
        elif top == "airflow":  # airflow.sdk, airflow.configuration: the distributions apache-airflow brings
            found.add("apache-airflow")
        else:
            found |= {_canonical(d) for d in owners[top]}
    return found


def test_every_imported_distribution_is_declared() -> None:
    assert imported_distributions() - install_requires() == set()


def test_the_providers_of_the_connection_types_users_create_are_declared() -> None:
    for provider in ("sftp", "ftp", "standard", "amazon", "postgres", "docker", "apache-kafka"):
        assert f"apache-airflow-providers-{provider}" in install_requires()


def test_requirements_pin_what_setup_declares() -> None:
    assert install_requires() - pinned() == set()
    assert pinned() - install_requires() == {"apache-airflow-providers-ssh"}  # sftp's own dependency, pinned
