-- Named queries of the File transfers page and its JSON API: what moved, what waits, what failed and why, who
-- holds what. Read-only except the two actions at the end, which a user with edit rights on the file's DAG takes.

-- name: route_status
-- Per route and status: files, bytes, the oldest file still waiting (DISCOVERED, or FAILED with a retry due) and
-- the DAGs its files belong to.
SELECT job, status, count(*), coalesce(sum(size), 0),
       min(created_at) FILTER (WHERE status = 'DISCOVERED' OR (status = 'FAILED' AND next_attempt_at IS NOT NULL)),
       array_agg(DISTINCT dag_id) FILTER (WHERE dag_id IS NOT NULL), count(*) FILTER (WHERE dag_id IS NULL)
FROM filepool_files
GROUP BY job, status
ORDER BY job, status;

-- name: throughput
-- Files and bytes completed per `bucket` seconds over the last `hours`, per route.
SELECT job, to_timestamp(floor(extract(epoch FROM completed_at) / %(bucket)s) * %(bucket)s) AS at,
       count(*), coalesce(sum(bytes_transferred), 0)
FROM filepool_files
WHERE status = 'COMPLETED' AND completed_at >= now() - make_interval(hours => %(hours)s)
  AND (%(all)s OR dag_id = ANY(%(dag_ids)s::text[]))
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: failures
-- Failed files grouped by route and error code: how many, the latest message and the most attempts.
SELECT job, error_code, count(*), (array_agg(error_message ORDER BY updated_at DESC))[1], max(attempts),
       max(updated_at)
FROM filepool_files
WHERE status = 'FAILED' AND (%(all)s OR dag_id = ANY(%(dag_ids)s::text[]))
GROUP BY job, error_code
ORDER BY count(*) DESC
LIMIT 200;

-- name: workers
-- Workers alive or holding files: their task try, heartbeat deadline and the files they hold with the earliest
-- and latest lease.
SELECT w.name, w.host, w.dag_id, w.run_id, w.task_id, w.map_index, w.try_number, w.started_at, w.alive_until,
       w.alive_until > now() AS alive, count(f.id), min(f.lease_until), max(f.lease_until)
FROM filepool_workers w
LEFT JOIN filepool_files f ON f.claimed_by = w.name AND f.status = 'IN_PROGRESS'
WHERE (w.alive_until > now() OR f.id IS NOT NULL)
  AND (%(all)s OR w.dag_id = ANY(%(dag_ids)s::text[]))
GROUP BY w.name
ORDER BY w.started_at DESC
LIMIT 200;

-- name: search_files
-- Files whose path contains `text` (and whose route contains `server`), newest first, a page at a time.
SELECT id, job, source_path, size, mtime, destination, status, attempts, error_code, error_message, dag_id,
       claimed_by, lease_until, updated_at, completed_at
FROM filepool_files
WHERE source_path LIKE '%%' || %(text)s || '%%' AND job LIKE '%%' || %(server)s || '%%'
  AND (%(all)s OR dag_id = ANY(%(dag_ids)s::text[]))
  AND (%(before)s::bigint IS NULL OR id < %(before)s)
ORDER BY id DESC
LIMIT %(limit)s;

-- name: file
-- The columns of search_files, then the rest.
SELECT id, job, source_path, size, mtime, destination, status, attempts, error_code, error_message, dag_id,
       claimed_by, lease_until, updated_at, completed_at, next_attempt_at, bytes_transferred, checksum,
       checksum_algo, total_seconds, created_at
FROM filepool_files WHERE id = %(id)s;

-- name: file_events
-- A file's history, each event with the task try of the worker that wrote it (while that worker's row is kept).
SELECT e.at, e.event, e.worker, e.details, w.dag_id, w.run_id, w.task_id, w.map_index, w.try_number
FROM filepool_file_events e
LEFT JOIN filepool_workers w ON w.name = e.worker
WHERE e.file_id = %(id)s
ORDER BY e.at, e.id;

-- name: retry_now
-- A FAILED file is due again now, whatever its backoff or attempts said; the user is recorded.
WITH retried AS (
    UPDATE filepool_files SET next_attempt_at = now(), updated_at = now()
    WHERE id = %(id)s AND status = 'FAILED'
    RETURNING id, attempts, error_code
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, 'retry_requested', NULL,
           jsonb_build_object('user', %(user)s, 'attempts', attempts, 'error_code', error_code)
    FROM retried
)
SELECT count(*) FROM retried;

-- name: requeue_stuck
-- An IN_PROGRESS file whose holder is no longer alive (its lease lapsed: the rule claims go by) goes back to the
-- queue; a file whose holder still renews its lease is never taken from it.
WITH requeued AS (
    UPDATE filepool_files f
    SET status = 'DISCOVERED', claimed_by = NULL, lease_until = NULL, updated_at = now()
    WHERE id = %(id)s AND status = 'IN_PROGRESS' AND lease_until < now()
    RETURNING id, attempts
), events AS (
    INSERT INTO filepool_file_events (file_id, event, worker, details)
    SELECT id, 'requeued_by_user', NULL, jsonb_build_object('user', %(user)s, 'attempts', attempts)
    FROM requeued
)
SELECT count(*) FROM requeued;
