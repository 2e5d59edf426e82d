-- The seed gateway's table, unchanged in shape. IF NOT EXISTS: a database already used by the
-- Go gateway keeps its table and rows, and both gateways can share it.
CREATE TABLE IF NOT EXISTS gateway_jobs (
    id            bigserial   PRIMARY KEY,
    bot_slug      text        NOT NULL,
    handler_type  text        NOT NULL,
    update_id     bigint      NOT NULL,
    payload       jsonb       NOT NULL,
    attempts      integer     NOT NULL DEFAULT 0,
    next_retry_at timestamptz NOT NULL DEFAULT now(),
    status        text        NOT NULL DEFAULT 'pending',
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT gateway_jobs_bot_slug_update_id_key UNIQUE (bot_slug, update_id),
    CONSTRAINT gateway_jobs_status_check
        CHECK (status IN ('pending', 'running', 'done', 'dead'))
);
