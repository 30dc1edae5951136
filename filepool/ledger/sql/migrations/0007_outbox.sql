-- Events out of the ledger, exactly as the ledger saw them: result records of task messages taken from Kafka,
-- and arrival notifications over AMQP. Each is written to filepool_outbox by a trigger, in the transaction of the
-- transition it reports (a file becoming COMPLETED, or FAILED with no attempt left), and a publisher sends it and
-- marks it sent. A crash between the transfer and the send loses nothing; a publisher killed after sending and
-- before marking sends it again, with the same key (results) or message id (notifications).

-- Task messages taken from a topic, by task_id: the first message with a task_id wins; the same task_id again
-- with the same content is a duplicate (nothing to do), with other content a conflict (refused). `file_id` links
-- the message to the file version it names (several messages may name one version); `reply` says where its
-- result goes ({"conn_id", "results", "failures"}); `batch` marks the rows one intake statement took.
CREATE TABLE filepool_task_messages (
    task_id     text PRIMARY KEY,
    digest      text NOT NULL,          -- SHA-256 of the message's canonical JSON
    message     jsonb NOT NULL,
    reply       jsonb,
    file_id     bigint,
    batch       uuid NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX filepool_task_messages_file ON filepool_task_messages (file_id) WHERE file_id IS NOT NULL;

-- Routes whose arrivals are announced over AMQP: {"conn_id", "exchange", "routing_key"}; an operator with
-- notifications on writes its route's row when it starts, one with them off deletes it.
CREATE TABLE filepool_notify_routes (
    job        text PRIMARY KEY,
    target     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE filepool_outbox (
    id          bigserial PRIMARY KEY,
    channel     text NOT NULL CHECK (channel IN ('kafka', 'amqp')),
    target      jsonb NOT NULL,        -- kafka: {"conn_id", "topic"}; amqp: {"conn_id", "exchange", "routing_key"}
    message_key text NOT NULL,         -- kafka: the record's key (task_id); amqp: the message id
    payload     jsonb NOT NULL,
    file_id     bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text
);
-- The publisher's queue: only what is still to send.
CREATE INDEX filepool_outbox_unsent ON filepool_outbox (channel, id) WHERE sent_at IS NULL;

-- A task message's result record (the fields of the message, what was moved, and the error of a failure), from
-- its file's row.
CREATE FUNCTION filepool_result_record(m jsonb, task_id text, status text, bytes bigint, seconds double precision,
                                       at timestamptz, error_code text, error_message text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'task_id', task_id,
        'status', CASE WHEN status = 'COMPLETED' THEN 'success' ELSE 'failure' END,
        'src_id', m->>'src_id', 'src_path', m->>'src_path', 'dst_id', m->>'dst_id', 'dst_path', m->>'dst_path',
        'bytes_transferred', coalesce(bytes, 0),
        'duration_ms', round(coalesce(seconds, 0) * 1000)::bigint,
        'timestamp', at
    ) || CASE WHEN status = 'COMPLETED' THEN '{}'::jsonb
              ELSE jsonb_build_object('error_code', error_code, 'error_message', error_message) END
$$;

-- Rows that reached a terminal state in this statement: COMPLETED, or FAILED with no next attempt.
CREATE FUNCTION filepool_note_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH ended AS (
        SELECT n.* FROM new_rows n JOIN old_rows o USING (id)
        WHERE (n.status = 'COMPLETED' AND o.status <> 'COMPLETED')
           OR (n.status = 'FAILED' AND n.next_attempt_at IS NULL
               AND NOT (o.status = 'FAILED' AND o.next_attempt_at IS NULL))
    ), results AS (
        INSERT INTO filepool_outbox (channel, target, message_key, payload, file_id)
        SELECT 'kafka',
               jsonb_build_object('conn_id', t.reply->>'conn_id',
                                  'topic', CASE WHEN e.status = 'COMPLETED' THEN t.reply->>'results'
                                                ELSE t.reply->>'failures' END),
               t.task_id,
               filepool_result_record(t.message, t.task_id, e.status, e.bytes_transferred, e.total_seconds,
                                      e.updated_at, e.error_code, e.error_message),
               e.id
        FROM ended e JOIN filepool_task_messages t ON t.file_id = e.id
        WHERE t.reply IS NOT NULL
    )
    INSERT INTO filepool_outbox (channel, target, message_key, payload, file_id)
    SELECT 'amqp', r.target, 'filepool-file-' || e.id,
           jsonb_build_object(
               'message_id', 'filepool-file-' || e.id, 'route', e.job, 'dag_id', e.dag_id,
               'source_path', e.source_path, 'destination', e.destination, 'size', e.size,
               'sha256', CASE WHEN e.checksum_algo = 'sha256' THEN e.checksum END,
               'completed_at', e.completed_at),
           e.id
    FROM ended e JOIN filepool_notify_routes r ON r.job = e.job
    WHERE e.status = 'COMPLETED';
    RETURN NULL;
END $$;

CREATE TRIGGER filepool_outbox_updates AFTER UPDATE ON filepool_files
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION filepool_note_outbox();
