-- What a listing could tell of a file's time. FTP LIST shows minutes, or days for a file over six months old, on
-- the server's clock (read with the connection's `timezone`); MLSD, SFTP and local disks give exact UTC. A file
-- listed one way and then another (the six-month boundary passed, a session fell back from MLSD to LIST, the
-- connection's timezone was edited) must stay the version it was: `canonical_mtimes` maps such a listing to the
-- version the ledger has, compared at the listing's precision (and, between two LIST times, on the server's own
-- clock), before anything is registered. NULL for an exact time.
ALTER TABLE filepool_files ADD COLUMN mtime_precision real, ADD COLUMN mtime_offset integer;

-- A pruned version listed by LIST is kept with what that comparison needs: its route, path, size and destination
-- hashed together (`filepool_path_key`), and its time as listed.
ALTER TABLE filepool_moved ADD COLUMN path_key bytea, ADD COLUMN mtime double precision,
    ADD COLUMN mtime_precision real, ADD COLUMN mtime_offset integer;
CREATE INDEX filepool_moved_path ON filepool_moved (path_key) WHERE path_key IS NOT NULL;

CREATE FUNCTION filepool_path_key(job text, source_path text, size bigint, destination text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT substring(sha256(
        int4send(octet_length(job)) || convert_to(job, 'UTF8')
        || int4send(octet_length(source_path)) || convert_to(source_path, 'UTF8')
        || int8send(size)
        || int4send(octet_length(destination)) || convert_to(destination, 'UTF8')) FOR 16)
$$;

-- Whether two times of one file agree: [a, a + a_precision) and [b, b + b_precision) overlap (an exact time
-- spans its second), in UTC; or, both read from LIST, on the server's own clock (a timezone edited in between
-- moves both offsets, not what the server showed).
CREATE FUNCTION filepool_same_time(a double precision, a_precision real, a_offset integer,
                                   b double precision, b_precision real, b_offset integer) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (a < b + greatest(coalesce(b_precision, 0), 1) AND b < a + greatest(coalesce(a_precision, 0), 1))
        OR (a_offset IS NOT NULL AND b_offset IS NOT NULL
            AND a + a_offset < b + b_offset + greatest(coalesce(b_precision, 0), 1)
            AND b + b_offset < a + a_offset + greatest(coalesce(a_precision, 0), 1))
$$;
