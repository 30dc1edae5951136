"""Provider metadata Airflow reads through the `apache_airflow_provider` entry point."""

from __future__ import annotations

from typing import Any

from filepool import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-filepool",
        "name": "filepool",
        "description": "Exactly-once bulk file transfers between SFTP/FTP, S3-compatible storage and local disks.",
        "versions": [__version__],
        "operators": [
            {
                "integration-name": "filepool",
                "python-modules": [
                    "filepool.operators.sftp_to_minio",
                    "filepool.operators.ftp",
                    "filepool.operators.task_messages",
                    "filepool.operators.maintenance",
                    "filepool.operators.producer",
                    "filepool.operators.kafka_intake",
                ],
            },
        ],
        "connection-types": [
            {
                "hook-class-name": "filepool.hooks.FilepoolSFTPHook",
                "hook-name": "SFTP (filepool)",
                "connection-type": "filepool_sftp",
                "conn-fields": {
                    "host_key": {
                        "label": "Host key",
                        "schema": {"type": ["string", "null"]},
                        "description": "The server's public host key (ssh-ed25519 AAAA...), checked at every login; "
                        "or known_hosts below",
                    },
                    "known_hosts": {
                        "label": "known_hosts file",
                        "schema": {"type": ["string", "null"]},
                        "description": "A known_hosts file that holds the server's key (when no host key is given)",
                    },
                    "key_file": {
                        "label": "Private key file",
                        "schema": {"type": ["string", "null"]},
                        "description": "Path of a private key on the workers (or the password above)",
                    },
                    "private_key": {
                        "label": "Private key",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": "The private key itself (PEM or OpenSSH), kept as a secret",
                    },
                    "max_logins": {
                        "label": "Most logins at once",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                        "description": "Sessions open at once to this server over every task, worker and host",
                    },
                    "conn_timeout": {
                        "label": "Connect timeout (s)",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                        "description": "How long a login may take (10 s)",
                    },
                    "stall_seconds": {
                        "label": "Stall limit (s)",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                        "description": "A download that gets no data this long fails TRANSFER_STALLED "
                        "([filepool] stall_seconds, 120)",
                    },
                    "ciphers": {
                        "label": "Ciphers",
                        "schema": {"type": ["string", "null"]},
                        "description": "Comma-separated SSH ciphers to offer (AES-GCM first by default)",
                    },
                    "no_host_key_check": {
                        "label": "Do not check the host key",
                        "schema": {"type": ["boolean", "null"]},
                        "description": "Only where you accept a man-in-the-middle risk",
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": {"login": "Username"},
                    "placeholders": {"host": "sftp.example.com", "port": "22"},
                },
            },
            {
                "hook-class-name": "filepool.hooks.FilepoolFTPHook",
                "hook-name": "FTP/FTPS (filepool)",
                "connection-type": "filepool_ftp",
                "conn-fields": {
                    "tls": {
                        "label": "Explicit FTPS",
                        "schema": {"type": ["boolean", "null"]},
                        "description": "TLS on the control and data connections (AUTH TLS)",
                    },
                    "verify": {
                        "label": "Verify the server's certificate",
                        "schema": {"type": ["boolean", "null"], "default": True},
                        "description": "With FTPS (true by default)",
                    },
                    "ca_file": {
                        "label": "CA file",
                        "schema": {"type": ["string", "null"]},
                        "description": "A CA bundle that signed the server's certificate",
                    },
                    "passive": {
                        "label": "Passive mode",
                        "schema": {"type": ["boolean", "null"], "default": True},
                        "description": "Passive data connections (true by default)",
                    },
                    "timezone": {
                        "label": "Server's time zone",
                        "schema": {"type": ["string", "null"]},
                        "description": "The IANA zone of LIST times (e.g. Europe/Paris) on a server without MLSD",
                    },
                    "timeout": {
                        "label": "Timeout (s)",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                        "description": "For each answer of the server (30 s)",
                    },
                    "max_logins": {
                        "label": "Most logins at once",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                        "description": "Sessions open at once to this server over every task, worker and host",
                    },
                    "stall_seconds": {
                        "label": "Stall limit (s)",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                        "description": "A download that gets no data this long fails TRANSFER_STALLED "
                        "([filepool] stall_seconds, 120)",
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": {"login": "Username"},
                    "placeholders": {"host": "ftp.example.com", "port": "21"},
                },
            },
        ],
        "hooks": [{"integration-name": "filepool", "python-modules": ["filepool.hooks"]}],
        "triggers": [{"integration-name": "filepool", "python-modules": ["filepool.triggers.new_files"]}],
        # the transfer tasks' "File transfers" button: their route on the File transfers page
        "extra-links": ["filepool.operators.links.FileTransfersLink"],
        "config": {
            "filepool": {
                "description": "filepool transfer engine settings.",
                "options": {
                    "max_sessions_per_connection": {
                        "description": "Open sessions one task keeps per connection id (SFTP and FTP).",
                        "type": "integer",
                        "example": None,
                        "default": "8",
                        "version_added": "0.1.0",
                    },
                    "max_sessions_total": {
                        "description": "Sessions one task uses at once over all its connections.",
                        "type": "integer",
                        "example": None,
                        "default": "64",
                        "version_added": "0.1.0",
                    },
                    "lease_seconds": {
                        "description": "How long a claim holds a file before another worker may take it.",
                        "type": "integer",
                        "example": None,
                        "default": "300",
                        "version_added": "0.1.0",
                    },
                    "claim_batch": {
                        "description": "Files claimed by one statement.",
                        "type": "integer",
                        "example": None,
                        "default": "64",
                        "version_added": "0.1.0",
                    },
                    "max_attempts": {
                        "description": "Attempts per file before it stays FAILED.",
                        "type": "integer",
                        "example": None,
                        "default": "5",
                        "version_added": "0.1.0",
                    },
                    "retry_backoff_seconds": {
                        "description": "First retry delay; doubles with each attempt.",
                        "type": "integer",
                        "example": None,
                        "default": "60",
                        "version_added": "0.1.0",
                    },
                    "multipart_threshold_mb": {
                        "description": "Files at least this large go up as S3 multipart uploads.",
                        "type": "integer",
                        "example": None,
                        "default": "64",
                        "version_added": "0.1.0",
                    },
                    "part_size_mb": {
                        "description": "Multipart part size (grown when a file would need over 10,000 parts).",
                        "type": "integer",
                        "example": None,
                        "default": "16",
                        "version_added": "0.1.0",
                    },
                    "transfer_schedule": {
                        "description": "Cron expression of the transfer DAGs' data intervals "
                        "(filepool_sftp_to_minio, filepool_ftp_to_local): each run covers one interval, which "
                        "select_by partition or mtime turn into the files it moves (backfills by date).",
                        "type": "string",
                        "example": "0 0 * * *",
                        "default": "0 * * * *",
                        "version_added": "0.4.0",
                    },
                    "sftp_source_path": {
                        "description": "The SFTP folder filepool_sftp_to_minio sweeps when no route is given: its "
                        "trigger form's Source folder, and the folder of its scheduled runs.",
                        "type": "string",
                        "example": "/data/outgoing",
                        "default": "/data/outgoing",
                        "version_added": "0.6.0",
                    },
                    "watch_source_path": {
                        "description": "The SFTP folder filepool_sftp_to_minio_on_arrival watches (from the "
                        "triggerer, no worker slot held): new stable files there start a run within seconds.",
                        "type": "string",
                        "example": "/data/outgoing",
                        "default": "/data/outgoing",
                        "version_added": "0.5.0",
                    },
                    "watch_bucket": {
                        "description": "The bucket filepool_sftp_to_minio_on_arrival moves new files to.",
                        "type": "string",
                        "example": "landing",
                        "default": "landing",
                        "version_added": "0.5.0",
                    },
                    "watch_key_prefix": {
                        "description": "The key prefix of filepool_sftp_to_minio_on_arrival's objects.",
                        "type": "string",
                        "example": "incoming/",
                        "default": "",
                        "version_added": "0.5.0",
                    },
                    "watch_poll_seconds": {
                        "description": "How often the file watcher lists its folder (one SFTP session, kept).",
                        "type": "float",
                        "example": "5",
                        "default": "5",
                        "version_added": "0.5.0",
                    },
                    "watch_linger_seconds": {
                        "description": "How long a run of filepool_sftp_to_minio_on_arrival keeps claiming after "
                        "its queue ran dry, so that files arriving meanwhile move in it at once.",
                        "type": "float",
                        "example": "30",
                        "default": "30",
                        "version_added": "0.5.0",
                    },
                    "producer_hosts": {
                        "description": "Airflow docker connections, one per remote host, that the producer DAGs "
                        "run on (comma-separated).",
                        "type": "string",
                        "example": "docker_server0,docker_server1",
                        "default": "docker_server0,docker_server1",
                        "version_added": "0.2.0",
                    },
                    "producer_queue": {
                        "description": "The Celery queue (or executor queue) of the producer DAGs' tasks: give "
                        "it to the workers that hold the Docker hosts' client certificates, and only to them "
                        "(docker-compose.yaml's airflow-producer-worker). Empty: the default queue.",
                        "type": "string",
                        "example": "producer",
                        "default": "",
                        "version_added": "0.6.0",
                    },
                    "producer_start_date": {
                        "description": "First day filepool_producer_batch covers (YYYY-MM-DD).",
                        "type": "string",
                        "example": None,
                        "default": "2026-01-01",
                        "version_added": "0.2.0",
                    },
                    "producer_end_date": {
                        "description": "Last day filepool_producer_batch covers; empty: open-ended.",
                        "type": "string",
                        "example": "2026-02-01",
                        "default": "",
                        "version_added": "0.2.0",
                    },
                    "allowed_connections": {
                        "description": "Airflow connection ids (globs) a filepool task may use when they come "
                        "from a trigger form, --conf or a task message, beyond those its DAG file allows.",
                        "type": "string",
                        "example": "filepool_*,sftp_partner_*",
                        "default": "filepool_*",
                        "version_added": "0.3.0",
                    },
                    "allowed_buckets": {
                        "description": "Buckets (globs) a filepool task may write to when they come from a "
                        "trigger form or --conf, beyond those its DAG file allows.",
                        "type": "string",
                        "example": "landing,landing-*",
                        "default": "",
                        "version_added": "0.3.0",
                    },
                    "allowed_paths": {
                        "description": "Absolute folders on the servers whose files a filepool task may read or "
                        "write when paths come from a trigger form, --conf or a task message, beyond those its "
                        "DAG file allows.",
                        "type": "string",
                        "example": "/data/outgoing,/srv/exchange",
                        "default": "",
                        "version_added": "0.3.0",
                    },
                    "stall_seconds": {
                        "description": "A download that gets no part of its file (one read request, at most a "
                        "multipart part) for this long fails with TRANSFER_STALLED and is retried: a server that "
                        "answers keepalives but never a read, or sends a byte now and then, never holds a copy "
                        "thread and its file's lease for ever. A connection's extra may set its own.",
                        "type": "integer",
                        "example": None,
                        "default": "120",
                        "version_added": "0.6.0",
                    },
                    "max_folder_entries": {
                        "description": "The most entries one FTP folder's listing may have: a listing past it "
                        "fails that folder with LISTING_ERROR (the rest of the tree moves), so a listing that "
                        "never ends cannot fill a task's or the triggerer's memory (about 200 bytes an entry).",
                        "type": "integer",
                        "example": None,
                        "default": "500000",
                        "version_added": "0.6.0",
                    },
                    "kafka_consumer_group": {
                        "description": "The Kafka consumer group of the task-message intake. Two deployments "
                        "that share a broker and a topic need groups of their own, or each takes part of the "
                        "other's messages.",
                        "type": "string",
                        "example": "filepool-intake-prod",
                        "default": "filepool-intake",
                        "version_added": "0.6.0",
                    },
                    "allowed_topics": {
                        "description": "Kafka topics (globs) a task-message intake may read from or answer on "
                        "when they come from a trigger form or --conf, beyond those its DAG file allows.",
                        "type": "string",
                        "example": "ftp-*,partner-tasks",
                        "default": "ftp-*",
                        "version_added": "0.6.0",
                    },
                    "producer_images": {
                        "description": "Images (globs) the producer DAGs may run on the remote Docker hosts.",
                        "type": "string",
                        "example": "registry.example.com/tripclick-producer:*",
                        "default": "tripclick-producer:*",
                        "version_added": "0.3.0",
                    },
                    "allow_root_base_path": {
                        "description": "Let an fs connection whose base path is / (Airflow's fs_default) be "
                        "used: it opens the whole disk.",
                        "type": "boolean",
                        "example": None,
                        "default": "False",
                        "version_added": "0.3.0",
                    },
                    "ledger_conn_id": {
                        "description": "The Airflow postgres connection of the ledger that the File transfers "
                        "page and its API read.",
                        "type": "string",
                        "example": None,
                        "default": "filepool_ledger",
                        "version_added": "0.4.0",
                    },
                    "progress_interval_seconds": {
                        "description": "How often a transfer task logs its progress.",
                        "type": "integer",
                        "example": None,
                        "default": "10",
                        "version_added": "0.1.0",
                    },
                },
            }
        },
    }
