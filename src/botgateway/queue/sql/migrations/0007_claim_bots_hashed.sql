-- The claim's bot filter, hashed: a gateway serving many bots no longer pays for its bot list
-- on every job the claim looks at.
--
-- `bot_slug = ANY ($5)` compares each candidate row with the list one element after another (a
-- parameter array is never hashed), so a gateway serving 10,000 bots made up to 10,000 string
-- comparisons per row: measured by hand, repeated 100-job claims of 20,000 jobs spread over
-- 10,000 bots took 31 ms each instead of 1.4 ms with no bot list.
-- `IN (SELECT unnest ($5))` inside the OR cannot be turned into a join, so it stays a subplan,
-- and an uncorrelated one the planner hashes: the list is read into a hash table once per claim
-- (0.4 ms for 10,000 bots) and each row costs one probe (the same claim: 5 ms, most of it
-- sending the list). Nothing else of 0006's function changes; its comments hold.
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
      AND ($5::text[] IS NULL OR j.bot_slug IN (SELECT unnest($5::text[])))
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
      AND ($5::text[] IS NULL OR j.bot_slug IN (SELECT unnest($5::text[])))
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
