-- Named queries: each block starts with `-- name: NAME` and runs as ONE statement (two where the first takes a
-- lock that the second must run under: both run in one transaction).

-- name: register
-- Register discovered files idempotently: a version already in the ledger, or moved and since pruned (its key in
-- filepool_moved), is skipped. The shared lock orders this against retention, which takes it exclusively: a
-- version pruned while this runs is seen in filepool_moved (this second statement's snapshot comes after the
-- lock), never registered again. A file whose path reads as another file's of the route but whose bytes differ
-- (a name that is not UTF-8, escaped, beside one that spells that escape: filepool.names) would share its row and
-- destination: the later one is registered as a FAILED NAME_COLLISION row instead (only a path with a percent
-- sign can collide).
SELECT pg_advisory_xact_lock_shared(%(prune_lock)s);
WITH incoming AS (
    SELECT r.*, decode(r.source_bytes, 'base64') AS exact,
           filepool_version_key(%(job)s, r.source_path, r.size, r.mtime, r.destination) AS version_key
    FROM ROWS FROM (jsonb_to_recordset(%(files)s::jsonb)
             AS (source_path text, source_bytes text, size bigint, mtime double precision, destination text,
                 metadata jsonb, mtime_precision real, mtime_offset integer)) WITH ORDINALITY
        AS r(source_path, source_bytes, size, mtime, destination, metadata, mtime_precision, mtime_offset, n)
), colliding AS (
    SELECT i.n, i.source_path, i.destination FROM incoming i
    WHERE strpos(i.source_path, '%%') > 0
      AND (EXISTS (SELECT 1 FROM filepool_files f
                   WHERE f.source_path = i.source_path AND f.job = %(job)s AND f.size >= 0
                     AND f.source_bytes IS DISTINCT FROM i.exact)
           OR EXISTS (SELECT 1 FROM incoming o
                      WHERE o.source_path = i.source_path AND o.n < i.n AND o.exact IS DISTINCT FROM i.exact))
), inserted AS (
    INSERT INTO filepool_files (job, source_path, source_bytes, size, mtime, destination, metadata, dag_id,
                                mtime_precision, mtime_offset)
    SELECT %(job)s, source_path, exact, size, mtime, destination,
           coalesce(metadata, '{}'::jsonb), (SELECT dag_id FROM filepool_workers WHERE name = %(worker)s),
           nullif(mtime_precision, 0), mtime_offset
    FROM incoming i
    WHERE NOT EXISTS (SELECT 1 FROM filepool_moved m WHERE m.version_key = i.version_key)
      AND NOT EXISTS (SELECT 1 FROM colliding c WHERE c.n = i.n)
    ON CONFLICT (source_path, size, mtime, job, destination) DO NOTHING
    RETURNING id, source_path, size
), refused AS (
    INSERT INTO filepool_files (job, source_path, size, mtime, destination, status, error_code, error_message,
                                dag_id)
    SELECT DISTINCT ON (c.source_path) %(job)s, c.source_path, -1, 0, c.destination, 'FAILED', 'NAME_COLLISION',
           'another file of this route has the same name once its bytes that are not UTF-8 are escaped; both would '
           || 'be written to ' || c.destination || ': rename one of them at the source',
           (SELECT dag_id FROM filepool_workers WHERE name = %(worker)s)
    FROM colliding c
    ON CONFLICT (source_path, size, mtime, job, destination) DO NOTHING
    RETURNING id, error_message
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, 'discovered', %(worker)s, jsonb_build_object('path', source_path, 'size', size) FROM inserted
    UNION ALL
    SELECT id, 'rejected', %(worker)s, jsonb_build_object('error_code', 'NAME_COLLISION', 'error_message',
                                                          error_message)
    FROM refused
)
SELECT count(*) FROM inserted;

-- name: register_worker
-- A worker starts: who it is (to tell at once on its own host when its process is gone), the Airflow task try it
-- runs in (if any), and that it is alive.
INSERT INTO filepool_workers (name, host, pid_namespace, pid, process_start, alive_until,
                              dag_id, run_id, task_id, map_index, try_number)
VALUES (%(worker)s, %(host)s, %(pid_namespace)s, %(pid)s, %(process_start)s,
        now() + make_interval(secs => %(lease)s), %(dag_id)s, %(run_id)s, %(task_id)s, %(map_index)s,
        %(try_number)s)
ON CONFLICT (name) DO UPDATE
    SET host = EXCLUDED.host, pid_namespace = EXCLUDED.pid_namespace, pid = EXCLUDED.pid,
        process_start = EXCLUDED.process_start, alive_until = EXCLUDED.alive_until, dag_id = EXCLUDED.dag_id,
        run_id = EXCLUDED.run_id, task_id = EXCLUDED.task_id, map_index = EXCLUDED.map_index,
        try_number = EXCLUDED.try_number;

-- name: claim_start
-- Where a worker's first claim of a job starts (Ledger.claim_batch): a random place between the lowest and the
-- highest id of the job's files not yet COMPLETED (both read from the queue's index) when they span `spread_from`
-- ids or more; NULL (from the head, each time) for a smaller or empty queue.
SELECT CASE WHEN max(id) - min(id) >= %(spread_from)s
            THEN min(id) - 1 + floor(random() * (max(id) - min(id) + 1))::bigint END
FROM filepool_files
WHERE job = %(job)s AND status <> 'COMPLETED';

-- name: claim
-- Claim up to `limit` files of a job: new ones, files whose lease lapsed (their worker's heartbeat stopped, or
-- its process is known to be gone), and failed ones whose backoff has passed. The lease is read from the row
-- itself: a row another claim took while this one ran is re-read as last committed, with its new lease. A file
-- whose worker was lost on its last allowed attempt is not claimed again: it becomes FAILED with WORKER_LOST (a
-- file that kills its worker, by memory or by execution_timeout, would otherwise come back for ever).
-- `path_prefix`, `mtime_from` and `mtime_until` (NULL: any) keep the run of one data interval on its own files
-- (filepool/transfer/window.py). `after_id`: only files with a higher id (0: from the queue's head).
WITH picked AS (
    SELECT f.id, f.status AS prior_status, f.claimed_by AS prior_worker,
           f.status = 'IN_PROGRESS' AND f.attempts >= %(max_attempts)s AS lost
    FROM filepool_files f
    WHERE f.job = %(job)s
      AND f.id > %(after_id)s
      AND f.status <> 'COMPLETED'
      AND (f.status = 'DISCOVERED'
           OR (f.status = 'IN_PROGRESS' AND f.lease_until < now())
           OR (f.status = 'FAILED' AND f.next_attempt_at <= now()))
      AND (%(path_prefix)s::text IS NULL OR left(f.source_path, length(%(path_prefix)s)) = %(path_prefix)s)
      AND (%(mtime_from)s::float8 IS NULL OR f.mtime >= %(mtime_from)s)
      AND (%(mtime_until)s::float8 IS NULL OR f.mtime < %(mtime_until)s)
    ORDER BY f.id
    LIMIT %(limit)s
    FOR UPDATE OF f SKIP LOCKED
), claimed AS (
    UPDATE filepool_files f
    SET status = 'IN_PROGRESS', claimed_by = %(worker)s, lease_until = now() + make_interval(secs => %(lease)s),
        attempts = f.attempts + 1, started_at = now(), updated_at = now(),
        dag_id = coalesce((SELECT w.dag_id FROM filepool_workers w WHERE w.name = %(worker)s), f.dag_id)
    FROM picked
    WHERE f.id = picked.id AND NOT picked.lost
    RETURNING f.id, f.source_path, f.size, f.mtime, f.destination, f.attempts, f.upload_id, f.source_bytes,
              picked.prior_status, picked.prior_worker
), lost AS (
    UPDATE filepool_files f
    SET status = 'FAILED', error_code = 'WORKER_LOST', next_attempt_at = NULL, claimed_by = NULL,
        lease_until = NULL, updated_at = now(),
        error_message = format('its worker was lost on each of %%s attempts (killed, out of memory, or past '
                               'its execution_timeout?); the file is not tried again', f.attempts)
    FROM picked
    WHERE f.id = picked.id AND picked.lost
    RETURNING f.id, f.source_path, f.size, f.mtime, f.destination, f.attempts, f.error_message, f.source_bytes,
              picked.prior_worker
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, CASE WHEN prior_status = 'IN_PROGRESS' THEN 'reclaimed_after_lease_expired' ELSE 'claimed' END,
           %(worker)s, jsonb_build_object('attempt', attempts, 'previous_status', prior_status,
                                          'previous_worker', prior_worker)
    FROM claimed
    UNION ALL
    SELECT id, 'failed', %(worker)s,
           jsonb_build_object('error_code', 'WORKER_LOST', 'error_message', error_message, 'attempt', attempts,
                              'previous_worker', prior_worker)
    FROM lost
)
SELECT id, source_path, size, mtime, destination, attempts, upload_id, false, source_bytes FROM claimed
UNION ALL
SELECT id, source_path, size, mtime, destination, attempts, NULL, true, source_bytes FROM lost
ORDER BY 1;

-- name: heartbeat
-- Keep this worker and the leases of its files alive; returns the files it still holds, with their attempt: a
-- file another worker took over while this one's lease had lapsed is not among them (locking the rows re-reads
-- each as last committed, so a takeover that commits while this runs is seen). Every statement that changes
-- several rows locks them in id order first: a heartbeat and a batch of completions of one worker once
-- deadlocked on each other when their orders differed.
WITH alive AS (
    INSERT INTO filepool_workers (name, alive_until) VALUES (%(worker)s, now() + make_interval(secs => %(lease)s))
    ON CONFLICT (name) DO UPDATE SET alive_until = EXCLUDED.alive_until
), mine AS (
    SELECT id FROM filepool_files
    WHERE claimed_by = %(worker)s AND status = 'IN_PROGRESS'
    ORDER BY id
    FOR UPDATE
)
UPDATE filepool_files f
SET lease_until = now() + make_interval(secs => %(lease)s)
FROM mine WHERE f.id = mine.id
RETURNING f.id, f.attempts;

-- name: complete
-- Record a batch of finished files; only rows this worker still holds, on the same attempt, change: a worker
-- whose file was taken over (or claimed again) is fenced off.
WITH done AS (
    SELECT * FROM jsonb_to_recordset(%(results)s::jsonb)
        AS r(id bigint, attempt integer, bytes bigint, checksum text, checksum_algo text, etag text,
             read_seconds double precision, write_seconds double precision, total_seconds double precision,
             source_action text)
), locked AS (
    SELECT id FROM filepool_files WHERE id IN (SELECT id FROM done) ORDER BY id FOR UPDATE
), updated AS (
    UPDATE filepool_files f
    SET status = 'COMPLETED', bytes_transferred = done.bytes, checksum = done.checksum,
        checksum_algo = done.checksum_algo, etag = done.etag, read_seconds = done.read_seconds,
        write_seconds = done.write_seconds, total_seconds = done.total_seconds,
        error_code = NULL, error_message = NULL, claimed_by = NULL, lease_until = NULL,
        next_attempt_at = NULL, upload_id = NULL, source_action = done.source_action, completed_at = now(),
        updated_at = now()
    FROM done, locked
    WHERE f.id = done.id AND f.id = locked.id AND f.claimed_by = %(worker)s AND f.attempts = done.attempt
      AND f.status = 'IN_PROGRESS'
    RETURNING f.id, f.destination, done.bytes, done.checksum, done.total_seconds
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, 'completed', %(worker)s,
           jsonb_build_object('destination', destination, 'bytes', bytes, 'checksum', checksum,
                              'seconds', total_seconds)
    FROM updated
)
SELECT id FROM updated;

-- name: fail
-- Record a batch of failed files; `retry_in` NULL means no further attempt. Fenced like `complete`.
WITH failed AS (
    SELECT * FROM jsonb_to_recordset(%(failures)s::jsonb)
        AS r(id bigint, attempt integer, error_code text, error_message text, retry_in double precision)
), locked AS (
    SELECT id FROM filepool_files WHERE id IN (SELECT id FROM failed) ORDER BY id FOR UPDATE
), updated AS (
    UPDATE filepool_files f
    SET status = 'FAILED', error_code = failed.error_code, error_message = failed.error_message,
        next_attempt_at = now() + make_interval(secs => failed.retry_in),
        claimed_by = NULL, lease_until = NULL, updated_at = now()
    FROM failed, locked
    WHERE f.id = failed.id AND f.id = locked.id AND f.claimed_by = %(worker)s AND f.attempts = failed.attempt
      AND f.status = 'IN_PROGRESS'
    RETURNING f.id, f.attempts, failed.error_code, failed.error_message, f.next_attempt_at
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, 'failed', %(worker)s,
           jsonb_build_object('error_code', error_code, 'error_message', error_message,
                              'attempt', attempts, 'next_attempt_at', next_attempt_at)
    FROM updated
)
SELECT id FROM updated;

-- name: release
-- Give back files claimed but never started (a worker stopping early); the attempt is not counted.
WITH given AS (
    SELECT * FROM jsonb_to_recordset(%(files)s::jsonb) AS r(id bigint, attempt integer)
), locked AS (
    SELECT id FROM filepool_files WHERE id IN (SELECT id FROM given) ORDER BY id FOR UPDATE
), released AS (
    UPDATE filepool_files f
    SET status = 'DISCOVERED', claimed_by = NULL, lease_until = NULL, attempts = f.attempts - 1,
        updated_at = now()
    FROM given, locked
    WHERE f.id = given.id AND f.id = locked.id AND f.claimed_by = %(worker)s AND f.attempts = given.attempt
      AND f.status = 'IN_PROGRESS'
    RETURNING f.id
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker)
    SELECT id, 'released', %(worker)s FROM released
)
SELECT count(*) FROM released;

-- name: requeue_expired
-- Stale-lock clean-up: files whose lease lapsed (the same rule as `claim`) go back to the queue, with an event, a
-- bounded batch at a time; on its last allowed attempt a file becomes FAILED with WORKER_LOST instead.
-- `worker_gone` is the event of a file whose worker's process was found gone (its lease set to -infinity).
WITH expired AS (
    SELECT id, claimed_by, attempts >= %(max_attempts)s AS lost, lease_until = '-infinity' AS gone
    FROM filepool_files
    WHERE status = 'IN_PROGRESS' AND lease_until < now()
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), requeued AS (
    UPDATE filepool_files f
    SET status = CASE WHEN expired.lost THEN 'FAILED' ELSE 'DISCOVERED' END,
        error_code = CASE WHEN expired.lost THEN 'WORKER_LOST' ELSE f.error_code END,
        error_message = CASE WHEN expired.lost
            THEN format('its worker was lost on each of %%s attempts (killed, out of memory, or past its '
                        'execution_timeout?); the file is not tried again', f.attempts)
            ELSE f.error_message END,
        next_attempt_at = NULL, claimed_by = NULL, lease_until = NULL, updated_at = now()
    FROM expired WHERE f.id = expired.id
    RETURNING f.id, f.attempts, f.error_message, expired.claimed_by AS previous_worker, expired.lost, expired.gone
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, CASE WHEN lost THEN 'failed' WHEN gone THEN 'worker_gone' ELSE 'lease_expired' END, %(worker)s,
           CASE WHEN lost
               THEN jsonb_build_object('error_code', 'WORKER_LOST', 'error_message', error_message,
                                       'attempt', attempts, 'previous_worker', previous_worker)
               ELSE jsonb_build_object('previous_worker', previous_worker) END
    FROM requeued
)
SELECT count(*) FILTER (WHERE NOT lost), count(*) FILTER (WHERE lost) FROM requeued;

-- name: workers_on_host
-- Workers of this host and PID namespace that hold files: the ones whose process may be checked from here.
SELECT name, pid, process_start FROM filepool_workers w
WHERE host = %(host)s AND pid_namespace = %(pid_namespace)s
  AND EXISTS (SELECT 1 FROM filepool_files f WHERE f.claimed_by = w.name AND f.status = 'IN_PROGRESS');

-- name: mark_workers_gone
-- Workers whose process is gone: their leases end now, so their files and login slots may be taken at once.
WITH gone AS (
    UPDATE filepool_workers SET alive_until = '-infinity' WHERE name = ANY(%(names)s::text[])
), slots AS (
    UPDATE filepool_login_slots SET lease_until = '-infinity' WHERE worker = ANY(%(names)s::text[])
), theirs AS (
    SELECT id FROM filepool_files
    WHERE claimed_by = ANY(%(names)s::text[]) AND status = 'IN_PROGRESS'
    ORDER BY id
    FOR UPDATE
)
UPDATE filepool_files f SET lease_until = '-infinity' FROM theirs WHERE f.id = theirs.id;

-- name: retire_worker
-- A worker that ends cleanly says so: it holds nothing any more, and the File transfers page stops listing it.
UPDATE filepool_workers SET alive_until = least(alive_until, now()) WHERE name = %(worker)s;

-- name: forget_workers
-- Rows of workers dead for longer than the retention (a day at least) that hold nothing: the events kept until
-- then name them, and the File transfers page links those to their task instance. A row is one task try: tiny.
DELETE FROM filepool_workers w
WHERE alive_until < now() - make_interval(secs => greatest(%(retention)s, 86400))
  AND NOT EXISTS (SELECT 1 FROM filepool_files f WHERE f.claimed_by = w.name AND f.status = 'IN_PROGRESS');

-- name: connection_room
-- How many more client connections PostgreSQL takes now (superusers' reserve left out).
SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
       - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend');

-- name: job_counts
-- A route's files and bytes by status, from the page's counters (migration 0006): no scan of the route's rows.
SELECT status, sum(files), sum(bytes)
FROM (SELECT status, files, bytes FROM filepool_route_counts WHERE job = %(job)s
      UNION ALL
      SELECT status, files, bytes FROM filepool_page_changes WHERE job = %(job)s AND status IS NOT NULL) AS counted
GROUP BY status
HAVING sum(files) <> 0;

-- name: fold_page_changes
-- Fold the counters' changes into their totals (NULL: another fold is running and will take them).
SELECT filepool_fold_page_changes();

-- name: reject
-- Task messages refused before any transfer (invalid, or the source is missing): kept as FAILED rows with
-- size -1, one per job, path and destination (the latest refusal wins), each refusal an event.
WITH incoming AS (
    SELECT * FROM jsonb_to_recordset(%(rejects)s::jsonb)
        AS r(job text, source_path text, destination text, error_code text, error_message text, metadata jsonb)
), upserted AS (
    INSERT INTO filepool_files (job, source_path, size, mtime, destination, status, error_code, error_message,
                                metadata)
    SELECT job, source_path, -1, 0, destination, 'FAILED', error_code, error_message, metadata FROM incoming
    ON CONFLICT (source_path, size, mtime, job, destination) DO UPDATE
        SET error_code = EXCLUDED.error_code, error_message = EXCLUDED.error_message,
            metadata = EXCLUDED.metadata, updated_at = now()
    RETURNING id, error_code, error_message
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, 'rejected', %(worker)s, jsonb_build_object('error_code', error_code, 'error_message', error_message)
    FROM upserted
)
SELECT count(*) FROM upserted;

-- name: counted_rows
-- The rows of filepool_files as the planner's statistics last counted them (-1: never counted).
SELECT reltuples FROM pg_class WHERE oid = 'filepool_files'::regclass;

-- name: refresh_statistics
-- The planner's statistics of filepool_files taken again, by one session at a time (the others go on at once:
-- what one takes serves all).
DO $$
BEGIN
    IF pg_try_advisory_xact_lock(%(lock)s) THEN
        ANALYZE filepool_files;
    END IF;
END $$;

-- name: moved_already
-- How many of these versions of a job were moved already (COMPLETED, or moved and since pruned): what a run of
-- one data interval finds done before it starts.
WITH wanted AS (
    SELECT r.*, filepool_version_key(%(job)s, r.source_path, r.size, r.mtime, r.destination) AS version_key
    FROM jsonb_to_recordset(%(files)s::jsonb)
        AS r(source_path text, size bigint, mtime double precision, destination text)
)
SELECT count(*) FROM wanted w
WHERE EXISTS (SELECT 1 FROM filepool_files f
              WHERE f.source_path = w.source_path AND f.size = w.size AND f.mtime = w.mtime AND f.job = %(job)s
                AND f.destination = w.destination AND f.status = 'COMPLETED')
   OR EXISTS (SELECT 1 FROM filepool_moved m WHERE m.version_key = w.version_key);

-- name: resend
-- Send these COMPLETED versions again, on purpose (a run's `resend: true`): back to DISCOVERED with no attempt
-- made, so the next claim writes each anew, never trusting the copy already there; the reason is recorded. A
-- version pruned by retention is no longer in filepool_files and is not sent again.
WITH wanted AS (
    SELECT * FROM jsonb_to_recordset(%(files)s::jsonb)
        AS r(source_path text, size bigint, mtime double precision, destination text)
), locked AS (
    SELECT f.id FROM filepool_files f JOIN wanted w
        ON f.source_path = w.source_path AND f.size = w.size AND f.mtime = w.mtime AND f.job = %(job)s
       AND f.destination = w.destination
    WHERE f.status = 'COMPLETED'
    ORDER BY f.id
    FOR UPDATE OF f
), resent AS (
    UPDATE filepool_files f
    SET status = 'DISCOVERED', attempts = 0, claimed_by = NULL, lease_until = NULL, next_attempt_at = NULL,
        error_code = NULL, error_message = NULL, upload_id = NULL, updated_at = now()
    FROM locked WHERE f.id = locked.id AND f.status = 'COMPLETED'
    RETURNING f.id
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, 'resend_requested', %(worker)s, jsonb_build_object('reason', %(reason)s) FROM resent
)
SELECT count(*) FROM resent;

-- name: lookup
-- Where given file versions of a job stand, to report per-file results. A version moved and since pruned
-- counts as COMPLETED with its size.
WITH wanted AS (
    SELECT r.*, filepool_version_key(%(job)s, r.source_path, r.size, r.mtime, r.destination) AS version_key
    FROM jsonb_to_recordset(%(files)s::jsonb)
        AS r(source_path text, size bigint, mtime double precision, destination text)
)
SELECT w.source_path, w.size, w.mtime, w.destination,
       coalesce(f.status, CASE WHEN m.version_key IS NOT NULL THEN 'COMPLETED' END),
       coalesce(f.bytes_transferred, CASE WHEN m.version_key IS NOT NULL THEN w.size END), f.total_seconds,
       f.error_code, f.error_message, coalesce(f.updated_at, m.completed_at)
FROM wanted w
LEFT JOIN filepool_files f ON f.source_path = w.source_path AND f.size = w.size AND f.mtime = w.mtime
                          AND f.job = %(job)s AND f.destination = w.destination
LEFT JOIN filepool_moved m ON m.version_key = w.version_key
WHERE f.id IS NOT NULL OR m.version_key IS NOT NULL;

-- name: prune_completed
-- Retention: COMPLETED rows finished before the cut-off shrink to their version key in filepool_moved (so the
-- version is never moved again) and leave filepool_files with their events, a batch at a time. The exclusive
-- lock waits for registrations under way and holds new ones until this batch is committed (see `register`).
SELECT pg_advisory_xact_lock(%(prune_lock)s);
WITH old AS (
    SELECT id, filepool_version_key(job, source_path, size, mtime, destination) AS version_key, completed_at,
           CASE WHEN mtime_precision IS NOT NULL THEN filepool_path_key(job, source_path, size, destination) END
               AS path_key,
           mtime, mtime_precision, mtime_offset
    FROM filepool_files
    WHERE status = 'COMPLETED' AND completed_at < now() - make_interval(secs => %(older_than)s)
      AND source_action IS NULL
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), kept AS (
    INSERT INTO filepool_moved (version_key, completed_at, path_key, mtime, mtime_precision, mtime_offset)
    SELECT version_key, completed_at, path_key, CASE WHEN path_key IS NOT NULL THEN mtime END, mtime_precision,
           mtime_offset
    FROM old
    ON CONFLICT (version_key) DO NOTHING
), deleted AS (
    DELETE FROM filepool_files f USING old WHERE f.id = old.id RETURNING f.id
)
SELECT count(*) FROM deleted;

-- name: pending_source_actions
-- COMPLETED rows of a job whose source action waits (of rows `ids`, or all, after id `after`), once every row
-- that reads the same source version is COMPLETED too.
SELECT f.id, f.source_path, f.size, f.mtime, f.source_action, f.source_bytes FROM filepool_files f
WHERE f.job = %(job)s AND f.source_action IS NOT NULL AND f.status = 'COMPLETED' AND f.id > %(after)s
  AND (%(ids)s::bigint[] IS NULL OR f.id = ANY(%(ids)s::bigint[]))
  AND NOT EXISTS (
      SELECT 1 FROM filepool_files o
      WHERE filepool_source(o.job) = filepool_source(f.job) AND o.source_path = f.source_path
        AND o.size = f.size AND o.mtime = f.mtime AND o.status <> 'COMPLETED')
ORDER BY f.id
LIMIT 500;

-- name: source_actions_done
-- Source actions carried out (or found needless): cleared, each with its event. A failed one stays pending.
WITH done AS (
    SELECT * FROM jsonb_to_recordset(%(done)s::jsonb) AS r(id bigint, event text, details jsonb)
), cleared AS (
    UPDATE filepool_files f
    SET source_action = CASE WHEN done.event = 'source_action_failed' THEN f.source_action END, updated_at = now()
    FROM done
    WHERE f.id = done.id AND f.source_action IS NOT NULL
    RETURNING f.id, done.event, done.details
)
INSERT INTO filepool_file_events (file_id, event, worker, details)
SELECT id, event, %(worker)s, details FROM cleared;

-- name: live_claims
-- Which of the given claims (file id, attempt) are still being worked on: their temporary files must stay.
SELECT f.id, f.attempts FROM filepool_files f
JOIN jsonb_to_recordset(%(claims)s::jsonb) AS c(id bigint, attempt integer)
  ON f.id = c.id AND f.attempts = c.attempt
WHERE f.status = 'IN_PROGRESS' AND f.lease_until >= now();

-- name: live_upload_ids
-- Multipart uploads that a row may still resume: the maintenance DAG never aborts these.
SELECT upload_id FROM filepool_files
WHERE upload_id IS NOT NULL
  AND (status IN ('DISCOVERED', 'IN_PROGRESS') OR (status = 'FAILED' AND next_attempt_at IS NOT NULL));

-- name: set_upload_id
-- A multipart upload has started: keep its id so a worker that takes the file over resumes it, and know it as
-- filepool's (filepool_uploads: the maintenance DAG aborts no other upload).
WITH updated AS (
    UPDATE filepool_files SET upload_id = %(upload_id)s, updated_at = now()
    WHERE id = %(id)s AND claimed_by = %(worker)s AND attempts = %(attempt)s AND status = 'IN_PROGRESS'
    RETURNING id
), known AS (
    INSERT INTO filepool_uploads (upload_id, file_id) VALUES (%(upload_id)s, %(id)s) ON CONFLICT DO NOTHING
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, 'upload_started', %(worker)s, jsonb_build_object('upload_id', %(upload_id)s::text) FROM updated
)
SELECT count(*) FROM updated;

-- name: our_uploads
-- Which of these multipart upload ids filepool started.
SELECT upload_id FROM filepool_uploads WHERE upload_id = ANY(%(ids)s::text[]);

-- name: forget_uploads
-- Uploads aborted by the maintenance DAG.
DELETE FROM filepool_uploads WHERE upload_id = ANY(%(ids)s::text[]);

-- name: prune_uploads
-- Retention of the upload ids: those started longer ago than `older_than` seconds (done or aborted long since).
WITH gone AS (
    DELETE FROM filepool_uploads WHERE started_at < now() - make_interval(secs => %(older_than)s) RETURNING 1
)
SELECT count(*) FROM gone;

-- name: take_messages
-- Task messages taken from a topic, as one transaction (several statements, each seeing the ones before): claim
-- each task_id (the first message with it wins), register the file versions of the new ones, link each new
-- message to its version (locking the version's row, so that a transition committing meanwhile either sees the
-- link and writes the result, or is seen here as already ended), and put in the outbox at once the results of new
-- messages that were refused or whose version had ended already. A message refused for a reason that may pass
-- (`transient`: a server down) is answered at once and leaves its task_id free, so the same message sent again
-- later is taken anew. Returns each message's verdict: new, transient, duplicate (its task_id was taken with the
-- same content) or conflict (with other content).
SELECT pg_advisory_xact_lock_shared(%(prune_lock)s);
CREATE TEMP TABLE filepool_incoming ON COMMIT DROP AS
SELECT * FROM jsonb_to_recordset(%(messages)s::jsonb)
    AS r(task_id text, digest text, message jsonb, job text, source_path text, source_bytes text, size bigint,
         mtime double precision, destination text, refusal jsonb, transient boolean, mtime_precision real,
         mtime_offset integer);
INSERT INTO filepool_task_messages (task_id, digest, message, reply, batch)
SELECT task_id, digest, message, %(reply)s::jsonb, %(batch)s::uuid FROM filepool_incoming
WHERE NOT coalesce(transient, false)
ON CONFLICT (task_id) DO NOTHING;
INSERT INTO filepool_outbox (channel, target, message_key, payload)
SELECT 'kafka', jsonb_build_object('conn_id', %(reply)s::jsonb->>'conn_id', 'topic', %(reply)s::jsonb->>'failures'),
       i.task_id, i.refusal
FROM filepool_incoming i
WHERE i.transient AND NOT EXISTS (SELECT 1 FROM filepool_task_messages t WHERE t.task_id = i.task_id);
WITH taken AS (
    SELECT i.*, filepool_version_key(i.job, i.source_path, i.size, i.mtime, i.destination) AS version_key
    FROM filepool_incoming i JOIN filepool_task_messages t USING (task_id)
    WHERE t.batch = %(batch)s::uuid AND i.refusal IS NULL
), inserted AS (
    INSERT INTO filepool_files (job, source_path, source_bytes, size, mtime, destination, metadata, dag_id,
                                mtime_precision, mtime_offset)
    SELECT job, source_path, decode(source_bytes, 'base64'), size, mtime, destination,
           jsonb_build_object('task_id', task_id, 'metadata', message->'metadata'),
           (SELECT dag_id FROM filepool_workers WHERE name = %(worker)s), nullif(mtime_precision, 0), mtime_offset
    FROM taken
    WHERE NOT EXISTS (SELECT 1 FROM filepool_moved m WHERE m.version_key = taken.version_key)
    ON CONFLICT (source_path, size, mtime, job, destination) DO NOTHING
    RETURNING id, source_path, size
)
INSERT INTO filepool_file_events (file_id, event, worker, details)
SELECT id, 'discovered', %(worker)s, jsonb_build_object('path', source_path, 'size', size) FROM inserted;
CREATE TEMP TABLE filepool_linked ON COMMIT DROP AS
SELECT i.task_id, f.id AS file_id
FROM filepool_incoming i JOIN filepool_task_messages t USING (task_id)
    JOIN filepool_files f ON f.source_path = i.source_path AND f.size = i.size AND f.mtime = i.mtime
                         AND f.job = i.job AND f.destination = i.destination
WHERE t.batch = %(batch)s::uuid AND i.refusal IS NULL
ORDER BY f.id
FOR SHARE OF f;
UPDATE filepool_task_messages t SET file_id = l.file_id FROM filepool_linked l WHERE t.task_id = l.task_id;
INSERT INTO filepool_outbox (channel, target, message_key, payload, file_id)
SELECT 'kafka',
       jsonb_build_object('conn_id', t.reply->>'conn_id',
                          'topic', CASE WHEN r.payload->>'status' = 'success' THEN t.reply->>'results'
                                        ELSE t.reply->>'failures' END),
       t.task_id, r.payload, f.id
FROM filepool_incoming i JOIN filepool_task_messages t USING (task_id)
    LEFT JOIN filepool_files f ON f.id = t.file_id
    CROSS JOIN LATERAL (
        SELECT CASE
            WHEN i.refusal IS NOT NULL THEN i.refusal
            -- moved before and since pruned: nothing to move, and the message is answered
            WHEN f.id IS NULL THEN filepool_result_record(t.message, t.task_id, 'COMPLETED', 0, 0, now(), NULL, NULL)
                                   || '{"moved_earlier": true}'::jsonb
            WHEN f.status = 'COMPLETED' OR (f.status = 'FAILED' AND f.next_attempt_at IS NULL) THEN
                filepool_result_record(t.message, t.task_id, f.status, f.bytes_transferred, f.total_seconds,
                                       f.updated_at, f.error_code, f.error_message)
        END AS payload
    ) AS r
WHERE t.batch = %(batch)s::uuid AND t.reply IS NOT NULL AND r.payload IS NOT NULL;
SELECT i.task_id,
       CASE WHEN t.task_id IS NULL THEN 'transient' WHEN t.batch = %(batch)s::uuid THEN 'new'
            WHEN t.digest = i.digest THEN 'duplicate' ELSE 'conflict' END
FROM filepool_incoming i LEFT JOIN filepool_task_messages t USING (task_id);

-- name: intake_jobs_due
-- The jobs of an intake's task messages (those answered at `reply`) with files to move now: waiting, their
-- lease lapsed (a run killed after taking them), or failed with a retry due. Read through the index of files not
-- COMPLETED.
SELECT DISTINCT f.job FROM filepool_files f
WHERE f.status <> 'COMPLETED'
  AND (f.status = 'DISCOVERED' OR (f.status = 'IN_PROGRESS' AND f.lease_until < now())
       OR (f.status = 'FAILED' AND f.next_attempt_at <= now()))
  AND EXISTS (SELECT 1 FROM filepool_task_messages t WHERE t.file_id = f.id AND t.reply @> %(reply)s::jsonb);

-- name: outbox_take
-- The next messages to send on a channel, oldest first, locked until the sender's transaction ends (another
-- publisher skips them; a publisher that dies unlocks them). A row refused on its own waits for its next attempt;
-- a parked one is not taken (migration 0011).
SELECT id, target, message_key, payload FROM filepool_outbox
WHERE channel = %(channel)s AND sent_at IS NULL AND parked_at IS NULL
  AND (next_attempt_at IS NULL OR next_attempt_at <= now())
ORDER BY id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: outbox_sent
-- Mark messages sent (in the transaction that took them); an arrival notification also becomes its file's event.
WITH sent AS (
    UPDATE filepool_outbox SET sent_at = now(), attempts = attempts + 1
    WHERE id = ANY(%(ids)s)
    RETURNING id, channel, file_id, message_key, target
)
INSERT INTO filepool_file_events (file_id, event, worker, details)
SELECT s.file_id, CASE WHEN s.channel = 'amqp' THEN 'amqp_notify_sent' ELSE 'result_sent' END, %(worker)s,
       CASE WHEN s.channel = 'amqp' THEN jsonb_build_object('message_id', s.message_key, 'exchange',
                                                            s.target->>'exchange')
            ELSE jsonb_build_object('task_id', s.message_key, 'topic', s.target->>'topic') END
FROM sent s JOIN filepool_files f ON f.id = s.file_id;

-- name: outbox_failed
-- A broker that took none of a batch (down, unreachable): counted, with its error, for the page and the next
-- publisher; nothing is parked for it.
UPDATE filepool_outbox SET attempts = attempts + 1, last_error = %(error)s WHERE id = ANY(%(ids)s);

-- name: outbox_refused
-- Rows a broker refused one by one (too large, an unknown topic, unroutable): each waits longer before its next
-- try (2, 4, 8 ... seconds, at most an hour), and is parked at its `park_after`th refusal.
WITH refused AS (
    SELECT * FROM jsonb_to_recordset(%(refused)s::jsonb) AS r(id bigint, error text)
)
UPDATE filepool_outbox o
SET attempts = o.attempts + 1, last_error = refused.error,
    -- clock_timestamp(): the transaction began before the send, which may have taken longer than the wait
    next_attempt_at = clock_timestamp() + make_interval(secs => least(3600, 2 ^ least(o.attempts + 1, 12))),
    parked_at = CASE WHEN o.attempts + 1 >= %(park_after)s THEN clock_timestamp() END
FROM refused WHERE o.id = refused.id
RETURNING o.id, o.parked_at IS NOT NULL;

-- name: outbox_pending
-- What is to send now, per channel (the maintenance DAG's report and the tests' wait): not a parked row, nor one
-- waiting after a refusal of its own.
SELECT channel, count(*) FROM filepool_outbox
WHERE sent_at IS NULL AND parked_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now())
GROUP BY channel;

-- name: notify_route
-- Announce a route's arrivals over AMQP (target) or stop (NULL target).
WITH dropped AS (
    DELETE FROM filepool_notify_routes WHERE job = %(job)s AND %(target)s::jsonb IS NULL
)
INSERT INTO filepool_notify_routes (job, target)
SELECT %(job)s, %(target)s::jsonb WHERE %(target)s::jsonb IS NOT NULL
ON CONFLICT (job) DO UPDATE SET target = EXCLUDED.target, updated_at = now();

-- name: prune_outbox
-- Retention of the outbox: messages sent longer ago than `older_than` seconds go. Returns how many.
WITH gone AS (
    DELETE FROM filepool_outbox WHERE sent_at < now() - make_interval(secs => %(older_than)s) RETURNING 1
)
SELECT count(*) FROM gone;

-- name: prune_task_messages
-- Retention of task messages: those taken longer ago than `older_than` seconds whose file version's row is gone
-- (pruned to filepool_moved: moved, and never moved again) or that never had one (refused). The same task_id
-- coming again after that is taken as new: its version is in filepool_moved, so nothing moves, and its result
-- says moved_earlier. Returns how many.
WITH gone AS (
    DELETE FROM filepool_task_messages t
    WHERE received_at < now() - make_interval(secs => %(older_than)s)
      AND NOT EXISTS (SELECT 1 FROM filepool_files f WHERE f.id = t.file_id)
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: listed_folders
-- The folders of a route a sweep saw whole, with the digest of their taken files (see migration 0008).
SELECT folder, digest FROM filepool_listed_folders WHERE job = %(job)s;

-- name: remember_folders
-- Folders whose files are now registered, with their digest: the next sweep skips them while they stay the same.
INSERT INTO filepool_listed_folders (job, folder, digest, files)
SELECT %(job)s, r.folder, decode(r.digest, 'hex'), r.files
FROM jsonb_to_recordset(%(folders)s::jsonb) AS r(folder text, digest text, files integer)
ON CONFLICT (job, folder) DO UPDATE
    SET digest = EXCLUDED.digest, files = EXCLUDED.files, changed_at = now();

-- name: prune_listed_folders
-- Retention of folder digests unchanged for `older_than` seconds (a deleted folder's row would stay for ever); a
-- folder still there is sent once more by the next sweep, which registers nothing twice. Returns how many.
WITH gone AS (
    DELETE FROM filepool_listed_folders WHERE changed_at < now() - make_interval(secs => %(older_than)s) RETURNING 1
)
SELECT count(*) FROM gone;

-- name: take_login_slot
-- A free login slot of `conn_id` for this worker, leased for `lease` seconds; no row when all `cap` are held.
-- Free: never taken, given back, or its holder's lease lapsed. The slots are created on first use; a cap lowered
-- since leaves the slots above it to their holders until they give them back.
INSERT INTO filepool_login_slots (conn_id, slot)
SELECT %(conn_id)s, n FROM generate_series(0, %(cap)s - 1) AS n
ON CONFLICT (conn_id, slot) DO NOTHING;
WITH free AS (
    SELECT slot FROM filepool_login_slots
    WHERE conn_id = %(conn_id)s AND slot < %(cap)s AND lease_until < now()
    ORDER BY slot
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE filepool_login_slots s SET worker = %(worker)s, lease_until = now() + make_interval(secs => %(lease)s)
FROM free WHERE s.conn_id = %(conn_id)s AND s.slot = free.slot
RETURNING s.slot;

-- name: give_login_slot
-- A session closed: its slot is free at once.
UPDATE filepool_login_slots SET worker = NULL, lease_until = '-infinity'
WHERE conn_id = %(conn_id)s AND slot = %(slot)s AND worker = %(worker)s;

-- name: renew_login_slots
-- The holder is alive: its slots stay leased. Returns the slots it still holds (one taken over after a lapsed
-- lease is not among them).
UPDATE filepool_login_slots SET lease_until = now() + make_interval(secs => %(lease)s)
WHERE conn_id = %(conn_id)s AND slot = ANY(%(slots)s::integer[]) AND worker = %(worker)s
RETURNING slot;

-- name: intake_marks
-- The ranges of a topic's partitions that an intake run of this group took and did not finish.
SELECT partition, first_offset, last_offset FROM filepool_intake_marks
WHERE consumer_group = %(group)s AND topic = %(topic)s;

-- name: intake_mark
-- An intake run is about to take these ranges (one per partition); returns, per partition, how many times that
-- same range has been tried (this one included) and the last error of those tries. A batch and the record at its
-- head are different ranges: a batch that died never counts against the one record that happens to lead it.
INSERT INTO filepool_intake_marks (consumer_group, topic, partition, first_offset, last_offset, attempts)
SELECT %(group)s, %(topic)s, r.partition, r.first_offset, r.last_offset, 1
FROM jsonb_to_recordset(%(ranges)s::jsonb) AS r(partition integer, first_offset bigint, last_offset bigint)
ON CONFLICT (consumer_group, topic, partition) DO UPDATE
    SET attempts = CASE WHEN (filepool_intake_marks.first_offset, filepool_intake_marks.last_offset)
                             = (EXCLUDED.first_offset, EXCLUDED.last_offset)
                        THEN filepool_intake_marks.attempts + 1 ELSE 1 END,
        last_error = CASE WHEN (filepool_intake_marks.first_offset, filepool_intake_marks.last_offset)
                               = (EXCLUDED.first_offset, EXCLUDED.last_offset)
                          THEN filepool_intake_marks.last_error END,
        first_offset = EXCLUDED.first_offset, last_offset = EXCLUDED.last_offset, updated_at = now()
RETURNING partition, attempts, last_error;

-- name: intake_mark_failed
-- A try of a partition's range failed in the run: its error, for the alert should the range be parked.
UPDATE filepool_intake_marks SET last_error = %(error)s, updated_at = now()
WHERE consumer_group = %(group)s AND topic = %(topic)s AND partition = %(partition)s;

-- name: intake_unmark
-- Ranges finished: their offsets are committed.
DELETE FROM filepool_intake_marks
WHERE consumer_group = %(group)s AND topic = %(topic)s AND partition = ANY(%(partitions)s::integer[]);

-- name: canonical_mtimes
-- Files listed with a time known only to some precision (FTP: seconds, minutes, days): for each that the ledger
-- has as a version of the same route, path, size and destination whose time agrees at that precision
-- (`filepool_same_time`, migration 0013), that version's mtime, so the file is taken as the version it is and never
-- registered or moved again. The latest such row, or else a pruned one's. Read through the version index's path.
WITH given AS (
    SELECT * FROM jsonb_to_recordset(%(files)s::jsonb)
        AS r(i integer, source_path text, size bigint, mtime double precision, destination text,
             mtime_precision real, mtime_offset integer)
)
SELECT g.i, coalesce(
    (SELECT f.mtime FROM filepool_files f
     WHERE f.source_path = g.source_path AND f.size = g.size AND f.job = %(job)s AND f.destination = g.destination
       AND filepool_same_time(f.mtime, f.mtime_precision, f.mtime_offset,
                              g.mtime, g.mtime_precision, g.mtime_offset)
     ORDER BY f.id DESC LIMIT 1),
    (SELECT m.mtime FROM filepool_moved m
     WHERE m.path_key = filepool_path_key(%(job)s, g.source_path, g.size, g.destination)
       AND filepool_same_time(m.mtime, m.mtime_precision, m.mtime_offset,
                              g.mtime, g.mtime_precision, g.mtime_offset)
     ORDER BY m.completed_at DESC LIMIT 1))
FROM given g;
