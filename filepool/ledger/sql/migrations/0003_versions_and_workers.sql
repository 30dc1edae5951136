-- What decides that a version was moved outlives retention, a task message's destination is part of its
-- identity, and workers say who they are.

-- A file version's identity: its route (job), path, size, mtime and destination; kept as a 16-byte SHA-256
-- prefix once its row is pruned (filepool_moved). The destination is in it because two task messages may send
-- one source version to two places: each is its own transfer. (For routes the destination follows from the
-- path, so it changes nothing there.)
-- Every part is length-prefixed, numbers in their binary form: no separator to collide with, and no dependence
-- on a session's extra_float_digits. convert_to() is only STABLE in PostgreSQL's catalogue; with the database's
-- encoding fixed it is immutable, which a generated column needs.
CREATE FUNCTION filepool_version_key(job text, source_path text, size bigint, mtime double precision,
                                     destination text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT substring(sha256(
        int4send(octet_length(job)) || convert_to(job, 'UTF8')
        || int4send(octet_length(source_path)) || convert_to(source_path, 'UTF8')
        || int8send(size) || float8send(mtime)
        || int4send(octet_length(destination)) || convert_to(destination, 'UTF8')) FOR 16)
$$;

-- A source path that is not UTF-8 (a file name in Latin-1, say): `source_path` holds it with the bytes that are
-- not UTF-8 percent-encoded (as PostgreSQL text can hold it, and as shown to users), `source_bytes` the path
-- exactly, to open the file. NULL for every other path.
ALTER TABLE filepool_files ADD COLUMN source_bytes bytea;

-- A version is unique with its destination. The path leads: the same index finds a file's rows whatever their
-- route (one file's life in docs/LEDGER.md; the rows that read one source version, migration 0004). Every index
-- costs each claim, heartbeat and completion an insert per row (no update here is HOT): this one replaces the
-- old one rather than joining it, and keys in path order keep those inserts on few pages, where a hash key
-- (tried) scattered them over the whole index and cost a fifth of the claims' rate at 1 million rows.
ALTER TABLE filepool_files DROP CONSTRAINT filepool_files_job_source_path_size_mtime_key;
ALTER TABLE filepool_files ADD CONSTRAINT filepool_files_version UNIQUE (source_path, size, mtime, job, destination);

-- Versions moved and since pruned from filepool_files: retention shrinks a COMPLETED row to this key, so a file
-- still at the source is never moved again. About 60 bytes a version with its index.
CREATE TABLE filepool_moved (
    version_key  bytea PRIMARY KEY,
    completed_at timestamptz NOT NULL
);

-- Workers: one row per task try, kept alive by its heartbeat (which also renews the leases of its
-- files: a file's lease_until is what claims and the stale-lock clean-up both go by). host, pid_namespace, pid
-- and process_start identify the process, so a dead one is recognised at once on its own host, and a live one
-- in another container with the same host name never is.
CREATE TABLE filepool_workers (
    name          text PRIMARY KEY,
    host          text,
    pid_namespace text,
    pid           integer,
    process_start text,
    started_at    timestamptz NOT NULL DEFAULT now(),
    alive_until   timestamptz NOT NULL
);
