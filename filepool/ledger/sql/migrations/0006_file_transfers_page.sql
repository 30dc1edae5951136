-- What the File transfers page reads, kept so that it answers in milliseconds whatever the ledger's size
-- (bench/page_queries.py: counting a million rows took 1.3 s, a substring search 0.3 s).
--
-- Counters: files and bytes per route, DAG and status, and completions per minute. Claims must not wait on a
-- counter: a trigger that updated one row per route and status would make every worker of a route queue on that
-- row. Instead each statement that changes filepool_files appends its net change to filepool_page_changes (no
-- index, no lock on anything shared), and filepool_fold_page_changes() moves what has accumulated into the two
-- totals tables; readers add the totals and the changes not yet folded.
--
-- Paths: a copy of each file's route and source path with a trigram index, for searches by any part of a path.
-- Paths never change, so the copy is written once, when a file is registered: the claims and completions that
-- update filepool_files over and over never touch a trigram index (each update of a row indexed by trigrams
-- would add some thirty index entries).

CREATE TABLE filepool_route_counts (
    job     text NOT NULL,
    dag_id  text NOT NULL,   -- '' for files moved outside Airflow
    status  text NOT NULL,
    files   bigint NOT NULL,
    bytes   bigint NOT NULL,  -- of the files' sizes (a refused task message has none)
    PRIMARY KEY (job, dag_id, status)
);

CREATE TABLE filepool_completions (
    job     text NOT NULL,
    dag_id  text NOT NULL,
    minute  timestamptz NOT NULL,  -- completed_at, to the minute
    files   bigint NOT NULL,
    bytes   bigint NOT NULL,       -- bytes transferred
    PRIMARY KEY (minute, job, dag_id)
);

-- Two kinds of row: a change of counts has a status and no minute; a batch of completions has a minute and no
-- status.
CREATE TABLE filepool_page_changes (
    job     text NOT NULL,
    dag_id  text NOT NULL,
    status  text,
    minute  timestamptz,
    files   bigint NOT NULL,
    bytes   bigint NOT NULL
);

CREATE TABLE filepool_paths (
    file_id     bigint PRIMARY KEY,
    job         text NOT NULL,
    source_path text NOT NULL
);

CREATE FUNCTION filepool_note_page_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO filepool_paths (file_id, job, source_path) SELECT id, job, source_path FROM new_rows;
        INSERT INTO filepool_page_changes (job, dag_id, status, files, bytes)
        SELECT job, coalesce(dag_id, ''), status, count(*), sum(greatest(size, 0))
        FROM new_rows GROUP BY 1, 2, 3;
        INSERT INTO filepool_page_changes (job, dag_id, minute, files, bytes)
        SELECT job, coalesce(dag_id, ''), date_trunc('minute', completed_at), count(*),
               coalesce(sum(bytes_transferred), 0)
        FROM new_rows WHERE status = 'COMPLETED' AND completed_at IS NOT NULL GROUP BY 1, 2, 3;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM filepool_paths WHERE file_id IN (SELECT id FROM old_rows);
        INSERT INTO filepool_page_changes (job, dag_id, status, files, bytes)
        SELECT job, coalesce(dag_id, ''), status, -count(*), -sum(greatest(size, 0))
        FROM old_rows GROUP BY 1, 2, 3;
    ELSE
        -- Most updates (a lease renewed, a batch of claims) leave most groups as they were: only net changes. A
        -- file completed by this statement has completed_at = now(), the transaction's start (one statement per
        -- transaction on the engine's connections); one statement for both kinds of change, as each costs a claim.
        INSERT INTO filepool_page_changes (job, dag_id, status, minute, files, bytes)
        SELECT job, dag_id, status, NULL, sum(files), sum(bytes)
        FROM (SELECT job, coalesce(dag_id, '') AS dag_id, status, 1 AS files, greatest(size, 0) AS bytes
              FROM new_rows
              UNION ALL
              SELECT job, coalesce(dag_id, ''), status, -1, -greatest(size, 0) FROM old_rows) AS change
        GROUP BY 1, 2, 3
        HAVING sum(files) <> 0 OR sum(bytes) <> 0
        UNION ALL
        SELECT job, coalesce(dag_id, ''), NULL, date_trunc('minute', completed_at), count(*),
               coalesce(sum(bytes_transferred), 0)
        FROM new_rows WHERE status = 'COMPLETED' AND completed_at = now()
        GROUP BY 1, 2, 4;
    END IF;
    RETURN NULL;
END $$;

-- A statement trigger sees all the rows a statement changed at once (a batch of claims is one insert here).
-- PostgreSQL allows transition tables only on single-event triggers: one trigger per event.
CREATE TRIGGER filepool_page_inserts AFTER INSERT ON filepool_files
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION filepool_note_page_changes();
CREATE TRIGGER filepool_page_updates AFTER UPDATE ON filepool_files
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION filepool_note_page_changes();
CREATE TRIGGER filepool_page_deletes AFTER DELETE ON filepool_files
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION filepool_note_page_changes();

-- Fold the changes into the totals; one folder at a time (others return at once: the next fold takes what they
-- would have). Rows a transaction appends while this runs are not yet visible to it and stay for the next fold.
-- Completions older than `keep_days` days are dropped: the page charts hours. Returns the changes folded, or
-- NULL when another fold was running.
CREATE FUNCTION filepool_fold_page_changes(keep_days integer DEFAULT 7) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    folded bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('filepool_fold_page_changes')) THEN
        RETURN NULL;
    END IF;
    WITH taken AS (
        DELETE FROM filepool_page_changes RETURNING *
    ), counts AS (
        INSERT INTO filepool_route_counts AS c (job, dag_id, status, files, bytes)
        SELECT job, dag_id, status, sum(files), sum(bytes) FROM taken WHERE status IS NOT NULL GROUP BY 1, 2, 3
        ON CONFLICT (job, dag_id, status)
        DO UPDATE SET files = c.files + EXCLUDED.files, bytes = c.bytes + EXCLUDED.bytes
    ), completions AS (
        INSERT INTO filepool_completions AS c (job, dag_id, minute, files, bytes)
        SELECT job, dag_id, minute, sum(files), sum(bytes) FROM taken WHERE minute IS NOT NULL GROUP BY 1, 2, 3
        ON CONFLICT (minute, job, dag_id)
        DO UPDATE SET files = c.files + EXCLUDED.files, bytes = c.bytes + EXCLUDED.bytes
    )
    SELECT count(*) INTO folded FROM taken;
    DELETE FROM filepool_route_counts WHERE files = 0 AND bytes = 0;
    DELETE FROM filepool_completions WHERE minute < now() - make_interval(days => keep_days);
    RETURN folded;
END $$;

-- The ledger as it is now. The trigger is in place before this reads the table, and CREATE TRIGGER locks out
-- writers until this migration commits: no change is counted twice or missed.
INSERT INTO filepool_route_counts (job, dag_id, status, files, bytes)
SELECT job, coalesce(dag_id, ''), status, count(*), sum(greatest(size, 0)) FROM filepool_files GROUP BY 1, 2, 3;
INSERT INTO filepool_completions (job, dag_id, minute, files, bytes)
SELECT job, coalesce(dag_id, ''), date_trunc('minute', completed_at), count(*), coalesce(sum(bytes_transferred), 0)
FROM filepool_files
WHERE status = 'COMPLETED' AND completed_at >= now() - interval '7 days'
GROUP BY 1, 2, 3;
INSERT INTO filepool_paths (file_id, job, source_path) SELECT id, job, source_path FROM filepool_files;

-- Indexed once the paths are in (faster than growing the index row by row). pg_trgm ships with PostgreSQL
-- (contrib) and is a trusted extension: the ledger's owner may create it. Where it cannot be created the search
-- still works, reading the paths newest first without the index.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX filepool_paths_text ON filepool_paths USING gin (source_path gin_trgm_ops);
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm is not available (%): path searches read the paths without an index', SQLERRM;
END $$;
