-- Named queries: each block starts with `-- name: NAME` and runs as ONE statement.

-- name: register
-- Register discovered files idempotently; a file already known (same path, size and mtime) is skipped.
WITH incoming AS (
    SELECT * FROM jsonb_to_recordset(%(files)s::jsonb)
        AS r(source_path text, size bigint, mtime double precision, destination text, metadata jsonb)
), inserted AS (
    INSERT INTO filepool_files (job, source_path, size, mtime, destination, metadata)
    SELECT %(job)s, source_path, size, mtime, destination, coalesce(metadata, '{}'::jsonb) FROM incoming
    ON CONFLICT (job, source_path, size, mtime) DO NOTHING
    RETURNING id, source_path, size
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, 'discovered', %(worker)s, jsonb_build_object('path', source_path, 'size', size) FROM inserted
)
SELECT count(*) FROM inserted;

-- name: claim
-- Claim up to `limit` files of a job: new ones, expired leases, and failed ones whose backoff has passed.
WITH picked AS (
    SELECT id, status AS prior_status, claimed_by AS prior_worker
    FROM filepool_files
    WHERE job = %(job)s
      AND status <> 'COMPLETED'
      AND (status = 'DISCOVERED'
           -- an expired lease of another worker; this worker's own files are still in its hands (their lease
           -- lapsed only because its heartbeat could not reach the ledger, e.g. during a PostgreSQL outage)
           OR (status = 'IN_PROGRESS' AND lease_until < now() AND claimed_by <> %(worker)s)
           OR (status = 'FAILED' AND next_attempt_at <= now()))
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE filepool_files f
    SET status = 'IN_PROGRESS', claimed_by = %(worker)s,
        lease_until = now() + make_interval(secs => %(lease)s),
        attempts = f.attempts + 1, started_at = now(), updated_at = now()
    FROM picked
    WHERE f.id = picked.id
    RETURNING f.id, f.source_path, f.size, f.mtime, f.destination, f.attempts, f.upload_id,
              picked.prior_status, picked.prior_worker
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, CASE WHEN prior_status = 'IN_PROGRESS' THEN 'reclaimed_after_lease_expired' ELSE 'claimed' END,
           %(worker)s, jsonb_build_object('attempt', attempts, 'previous_status', prior_status,
                                          'previous_worker', prior_worker)
    FROM claimed
)
SELECT id, source_path, size, mtime, destination, attempts, upload_id FROM claimed ORDER BY id;

-- name: extend_leases
-- Heartbeat: keep the files this worker holds. Every statement that changes several rows locks them in id order
-- first: two statements of one worker (this and a batch of completions) locking in different orders deadlocked.
WITH mine AS (
    SELECT id FROM filepool_files
    WHERE claimed_by = %(worker)s AND status = 'IN_PROGRESS'
    ORDER BY id
    FOR UPDATE
)
UPDATE filepool_files f
SET lease_until = now() + make_interval(secs => %(lease)s)
FROM mine WHERE f.id = mine.id;

-- name: complete
-- Record a batch of finished files; only rows this worker still holds change (a lost lease is fenced off).
WITH done AS (
    SELECT * FROM jsonb_to_recordset(%(results)s::jsonb)
        AS r(id bigint, bytes bigint, checksum text, checksum_algo text, etag text,
             read_seconds double precision, write_seconds double precision, total_seconds double precision)
), locked AS (
    SELECT id FROM filepool_files WHERE id IN (SELECT id FROM done) ORDER BY id FOR UPDATE
), updated AS (
    UPDATE filepool_files f
    SET status = 'COMPLETED', bytes_transferred = done.bytes, checksum = done.checksum,
        checksum_algo = done.checksum_algo, etag = done.etag, read_seconds = done.read_seconds,
        write_seconds = done.write_seconds, total_seconds = done.total_seconds,
        error_code = NULL, error_message = NULL, claimed_by = NULL, lease_until = NULL,
        next_attempt_at = NULL, upload_id = NULL, completed_at = now(), updated_at = now()
    FROM done, locked
    WHERE f.id = done.id AND f.id = locked.id AND f.claimed_by = %(worker)s AND f.status = 'IN_PROGRESS'
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
-- Record a batch of failed files; `retry_in` NULL means no further attempt.
WITH failed AS (
    SELECT * FROM jsonb_to_recordset(%(failures)s::jsonb)
        AS r(id bigint, error_code text, error_message text, retry_in double precision)
), locked AS (
    SELECT id FROM filepool_files WHERE id IN (SELECT id FROM failed) ORDER BY id FOR UPDATE
), updated AS (
    UPDATE filepool_files f
    SET status = 'FAILED', error_code = failed.error_code, error_message = failed.error_message,
        next_attempt_at = now() + make_interval(secs => failed.retry_in),
        claimed_by = NULL, lease_until = NULL, updated_at = now()
    FROM failed, locked
    WHERE f.id = failed.id AND f.id = locked.id AND f.claimed_by = %(worker)s AND f.status = 'IN_PROGRESS'
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
WITH locked AS (
    SELECT id FROM filepool_files WHERE id = ANY(%(ids)s) ORDER BY id FOR UPDATE
), released AS (
    UPDATE filepool_files f
    SET status = 'DISCOVERED', claimed_by = NULL, lease_until = NULL, attempts = f.attempts - 1,
        updated_at = now()
    FROM locked
    WHERE f.id = locked.id AND f.claimed_by = %(worker)s AND f.status = 'IN_PROGRESS'
    RETURNING f.id
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker)
    SELECT id, 'released', %(worker)s FROM released
)
SELECT count(*) FROM released;

-- name: requeue_expired
-- Stale-lock cleanup (seed 003): expired leases go back to the queue, with an event, a bounded batch at a time;
-- so do, at once, the files of `holders` (workers known to be dead: their process is gone).
WITH expired AS (
    SELECT id, claimed_by, lease_until < now() AS lapsed FROM filepool_files
    WHERE status = 'IN_PROGRESS' AND (lease_until < now() OR claimed_by = ANY(%(holders)s::text[]))
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), requeued AS (
    UPDATE filepool_files f
    SET status = 'DISCOVERED', claimed_by = NULL, lease_until = NULL, updated_at = now()
    FROM expired WHERE f.id = expired.id
    RETURNING f.id, expired.claimed_by AS previous_worker, expired.lapsed
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, CASE WHEN lapsed THEN 'lease_expired' ELSE 'worker_gone' END, %(worker)s,
           jsonb_build_object('previous_worker', previous_worker)
    FROM requeued
)
SELECT count(*) FROM requeued;

-- name: holders_on_host
-- Workers on this host that hold files (worker names start with "host:pid:").
SELECT DISTINCT claimed_by FROM filepool_files WHERE status = 'IN_PROGRESS' AND claimed_by LIKE %(prefix)s;

-- name: job_counts
SELECT status, count(*), coalesce(sum(size), 0) FROM filepool_files WHERE job = %(job)s GROUP BY status;

-- name: reject
-- Task messages refused before any transfer (invalid, or the source is missing): kept as FAILED rows with
-- size -1, one per job and path (the latest refusal wins), each refusal an event.
WITH incoming AS (
    SELECT * FROM jsonb_to_recordset(%(rejects)s::jsonb)
        AS r(job text, source_path text, destination text, error_code text, error_message text, metadata jsonb)
), upserted AS (
    INSERT INTO filepool_files (job, source_path, size, mtime, destination, status, error_code, error_message,
                                metadata)
    SELECT job, source_path, -1, 0, destination, 'FAILED', error_code, error_message, metadata FROM incoming
    ON CONFLICT (job, source_path, size, mtime) DO UPDATE
        SET error_code = EXCLUDED.error_code, error_message = EXCLUDED.error_message,
            metadata = EXCLUDED.metadata, destination = EXCLUDED.destination, updated_at = now()
    RETURNING id, error_code, error_message
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, 'rejected', %(worker)s, jsonb_build_object('error_code', error_code, 'error_message', error_message)
    FROM upserted
)
SELECT count(*) FROM upserted;

-- name: lookup
-- The rows of given file versions of a job, to report per-file results.
SELECT f.source_path, f.size, f.mtime, f.status, f.destination, f.bytes_transferred, f.total_seconds,
       f.error_code, f.error_message, f.updated_at
FROM filepool_files f
JOIN jsonb_to_recordset(%(files)s::jsonb) AS r(source_path text, size bigint, mtime double precision)
  ON f.job = %(job)s AND f.source_path = r.source_path AND f.size = r.size AND f.mtime = r.mtime;

-- name: prune_completed
-- Retention: delete COMPLETED rows (and, by cascade, their events) finished before the cut-off, a batch at a time.
WITH old AS (
    SELECT id FROM filepool_files
    WHERE status = 'COMPLETED' AND completed_at < now() - make_interval(secs => %(older_than)s)
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM filepool_files f USING old WHERE f.id = old.id RETURNING f.id
)
SELECT count(*) FROM deleted;

-- name: live_upload_ids
-- Multipart uploads that a row may still resume: the maintenance DAG never aborts these.
SELECT upload_id FROM filepool_files
WHERE upload_id IS NOT NULL
  AND (status IN ('DISCOVERED', 'IN_PROGRESS') OR (status = 'FAILED' AND next_attempt_at IS NOT NULL));

-- name: set_upload_id
-- A multipart upload has started: keep its id so a worker that takes the file over resumes it.
WITH updated AS (
    UPDATE filepool_files SET upload_id = %(upload_id)s, updated_at = now()
    WHERE id = %(id)s AND claimed_by = %(worker)s AND status = 'IN_PROGRESS'
    RETURNING id
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, 'upload_started', %(worker)s, jsonb_build_object('upload_id', %(upload_id)s::text) FROM updated
)
SELECT count(*) FROM updated;
