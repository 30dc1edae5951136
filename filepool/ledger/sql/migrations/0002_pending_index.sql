-- The queue index by id alone. With (job, id) the planner preferred the primary key for `ORDER BY id` and walked
-- past every COMPLETED row before the first free one: a claim took 11-17 ms at 1 million rows and grew as the
-- queue drained. On (id) WHERE status <> 'COMPLETED' it reads only rows still to do (0.06 ms).
CREATE INDEX filepool_files_pending ON filepool_files (id) WHERE status <> 'COMPLETED';
DROP INDEX filepool_files_queue;
