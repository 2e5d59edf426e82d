-- A job taken back from a lost worker may be the one that killed it: it runs alone from then on
-- (claim_isolated), so a crashing update cannot drag the jobs that ran beside it to `dead`.
-- NOT NULL with a constant default: the seed's SQL inserts without it and keeps working, and
-- adding it rewrites no rows.
ALTER TABLE gateway_jobs
    ADD COLUMN IF NOT EXISTS isolated boolean NOT NULL DEFAULT false;

CREATE INDEX IF NOT EXISTS gateway_jobs_isolated_due_idx
    ON gateway_jobs (next_retry_at, id) WHERE status = 'pending' AND isolated;
