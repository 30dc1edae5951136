-- What happens to a source file after its transfer (keep, delete, move to an archive folder): the action waits on
-- its COMPLETED row until it is done (see filepool/transfer/completion.py).
ALTER TABLE filepool_files ADD COLUMN source_action text;  -- NULL: nothing to do; "delete"; "move:<target>"
CREATE INDEX filepool_files_source_actions ON filepool_files (job, id) WHERE source_action IS NOT NULL;

-- The source a row reads, whatever its route: scheme and connection id ("sftp://conn", "ftp://conn", "fs://conn").
-- Two rows read the same source version when this, the path, size and mtime agree (two task messages that send
-- one file to two places): its source action waits until both are COMPLETED. Found through the index on
-- source_path (an index on this expression would cost every claim a regular expression per row).
CREATE FUNCTION filepool_source(job text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT regexp_replace(substring(job FROM '^[a-z]+://[^/ ]*'), '^local://', 'fs://')
$$;
