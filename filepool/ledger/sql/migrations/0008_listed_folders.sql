-- What the last sweep of a route saw in each source folder: a digest of the folder's taken files (path, size,
-- mtime), written once they were registered. A sweep that lists a folder with the same digest sends none of its
-- files to the ledger: a tree that keeps a million files costs an hourly listing, not a million-row upsert.
-- A row is only a shortcut: deleting it (retention does, for rows unchanged that long) makes the next sweep send
-- the folder's files once more, which registers nothing twice.
CREATE TABLE filepool_listed_folders (
    job text NOT NULL,
    folder text NOT NULL,
    digest bytea NOT NULL,
    files integer NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job, folder)
);
