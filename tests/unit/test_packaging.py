"""What `pip install airflow-provider-filepool` brings: every distribution the code imports, every provider whose
connection type the README has users create, each optional feature in its extra (and nothing of them without
it), and requirements.txt pinning that same list."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

from filepool.extras import EXTRAS
from scripts.floors import literal

REPO = Path(__file__).resolve().parents[2]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503: prometheus_client is prometheus-client


def _name(requirement: str) -> str:
    return _canonical(re.split(r"[<>=!\[; ]", requirement.strip(), maxsplit=1)[0])


def install_requires() -> set[str]:
    wanted: list[str] = literal("install_requires")  # type: ignore[assignment]
    return {_name(r) for r in wanted}


def extras() -> dict[str, set[str]]:
    wanted: dict[str, list[str]] = literal("EXTRAS")  # type: ignore[assignment]
    return {extra: {_name(r) for r in requirements} for extra, requirements in wanted.items()}


def declared() -> set[str]:
    return install_requires().union(*extras().values())


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
        if module.startswith("airflow.providers."):
            found.add(provider_distribution(module))
        elif top == "airflow":  # airflow.sdk, airflow.configuration: the distributions apache-airflow brings
            found.add("apache-airflow")
        else:
            found |= {_canonical(d) for d in owners[top]}
    return found


def provider_distribution(module: str) -> str:
    """The provider a module is from: one distribution per provider, two levels deep in the `common` and
    `apache` namespaces (airflow.providers.common.compat, airflow.providers.apache.kafka)."""
    parts = module.split(".")[2:]
    name = parts[:2] if parts[0] in {"common", "apache"} else parts[:1]
    return "apache-airflow-providers-" + "-".join(name).replace("_", "-")


def airflow_brings() -> set[str]:
    """What Airflow's API server itself runs on (fastapi for the plugin's routes): not declared again."""
    return {_name(r) for r in requires("apache-airflow-core") or [] if "extra ==" not in r}


def test_every_imported_distribution_is_declared() -> None:
    assert "fastapi" in airflow_brings()
    assert imported_distributions() - declared() - airflow_brings() == set()


def test_each_optional_feature_is_an_extra_that_brings_the_module_it_loads() -> None:
    """filepool.extras names the module each extra brings; setup.py's extra of that name installs it, and the
    plain install does not."""
    owners = packages_distributions()
    assert set(EXTRAS) == set(extras())
    for extra, (module, _feature) in EXTRAS.items():
        if module.startswith("airflow.providers."):
            distribution = provider_distribution(module)
        else:
            distribution = _canonical(owners[module.split(".")[0]][0])
        assert distribution in extras()[extra], (extra, distribution)
        assert distribution not in install_requires(), (extra, distribution)


def test_the_providers_of_the_connection_types_users_create_are_declared() -> None:
    for provider in ("sftp", "ftp", "standard", "amazon", "postgres"):  # moving files
        assert f"apache-airflow-providers-{provider}" in install_requires()
    assert "apache-airflow-providers-docker" in extras()["docker"]  # the producer's hosts
    assert "apache-airflow-providers-apache-kafka" in extras()["kafka"]


def test_requirements_pin_what_setup_declares() -> None:
    assert declared() - pinned() == set()
    # sftp's own dependency, and amazon's boto3 pinned beside botocore
    assert pinned() - declared() == {"apache-airflow-providers-ssh", "boto3"}
