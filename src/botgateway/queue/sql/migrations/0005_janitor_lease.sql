-- Only one janitor works at a time. The exclusion used to be a session advisory lock, held on
-- one connection across the round's many short transactions; behind a transaction pooler
-- (PgBouncer, CloudNativePG's Pooler) each transaction may run on another server connection,
-- so the lock was taken on one and released on another (or never). A row holds without a
-- session: a janitor takes the lease when it is free or expired, renews it between batches,
-- and drops it at the end; a janitor that died leaves a lease that expires by itself.
CREATE TABLE IF NOT EXISTS gateway_janitor_lease (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);
