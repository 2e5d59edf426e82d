-- The claim as a function, so it is planned with sorting and hash/merge joins off, and its plan
-- cannot depend on planner statistics or on the values of its parameters.
--
-- A new or restored database has no statistics until autovacuum's first ANALYZE (a minute or
-- more): the planner then guesses a handful of due rows, reads every pending row through a
-- bitmap and sorts them, so each claim costs the whole backlog (a first burst drained at 0.6x
-- the rate after ANALYZE in `make bench`). With sorting off, the only plan left is the one
-- ANALYZE leads to: gateway_jobs_due_idx read in (next_retry_at, id) order, stopping at the
-- limit. Before PostgreSQL 18 a SQL function is planned without its parameters' values (a
-- generic plan: the limit unknown), which joined the claimed ids back to the table by hashing a
-- sequential scan of all of it; with hash and merge joins off, each claimed row is found through
-- the primary key. The SET clauses hold for this function's statements alone, and they survive
-- poolers (a session setting would not). A later change of the claim replaces this function in
-- a new migration; `queries.sql` only calls it.
--
-- The claim: the oldest due pending jobs, each locked once (SKIP LOCKED), leased to the caller.
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
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
-- Two arms, one per kind of job, each behind a test of $4 alone: a generic plan (the limit and
-- $4 unknown) evaluates that test once and runs only the arm asked for, so an isolated claim
-- reads gateway_jobs_isolated_due_idx instead of walking every pending job of the due index.
-- The arms differ only in that test and `isolated`; a change to one is a change to both.
WITH plain AS (
    SELECT j.id
    FROM gateway_jobs j
    WHERE NOT $4
      AND j.status = 'pending'
      AND NOT j.isolated
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
), alone AS (
    SELECT j.id
    FROM gateway_jobs j
    WHERE $4
      AND j.status = 'pending'
      AND j.isolated
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
), due AS (
    SELECT id FROM plain UNION ALL SELECT id FROM alone
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
