-- Batches of task messages an intake run took from a topic and has not finished (its offsets not committed yet):
-- one row per consumer group, topic and partition. A run that finds its records inside such a range knows an
-- earlier run failed on them (or died), takes them one at a time, and parks one that fails alone again and again
-- (filepool/transfer/intake.py), so one message never stops its partition.
CREATE TABLE filepool_intake_marks (
    consumer_group text NOT NULL,
    topic          text NOT NULL,
    partition      integer NOT NULL,
    first_offset   bigint NOT NULL,
    last_offset    bigint NOT NULL,
    attempts       integer NOT NULL,     -- tries of this same range
    last_error     text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
