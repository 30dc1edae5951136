-- The claim table: one row per version of a source file on one route (job), and its event history.
CREATE TABLE filepool_files (
    id              bigserial PRIMARY KEY,
    job             text NOT NULL,              -- the route: source root and destination, see Route.job
    source_path     text NOT NULL,
    size            bigint NOT NULL,
    mtime           double precision NOT NULL,  -- seconds since the epoch, as the source reports it
    destination     text NOT NULL,              -- object key or path at the destination
    status          text NOT NULL DEFAULT 'DISCOVERED'
                    CHECK (status IN ('DISCOVERED', 'IN_PROGRESS', 'COMPLETED', 'FAILED')),
    attempts        integer NOT NULL DEFAULT 0,
    claimed_by      text,
    lease_until     timestamptz,
    next_attempt_at timestamptz,                -- FAILED rows: when to retry; NULL = never again
    bytes_transferred bigint,
    checksum        text,
    checksum_algo   text,
    etag            text,
    read_seconds    double precision,           -- time spent reading the source (download_duration)
    write_seconds   double precision,           -- time spent writing the destination (upload_duration)
    total_seconds   double precision,
    error_code      text,
    error_message   text,
    upload_id       text,                       -- S3 multipart upload in progress, for resume and cleanup
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    completed_at    timestamptz,
    UNIQUE (job, source_path, size, mtime)
);

-- The queue: only rows that may still need work, so claims stay fast however many COMPLETED rows pile up.
CREATE INDEX filepool_files_queue ON filepool_files (job, id) WHERE status <> 'COMPLETED';
CREATE INDEX filepool_files_claimed ON filepool_files (claimed_by) WHERE status = 'IN_PROGRESS';

CREATE TABLE filepool_file_events (
    id       bigserial PRIMARY KEY,
    file_id  bigint NOT NULL REFERENCES filepool_files (id) ON DELETE CASCADE,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    event    text NOT NULL,
    worker   text,
    details  jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX filepool_file_events_file ON filepool_file_events (file_id);
