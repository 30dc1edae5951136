-- Login slots: a server that allows a user N logins (`max_logins` in its connection's extra) gets N rows here, and
-- every worker on every host takes a slot before it opens a session to that server and gives it back when the
-- session closes. A slot is leased: its holder renews it while it holds it, and a holder that dies (its lease
-- lapses, or it is found gone on its host) frees it for the others.
CREATE TABLE filepool_login_slots (
    conn_id text NOT NULL,
    slot integer NOT NULL,
    worker text,
    lease_until timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (conn_id, slot)
);
