-- Additions over the seed. Every new column is nullable, so the seed's SQL keeps working.
ALTER TABLE gateway_jobs
    ADD COLUMN IF NOT EXISTS lease_owner      text,
    ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz,
    ADD COLUMN IF NOT EXISTS chat_key         text;

-- Claim: the oldest due pending jobs.
CREATE INDEX IF NOT EXISTS gateway_jobs_due_idx
    ON gateway_jobs (next_retry_at, id) WHERE status = 'pending';
-- Recover: running jobs by lease expiry (rows without a lease are the seed worker's).
CREATE INDEX IF NOT EXISTS gateway_jobs_running_idx
    ON gateway_jobs (lease_expires_at, updated_at) WHERE status = 'running';
-- Purge: done rows by age, so each bounded batch reads only what it deletes.
CREATE INDEX IF NOT EXISTS gateway_jobs_done_idx
    ON gateway_jobs (updated_at) WHERE status = 'done';
-- Per-chat ordering: the unfinished jobs of one chat, in update order.
CREATE INDEX IF NOT EXISTS gateway_jobs_chat_idx
    ON gateway_jobs (bot_slug, chat_key, update_id)
    WHERE chat_key IS NOT NULL AND status IN ('pending', 'running');

-- Wake idle workers when rows arrive, whoever inserts them (the Go gateway too).
-- One notification per statement, not per row: a group-committed batch wakes workers once.
CREATE OR REPLACE FUNCTION gateway_jobs_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gateway_jobs', '');
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS gateway_jobs_notify ON gateway_jobs;
CREATE TRIGGER gateway_jobs_notify
    AFTER INSERT ON gateway_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION gateway_jobs_notify();
