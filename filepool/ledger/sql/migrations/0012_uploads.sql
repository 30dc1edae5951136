-- Multipart uploads filepool started: the maintenance DAG aborts a stale upload only when its id is here, never
-- another application's upload in the same bucket. A row is written with the upload's id (`set_upload_id`) and
-- goes when the maintenance aborts the upload or retention prunes it.
CREATE TABLE filepool_uploads (
    upload_id  text PRIMARY KEY,
    file_id    bigint NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
);
