-- Named queries of the File transfers page and its JSON API: what moved, what waits, what failed and why, who
-- holds what. Read-only except the two actions at the end, which a user with edit rights on the file's DAG takes.

-- name: route_counts
-- Files and bytes per route, DAG ('' outside Airflow) and status: the counters' totals plus the changes not yet
-- folded into them (migration 0006).
SELECT job, dag_id, status, sum(files), sum(bytes)
FROM (SELECT job, dag_id, status, files, bytes FROM filepool_route_counts
      UNION ALL
      SELECT job, dag_id, status, files, bytes FROM filepool_page_changes WHERE status IS NOT NULL) AS counted
GROUP BY 1, 2, 3
HAVING sum(files) <> 0
ORDER BY 1, 3, 2;

-- name: oldest_waiting
-- Per route, when the oldest file still waiting (DISCOVERED, or FAILED with a retry due) was found; read through
-- the index of files not COMPLETED.
SELECT job, min(created_at)
FROM filepool_files
WHERE status <> 'COMPLETED' AND (status = 'DISCOVERED' OR (status = 'FAILED' AND next_attempt_at IS NOT NULL))
GROUP BY job;

-- name: throughput
-- Files and bytes completed per `bucket` seconds (a whole number of minutes) over the last `hours`, per route.
SELECT job, to_timestamp(floor(extract(epoch FROM minute) / %(bucket)s) * %(bucket)s) AS at, sum(files), sum(bytes)
FROM (SELECT job, dag_id, minute, files, bytes FROM filepool_completions
      UNION ALL
      SELECT job, dag_id, minute, files, bytes FROM filepool_page_changes WHERE minute IS NOT NULL) AS done
WHERE minute >= now() - make_interval(hours => %(hours)s) AND (%(all)s OR dag_id = ANY(%(dag_ids)s::text[]))
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
-- Files whose path contains `text` (and whose route contains `server`), newest first, a page at a time. The
-- paths are matched in filepool_paths (migration 0006): PostgreSQL reads its trigram index for a rare text and the
-- newest paths first for a common one, and stops at the page's end.
SELECT f.id, f.job, f.source_path, f.size, f.mtime, f.destination, f.status, f.attempts, f.error_code,
       f.error_message, f.dag_id, f.claimed_by, f.lease_until, f.updated_at, f.completed_at
FROM (SELECT file_id FROM filepool_paths
      WHERE source_path LIKE '%%' || %(text)s || '%%' AND job LIKE '%%' || %(server)s || '%%'
        AND (%(before)s::bigint IS NULL OR file_id < %(before)s)
      ORDER BY file_id DESC) AS found
JOIN filepool_files f ON f.id = found.file_id
WHERE %(all)s OR f.dag_id = ANY(%(dag_ids)s::text[])
ORDER BY f.id DESC
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

-- name: outbox_counts
-- Results and notifications still to send, and those parked after repeated refusals (migration 0011), per channel.
SELECT channel, count(*) FILTER (WHERE parked_at IS NULL), count(*) FILTER (WHERE parked_at IS NOT NULL)
FROM filepool_outbox WHERE sent_at IS NULL
GROUP BY channel;

-- name: outbox_parked
-- Parked messages, newest first, with their error; a message of a refused task message has no file and so no DAG:
-- only users who may read every DAG see it.
SELECT o.id, o.channel, o.target, o.message_key, o.attempts, o.last_error, o.parked_at, o.created_at, f.dag_id
FROM filepool_outbox o
LEFT JOIN filepool_files f ON f.id = o.file_id
WHERE o.parked_at IS NOT NULL AND o.sent_at IS NULL
  AND (%(all)s OR f.dag_id = ANY(%(dag_ids)s::text[]))
ORDER BY o.parked_at DESC
LIMIT 200;

-- name: outbox_message
-- One outbox message and the DAG of its file (NULL without one), for the page's action.
SELECT o.id, o.parked_at IS NOT NULL AND o.sent_at IS NULL, f.dag_id
FROM filepool_outbox o LEFT JOIN filepool_files f ON f.id = o.file_id
WHERE o.id = %(id)s;

-- name: outbox_unpark
-- Send a parked message again (a user's action): its count of refusals starts over.
UPDATE filepool_outbox SET parked_at = NULL, next_attempt_at = NULL, attempts = 0
WHERE id = %(id)s AND parked_at IS NOT NULL AND sent_at IS NULL
RETURNING id;
