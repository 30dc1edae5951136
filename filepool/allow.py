"""What a filepool task may touch: the connections, buckets, folders, producer images and topics its DAG file or the
deployment allows. Anyone who may trigger a DAG can fill its form, its `--conf` or a task message; none of those
may point a task elsewhere.

Allowed are, for each kind:
- what the DAG file gives the operator as `allowed={"connections": [...], "buckets": [...], "paths": [...],
  "images": [...]}` (not a template field), and what it writes literally as the operator's own argument (a
  value that is not a template, on a task that is not mapped);
- what the deployment lists in `[filepool]`: `allowed_connections` (default `filepool_*`), `allowed_buckets`,
  `allowed_paths`, `producer_images` (default `tripclick-producer:*`), `allowed_topics` (the Kafka topics task
  messages are read from and answered on, default `ftp-*`); comma-separated.
Connection ids, buckets and images match as globs (`filepool_*`); a path is allowed inside an allowed folder.
Anything else fails with INVALID_CONFIG before anything moves.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from filepool.exceptions import InvalidConfig

KINDS = ("connections", "buckets", "paths", "images", "topics")


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@dataclass(frozen=True)
class Allowed:
    connections: tuple[str, ...] = ()
    buckets: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()

    @classmethod
    def of(cls, given: Mapping[str, Sequence[str]] | None, literals: Mapping[str, Iterable[str]] = {}) -> Allowed:
        """The DAG file's lists (`given`, and the operator's literal arguments) with the deployment's."""
        from filepool.settings import Settings

        settings = Settings.load()
        configured = {
            "connections": settings.allowed_connections,
            "buckets": settings.allowed_buckets,
            "paths": settings.allowed_paths,
            "images": settings.producer_images,
            "topics": settings.allowed_topics,
        }
        given = dict(given or {})
        unknown = set(given) - set(KINDS)
        if unknown:
            raise InvalidConfig(f"allowed takes {', '.join(KINDS)}; not {', '.join(sorted(unknown))}")
        lists: dict[str, tuple[str, ...]] = {}
        for kind in KINDS:
            lists[kind] = (*given.get(kind, ()), *literals.get(kind, ()), *configured[kind])
        return cls(**lists)

    def connection(self, conn_id: str, role: str) -> str:
        return self._match(conn_id, self.connections, f"{role} connection", "allowed_connections")

    def bucket(self, bucket: str) -> str:
        return self._match(bucket, self.buckets, "bucket", "allowed_buckets")

    def image(self, image: str) -> str:
        return self._match(image, self.images, "image", "producer_images")

    def topic(self, topic: str, role: str) -> str:
        return self._match(topic, self.topics, role, "allowed_topics")

    @staticmethod
    def _match(value: str, patterns: tuple[str, ...], what: str, key: str) -> str:
        if not any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns):
            raise InvalidConfig(
                f"{what} {value!r} is not allowed here: the DAG file's `allowed` or [filepool] {key} must name it"
            )
        return value

    def path(self, path: str, role: str) -> str:
        normal = posixpath.normpath(path) if path.startswith("/") else path
        inside = any(
            normal == posixpath.normpath(folder) or normal.startswith(posixpath.normpath(folder).rstrip("/") + "/")
            for folder in self.paths
        )
        if not inside:
            raise InvalidConfig(
                f"{role} {path!r} is not inside a folder allowed here: the DAG file's `allowed` or "
                "[filepool] allowed_paths must hold it"
            )
        return path


class Guarded:
    """For operators: `ALLOWED_FIELDS` names, per kind, the arguments to check; `allowed_here(context)` gives
    what this task may touch, with the arguments as the DAG file wrote them (before templates were rendered)."""

    ALLOWED_FIELDS: Mapping[str, tuple[str, ...]] = {}
    allowed: Mapping[str, Sequence[str]] | None = None

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        self._as_written = {name: getattr(self, name, None) for names in self.ALLOWED_FIELDS.values() for name in names}
        super().render_template_fields(context, jinja_env)  # type: ignore[misc]

    def allowed_here(self, context: Any) -> Allowed:
        ti = context.get("ti") if context else None
        # A mapped task's arguments come from its upstream tasks (and so from a trigger's conf): none is literal.
        # A task run outside Airflow (execute() called from code) was written as it runs.
        index = getattr(ti, "map_index", None)
        mapped = isinstance(index, int) and index >= 0
        names = [name for names in self.ALLOWED_FIELDS.values() for name in names]
        written = {} if mapped else getattr(self, "_as_written", {name: getattr(self, name, None) for name in names})
        literals = {
            kind: [v for name in fields if isinstance(v := written.get(name), str) and v and not is_template(v)]
            for kind, fields in self.ALLOWED_FIELDS.items()
        }
        return Allowed.of(self.allowed, literals)

    def check_allowed(self, context: Any) -> Allowed:
        """Refuse (INVALID_CONFIG) any argument of `ALLOWED_FIELDS` that is not allowed here."""
        allowed = self.allowed_here(context)
        for kind, fields in self.ALLOWED_FIELDS.items():
            for name in fields:
                value = getattr(self, name, None)
                if not value:
                    continue
                if kind == "connections":
                    allowed.connection(str(value), name)
                elif kind == "buckets":
                    allowed.bucket(str(value))
                elif kind == "paths":
                    allowed.path(str(value), name)
                elif kind == "topics":
                    allowed.topic(str(value), name)
                else:
                    allowed.image(str(value))
        return allowed
