-- Which Airflow task try each worker is, and which DAG each file belongs to: the File transfers page links a
-- file's events to the task instance whose log shows them, and shows and acts on a file only for users with
-- rights on its DAG. A file takes the DAG of the worker that registered it, then of the one that claims it.
ALTER TABLE filepool_workers
    ADD COLUMN dag_id     text,
    ADD COLUMN run_id     text,
    ADD COLUMN task_id    text,
    ADD COLUMN map_index  integer,
    ADD COLUMN try_number integer;
ALTER TABLE filepool_files ADD COLUMN dag_id text;
