"""ProducerOperator: the producer image, run on the Docker engine named by an Airflow `docker` connection.

The stock DockerOperator takes the engine's URL and TLS files as arguments, and its `docker_conn_id` is a
*registry* login. Here one connection describes one remote host: host `tcp://web0:2376` (or host and port),
extra `tls_ca_cert`, `tls_client_cert`, `tls_client_key` (PEM text or file paths; the key may also sit in the
password field), `data_path`, the host's folder of date=YYYY-MM-DD/events.json, mounted read-only at /app/data,
and `logs_path`, the host's folder for the producer's log and reject files (writable by uid 10001, the image's
user), mounted at /app/logs so they outlive the container; the task's XCom names them with their host paths.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

try:
    from airflow.providers.docker.operators.docker import DockerOperator
except ImportError as exc:  # the producer DAGs' import error then names the extra to install
    from filepool.extras import missing

    raise missing("docker") from exc

from filepool.airflow_connections import Connection, read_connection
from filepool.allow import Guarded
from filepool.exceptions import ConnectionFailed, InvalidConfig
from filepool.settings import PRODUCER_IMAGE, PRODUCER_TOPIC

TLS_FIELDS = ("tls_ca_cert", "tls_client_cert", "tls_client_key")


class ProducerOperator(Guarded, DockerOperator):
    """
    Run ``python -m producer`` (the image's entrypoint) for one day's file on one remote Docker host.

    :param docker_host_conn_id: Airflow ``docker`` connection of the host (see the module doc).
    :param file: the input inside the container, e.g. ``/app/data/date={{ ds }}/events.json``.
    :param mode: ``batch`` or ``realtime``.
    :param topic: Kafka topic.
    :param brokers: KAFKA_BROKERS for the container (default: the Airflow Variable ``KAFKA_BROKERS``).
    :param speed: realtime replay speed-up.
    :param data_path: the host folder to mount at /app/data (default: the connection's ``data_path``).
    :param allowed: ``{"images": [...], "connections": [...]}`` a trigger form may choose beyond those written here
        and ``[filepool] producer_images`` / ``allowed_connections``. Not a template field.
    """

    template_fields: Sequence[str] = (*DockerOperator.template_fields, "data_path", "docker_host_conn_id")
    ALLOWED_FIELDS = {"connections": ("docker_host_conn_id",), "images": ("image",)}

    def __init__(
        self,
        *,
        docker_host_conn_id: str,
        file: str,
        mode: str = "batch",
        topic: str = PRODUCER_TOPIC,
        brokers: str = "{{ var.value.KAFKA_BROKERS }}",
        speed: float | str | None = None,
        data_path: str | None = None,
        image: str = PRODUCER_IMAGE,
        allowed: dict[str, list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        if mode not in {"batch", "realtime"}:
            raise InvalidConfig(f"mode must be batch or realtime, got {mode!r}")
        command = ["--file", file, "--mode", mode, "--topic", topic]
        if speed is not None:
            command += ["--speed", str(speed)]
        kwargs.setdefault("network_mode", "host")
        # Every line of the container's output: its closing summary is the last line on stdout, but a log line on
        # stderr may arrive after it on the attached stream.
        kwargs.setdefault("xcom_all", True)
        kwargs.setdefault("auto_remove", "success")
        super().__init__(
            image=image, command=command, environment={"KAFKA_BROKERS": brokers}, mount_tmp_dir=False, **kwargs
        )
        self.docker_host_conn_id = docker_host_conn_id
        self.data_path = data_path
        self.allowed = allowed

    def execute(self, context: Any) -> Any:
        from docker.types import Mount

        self.check_allowed(context)  # before the engine is reached: no image a trigger form made up runs
        conn = read_connection(self.docker_host_conn_id)
        self.docker_url = _engine_url(conn)
        data_path = self.data_path or conn.text("data_path")
        if not data_path:
            raise InvalidConfig(f"no data folder for {self.docker_host_conn_id!r}: set data_path in its extra")
        self.mounts = [Mount(source=data_path, target="/app/data", type="bind", read_only=True)]
        logs_path = conn.text("logs_path")
        if logs_path:
            self.mounts.append(Mount(source=logs_path, target=_LOGS, type="bind"))
        else:
            self.log.warning(
                "The producer's log and reject files stay in the container and go with it: set logs_path in "
                "connection %r's extra (a host folder uid 10001 may write) to keep them",
                self.docker_host_conn_id,
            )
        material = {name: conn.text(name) for name in TLS_FIELDS}
        if not material["tls_client_key"] and conn.password:
            material["tls_client_key"] = conn.password
        folder = tempfile.mkdtemp(prefix="filepool-docker-tls-")
        try:
            if any(material.values()):
                missing = [name for name, value in material.items() if not value]
                if missing:
                    raise InvalidConfig(
                        f"connection {self.docker_host_conn_id!r} has TLS material but lacks {', '.join(missing)}"
                    )
                paths = {name: _as_file(str(value), folder, name) for name, value in material.items()}
                self.tls_ca_cert, self.tls_client_cert = paths["tls_ca_cert"], paths["tls_client_cert"]
                self.tls_client_key = paths["tls_client_key"]
            elif _speaks_tls(self.docker_url):
                raise InvalidConfig(
                    f"the Docker engine at {self.docker_url} (connection {self.docker_host_conn_id!r}) accepts "
                    "TLS only: put tls_ca_cert, tls_client_cert and tls_client_key in the connection's extra"
                )
            self.log.info(
                "Running %s on %s (%s, data %s)",
                self.image,
                self.docker_url,
                "TLS" if any(material.values()) else "no TLS",
                data_path,
            )
            with _own_ca_only(any(material.values())):
                output = super().execute(context)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        summary = _closing_summary(output)
        if summary is None:
            return output[-1] if isinstance(output, list) and output else output
        return _on_host(summary, self.docker_host_conn_id, logs_path)


_LOGS = "/app/logs"


def _closing_summary(output: Any) -> dict[str, Any] | None:
    """The producer's closing summary: the last line of its output that ends in a JSON object. Ends in, not is:
    the operator reads stdout and stderr as one stream, and a stderr line whose newline came apart from it (print()
    writes the two apart, as older producer images did) has the summary glued behind it."""
    lines = output if isinstance(output, list) else [output]
    decoder = json.JSONDecoder()
    for line in reversed(lines):
        if isinstance(line, bytes):
            line = line.decode(errors="replace")
        if not isinstance(line, str):
            continue
        line = line.rstrip()
        start = line.find("{")
        while start >= 0:
            with contextlib.suppress(ValueError):
                found, end = decoder.raw_decode(line, start)
                if isinstance(found, dict) and end == len(line):
                    return found
            start = line.find("{", start + 1)
    return None


def _on_host(summary: Any, conn_id: str, logs_path: str | None) -> Any:
    """The producer's summary with its log and reject files named where they are kept: on the host of `conn_id`,
    in `logs_path`; or None where they went with the container."""
    if not isinstance(summary, dict):
        return summary
    for key in ("log_file", "reject_file"):
        path = summary.get(key)
        if isinstance(path, str):
            kept = logs_path and (path == _LOGS or path.startswith(_LOGS + "/"))
            summary[key] = f"{logs_path}{path[len(_LOGS) :]}" if kept else None
    summary["files_on_host"] = conn_id if logs_path else None
    return summary


@contextlib.contextmanager
def _own_ca_only(tls: bool) -> Iterator[None]:
    """Hide REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE while the Docker client runs: requests lets them override the CA
    a client sets (psf/requests#3829), so the engine's certificate would be checked against the system CAs and
    fail. The task runs in its own process; the variables come back afterwards."""
    hidden = {
        name: os.environ.pop(name) for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if tls and name in os.environ
    }
    try:
        yield
    finally:
        os.environ.update(hidden)


def _engine_url(conn: Connection) -> str:
    host = conn.host
    if not host:
        raise InvalidConfig(f"connection {conn.conn_id!r} has no host: set it to tcp://HOST:2376")
    if "://" in host:
        return str(host)
    return f"tcp://{host}:{conn.port or 2376}"


def _as_file(value: str, folder: str, name: str) -> str:
    """PEM text goes to a private file for the Docker client; a path is used as it is."""
    if value.lstrip().startswith("-----BEGIN"):
        path = os.path.join(folder, f"{name}.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(value)
        return path
    if not os.path.isfile(value):
        raise InvalidConfig(f"{name} is neither PEM text nor a readable file: {value}")
    return value


def _speaks_tls(url: str) -> bool:
    """Whether the engine answers a TLS handshake (it then refuses plain HTTP with an unhelpful error)."""
    parsed = urlparse(url.replace("tcp://", "https://", 1))
    if parsed.scheme != "https" or not parsed.hostname:
        return False
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with (
            socket.create_connection((parsed.hostname, parsed.port or 2376), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=parsed.hostname),
        ):
            return True
    except ssl.SSLError as exc:  # a TLS engine that wants a client certificate, or a plain one that is no TLS
        return "WRONG_VERSION_NUMBER" not in str(exc)
    except OSError as exc:
        raise ConnectionFailed(f"cannot reach the Docker engine at {url}: {exc}") from exc
