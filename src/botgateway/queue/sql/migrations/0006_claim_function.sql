-- The claim as a function, so it is planned with `enable_sort = off` and its plan cannot depend
-- on planner statistics. A new or restored database has none until autovacuum's first ANALYZE
-- (a minute or more): the planner then guesses a handful of due rows, reads every pending row
-- through a bitmap and sorts them, so each claim costs the whole backlog (1.1k jobs/s instead
-- of 6.9k in `make bench`'s first burst). With sorting off, the only plan left is the one
-- ANALYZE leads to: gateway_jobs_due_idx read in (next_retry_at, id) order, stopping at the
-- limit. The SET clause holds for this function's statements alone, and it survives poolers
-- (a session setting would not). A later change of the claim replaces this function in a new
-- migration; `queries.sql` only calls it.
--
-- The oldest due pending jobs, each locked once (SKIP LOCKED), leased to the caller.
-- A job with a chat key waits while an earlier job of its chat is unfinished or any is running.
-- $4: isolated jobs (taken back from a lost worker, see policy.plan_claim) are claimed apart,
-- one at a time, by a caller that holds nothing else. $5: the bots this worker serves (NULL:
-- any), so gateways with different bots can share one database without taking each other's jobs.
CREATE OR REPLACE FUNCTION gateway_claim(
    claim_limit   integer,
    claim_owner   text,
    lease_seconds double precision,
    isolated_only boolean,
    bots          text[]
) RETURNS TABLE (
    id           bigint,
    bot_slug     text,
    handler_type text,
    update_id    bigint,
    payload      text,
    attempts     integer,
    chat_key     text,
    created_at   timestamptz
)
LANGUAGE sql
VOLATILE
SET enable_sort = off
AS $$
WITH due AS (
    SELECT j.id
    FROM gateway_jobs j
    WHERE j.status = 'pending'
      AND j.isolated = $4
      AND j.next_retry_at <= now()
      AND ($5::text[] IS NULL OR j.bot_slug = ANY ($5::text[]))
      AND (j.chat_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM gateway_jobs e
            WHERE e.bot_slug = j.bot_slug
              AND e.chat_key = j.chat_key
              AND e.chat_key IS NOT NULL
              AND e.status IN ('pending', 'running')
              AND (e.status = 'running' OR e.update_id < j.update_id)))
    ORDER BY j.next_retry_at, j.id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE gateway_jobs g
SET status = 'running',
    attempts = g.attempts + 1,
    updated_at = now(),
    lease_owner = $2,
    lease_expires_at = now() + make_interval(secs => $3)
FROM due
WHERE g.id = due.id
RETURNING g.id, g.bot_slug, g.handler_type, g.update_id, g.payload::text,
          g.attempts, g.chat_key, g.created_at;
$$;
