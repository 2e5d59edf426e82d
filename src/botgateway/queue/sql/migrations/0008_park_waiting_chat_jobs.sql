-- Per-chat ordering without walking the waiting jobs: a pending job with two or more jobs of
-- its chat ahead is parked, due at 'infinity', past the end of every claim's range.
--
-- Before, a waiting job stayed due and sat in the due index with the others, so every claim of
-- every worker stepped over all the waiting jobs of every busy chat, each at the cost of a
-- chat-index probe: measured with auto_explain, one chat with 20,000 pending jobs made each
-- claim read 19,999 rows (60 ms), and a backlog over 100 chats drained at 0.08x the rate with
-- ordering off.
--
-- Parking uses next_retry_at rather than a new column so that nothing else has to learn it: the
-- claim's `next_retry_at <= now()` bound ends its index scan before the parked jobs, the seed's
-- own pop skips them too (its chat-blind pop can no longer take a chat's later update ahead of
-- an earlier one), and the `due` and oldest-due figures of `stats` leave out what cannot run.
--
-- The claim's per-chat check stays and still decides the order; it is split in two probes below
-- so that neither reads the chat's later jobs. Parking only keeps the claim from looking: a job
-- left unparked (by a race below, or by a writer that does not park) is stepped over as before
-- (a cost, never a reordering); a job left parked with nothing to wake it would stall its chat,
-- which the locking below rules out for this package's own statements, and the janitor unparks
-- such a job at its next round (query unpark_stalled).
--
-- Parking is a trigger, so every writer parks (pods of an older version during a rollout, the
-- seed's Go gateway, SQL by hand); unparking is done by the statements that finish jobs (see
-- gateway_unpark_heads for why).

-- The per-chat check, in two probes that each read only what they look for. As one probe
-- (`status = 'running' OR update_id < $`), it could not bound its scan of the chat index, so a
-- chat's head read every later job of its chat, each from the heap: 3 ms of PostgreSQL time per
-- job with 20,000 jobs waiting in one chat. Now: the chat's earlier unfinished jobs (an index
-- range that ends at the job), and a running job of the chat, through an index of those alone
-- (a running job with a later update: an earlier update that arrived late waits for it).
CREATE INDEX IF NOT EXISTS gateway_jobs_chat_running_idx
    ON gateway_jobs (bot_slug, chat_key)
    WHERE chat_key IS NOT NULL AND status = 'running';

-- Nothing else of 0007's function changes; its comments and 0006's hold.
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
WITH plain AS (
    SELECT j.id
    FROM gateway_jobs j
    WHERE NOT $4
      AND j.status = 'pending'
      AND NOT j.isolated
      AND j.next_retry_at <= now()
      AND ($5::text[] IS NULL OR j.bot_slug IN (SELECT unnest($5::text[])))
      AND (j.chat_key IS NULL OR (
            NOT EXISTS (
                SELECT 1 FROM gateway_jobs e
                WHERE e.bot_slug = j.bot_slug
                  AND e.chat_key = j.chat_key
                  AND e.update_id < j.update_id
                  AND e.chat_key IS NOT NULL
                  AND e.status IN ('pending', 'running'))
            AND NOT EXISTS (
                SELECT 1 FROM gateway_jobs r
                WHERE r.bot_slug = j.bot_slug
                  AND r.chat_key = j.chat_key
                  AND r.chat_key IS NOT NULL
                  AND r.status = 'running')))
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
      AND (j.chat_key IS NULL OR (
            NOT EXISTS (
                SELECT 1 FROM gateway_jobs e
                WHERE e.bot_slug = j.bot_slug
                  AND e.chat_key = j.chat_key
                  AND e.update_id < j.update_id
                  AND e.chat_key IS NOT NULL
                  AND e.status IN ('pending', 'running'))
            AND NOT EXISTS (
                SELECT 1 FROM gateway_jobs r
                WHERE r.bot_slug = j.bot_slug
                  AND r.chat_key = j.chat_key
                  AND r.chat_key IS NOT NULL
                  AND r.status = 'running')))
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

-- Entering the queue (a new job, or a dead one requeued): parked when two or more jobs of its
-- chat are ahead of it (unfinished with an earlier update, or running). The job next in line is
-- left due: it waits one handler run at most, and parking it would cost a second write when its
-- turn comes, which for chats with a job or two in flight (most chats) is all cost and no gain.
--
-- FOR SHARE on the jobs found: while this transaction is open, they cannot finish (a completion
-- waits for us), so whoever finishes one afterwards sees this job committed, and the unparking
-- below reaches it in turn. With two jobs ahead, at least one of them is pending (a chat runs
-- one job at a time), so it is claimed, and finished, only after this insert committed.
-- SKIP LOCKED: a job being finished right now (locked by its completion) counts as finished, so
-- this job stays due, and an insert never waits for a completion (a group insert and a group
-- completion over the same chats cannot deadlock).
-- VOLATILE (the default): in READ COMMITTED each query here takes a fresh snapshot, so it sees
-- whatever committed before it; and in a multi-row INSERT it sees the rows before it, so a batch
-- of one chat's updates parks all but the first two.
CREATE OR REPLACE FUNCTION gateway_chat_jobs_ahead(bot text, chat text, update bigint)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    ahead integer;
BEGIN
    SELECT count(*) INTO ahead FROM (
        SELECT 1
        FROM gateway_jobs e
        WHERE e.bot_slug = bot
          AND e.chat_key = chat
          AND e.update_id < update
          AND e.status IN ('pending', 'running')
        LIMIT 2
        FOR SHARE SKIP LOCKED) AS earlier;
    IF ahead = 1 THEN
        -- An earlier update arriving late also waits for a later one already running.
        SELECT ahead + count(*) INTO ahead FROM (
            SELECT 1
            FROM gateway_jobs r
            WHERE r.bot_slug = bot
              AND r.chat_key = chat
              AND r.update_id > update
              AND r.status = 'running'
            LIMIT 1
            FOR SHARE SKIP LOCKED) AS running_later;
    END IF;
    RETURN ahead;
END
$$;

CREATE OR REPLACE FUNCTION gateway_jobs_park() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF gateway_chat_jobs_ahead(NEW.bot_slug, NEW.chat_key, NEW.update_id) >= 2 THEN
        NEW.next_retry_at := 'infinity';
    END IF;
    RETURN NEW;
END
$$;

-- Leaving (a job finished or died): in each chat given, the earliest pending job is due from
-- when it arrived, if it was parked. Called by the statements that finish jobs (complete_many,
-- dead_letter, settle_stuck in queries.sql), once per statement with the chats of the jobs that
-- left, and by the delete trigger below.
--
-- Not an update trigger: a statement trigger needs transition tables, which PostgreSQL fills
-- with whole rows for every update (claims and heartbeats too), and with it a backlog over
-- 10,000 chats drained at 0.57x the rate with ordering off (PostgreSQL CPU per job 123 us
-- against 64 without it); a row trigger cost about as much. A writer other than this package's
-- statements (the seed's Go worker, SQL by hand) leaves the next job parked until the
-- janitor's next round (unpark_stalled), or calls this function itself.
--
-- VOLATILE: its query takes a fresh snapshot, so it sees a job that committed while the
-- caller's statement waited for that job's insert to release its locks (see above). STRICT:
-- called with no chats (ordering off: array_agg over no rows is NULL), it does not run at all.
--
-- The heads are found first and then updated by primary key alone. The update tests neither
-- `status = 'pending'` nor `next_retry_at = 'infinity'`: either would let the planner read the
-- due index (partial on status, on next_retry_at first) instead, and without statistics (a new
-- database) it did, walking every parked job for every completion: 190 ms per completed job
-- with 20,000 jobs parked in one chat. A head that changed status since (by hand) has its
-- next_retry_at set all the same, which nothing reads unless it is pending.
CREATE OR REPLACE FUNCTION gateway_unpark_heads(bots text[], chats text[]) RETURNS integer
LANGUAGE sql
VOLATILE
STRICT
AS $$
WITH woken AS (
    UPDATE gateway_jobs h
    SET next_retry_at = h.created_at
    WHERE h.id = ANY (ARRAY(
            SELECT head.id
            FROM (SELECT DISTINCT b.bot_slug, b.chat_key
                  FROM unnest(bots, chats) AS b(bot_slug, chat_key)
                  WHERE b.chat_key IS NOT NULL) AS chat,
                 LATERAL (SELECT n.id
                          FROM gateway_jobs n
                          WHERE n.bot_slug = chat.bot_slug
                            AND n.chat_key = chat.chat_key
                            AND n.status = 'pending'
                          ORDER BY n.update_id
                          LIMIT 1) AS head))
      AND NOT isfinite(h.next_retry_at)
    RETURNING 1
)
SELECT count(*)::integer FROM woken;
$$;

-- Deleting unfinished jobs (by hand) hands on as finishing does. Per row, and only for those:
-- the purge's deletes of done rows never call it.
CREATE OR REPLACE FUNCTION gateway_jobs_unpark_next() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gateway_unpark_heads(ARRAY[OLD.bot_slug], ARRAY[OLD.chat_key]);
    RETURN NULL;
END
$$;

-- The WHEN clauses of the row triggers are checked without calling the function, so jobs
-- without a chat key (ordering off) pay nothing there.
DROP TRIGGER IF EXISTS gateway_jobs_park_new ON gateway_jobs;
CREATE TRIGGER gateway_jobs_park_new
    BEFORE INSERT ON gateway_jobs
    FOR EACH ROW
    WHEN (NEW.chat_key IS NOT NULL)
    EXECUTE FUNCTION gateway_jobs_park();

DROP TRIGGER IF EXISTS gateway_jobs_park_requeued ON gateway_jobs;
CREATE TRIGGER gateway_jobs_park_requeued
    BEFORE UPDATE OF status ON gateway_jobs
    FOR EACH ROW
    WHEN (NEW.chat_key IS NOT NULL
          AND OLD.status IN ('done', 'dead')
          AND NEW.status = 'pending')
    EXECUTE FUNCTION gateway_jobs_park();

DROP TRIGGER IF EXISTS gateway_jobs_unpark_after_delete ON gateway_jobs;
CREATE TRIGGER gateway_jobs_unpark_after_delete
    AFTER DELETE ON gateway_jobs
    FOR EACH ROW
    WHEN (OLD.chat_key IS NOT NULL AND OLD.status IN ('pending', 'running'))
    EXECUTE FUNCTION gateway_jobs_unpark_next();

-- Jobs already waiting when this runs, by the same rule (CREATE TRIGGER locked the table
-- against writes until the migration commits, so the rule's locks change nothing here). Only
-- due ones: a job waiting out a retry's backoff keeps its time.
UPDATE gateway_jobs j
SET next_retry_at = 'infinity'
WHERE j.status = 'pending'
  AND j.next_retry_at <= now()
  AND j.chat_key IS NOT NULL
  AND gateway_chat_jobs_ahead(j.bot_slug, j.chat_key, j.update_id) >= 2;
