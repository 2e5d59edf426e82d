-- New jobs are parked once per statement, not once per row; 0008's rule and its locking stay.
--
-- 0008's BEFORE INSERT row trigger ran gateway_chat_jobs_ahead for every new job with a chat
-- key: one or two queries from plpgsql per row, each with its own executor start and snapshot.
-- Measured with enqueue_many in batches of 1,000, that stored 10k jobs/s over 10,000 chats and
-- 13k over 100 chats, against 57k and 60k with no parking at all; the probes' row locks were
-- not the cost (as slow without them).
--
-- Now one set-based UPDATE (gateway_park_waiting) settles a statement's new jobs: an AFTER
-- INSERT statement trigger hands it the ids from its transition table. Over 10,000 chats (a
-- job or two per chat, none parked) a batch stores 53k jobs/s. A writer may store new jobs
-- parked already (enqueue_many does for those behind two of their chat's updates in its own
-- batch), and the function writes only the jobs whose state is wrong, so a backlog arriving in
-- batches is mostly written once: over 100 chats 28-33k jobs/s, against 23k when every parked
-- job was stored due and written again. A guess the statement's own jobs confirm is not
-- looked up in the table at all (gateway_jobs_park_inserted): one busy chat then stores 42-45k
-- jobs/s instead of 21-24k. Jobs without a chat key pay for the transition table only, within
-- noise.
--
-- Why this is as safe as the row trigger (0008 gives the locking argument; it carries over):
--   - the UPDATE runs after the statement's inserts, so a batch's own earlier jobs of a chat
--     count as ahead, as they did row by row; only rows really inserted are in the transition
--     table (a redelivery dropped by ON CONFLICT is not, and counts for nothing, though the
--     writer's own guess counted it);
--   - its query takes one fresh snapshot (READ COMMITTED) after the inserts instead of one per
--     row: a job ahead that finished since is seen finished, or is locked by its completion
--     and skipped, or (finished after the snapshot) rechecked by the row lock and left out;
--     each way the new job is left (or made) due, which costs at most a step over it;
--   - the jobs ahead that it counts stay share-locked until this transaction commits, so their
--     completions, which hand on to the next job, see the parked one.
-- New jobs are due between the insert and the UPDATE, but only inside the inserting
-- transaction: nobody else can see, let alone claim, them before it commits.
--
-- A job requeued from done or dead is parked by the same function, per row (rare, and a
-- statement trigger on UPDATE would copy every claim's and heartbeat's rows; see 0008).

-- The jobs among `ids` that are pending get the parking rule (0008): parked when two or more
-- jobs of their chat are ahead (unfinished with an earlier update, or running; the writer's
-- guess, policy.parked_in_batch, holds the same two), else due from when they arrived. Only the
-- jobs whose state disagrees with the rule are written: a writer that parked a new job already
-- (enqueue_many parks what waits behind its own batch) pays no second write, and one that
-- guessed wrong is set right (a redelivery in its batch that ON CONFLICT dropped counted for
-- nothing). Returns how many were written. VOLATILE: it sees the caller's rows and what
-- committed before it ran. STRICT: called with no ids (array_agg over nothing is NULL), it does
-- not run.
--
-- The jobs are updated by primary key alone, as gateway_unpark_heads does and for the same
-- reason: a planner without statistics must not read the due index instead.
CREATE OR REPLACE FUNCTION gateway_park_waiting(ids bigint[]) RETURNS integer
LANGUAGE sql
VOLATILE
STRICT
AS $$
WITH changed AS (
    UPDATE gateway_jobs j
    SET next_retry_at = CASE WHEN isfinite(j.next_retry_at) THEN 'infinity' ELSE j.created_at END
    WHERE j.id = ANY (ARRAY(
        SELECT n.id
        FROM gateway_jobs n
        CROSS JOIN LATERAL (
            SELECT count(*) AS jobs
            FROM (SELECT 1
                  FROM gateway_jobs e
                  WHERE e.bot_slug = n.bot_slug
                    AND e.chat_key = n.chat_key
                    AND e.update_id < n.update_id
                    AND e.status IN ('pending', 'running')
                  LIMIT 2
                  FOR SHARE SKIP LOCKED) AS found) AS earlier
        WHERE n.id = ANY (ids)
          AND n.chat_key IS NOT NULL
          AND n.status = 'pending'
          AND (earlier.jobs + CASE
                -- An earlier update arriving late also waits for a later one already running.
                WHEN earlier.jobs = 1 THEN (
                    SELECT count(*)
                    FROM (SELECT 1
                          FROM gateway_jobs r
                          WHERE r.bot_slug = n.bot_slug
                            AND r.chat_key = n.chat_key
                            AND r.update_id > n.update_id
                            AND r.status = 'running'
                          LIMIT 1
                          FOR SHARE SKIP LOCKED) AS found)
                ELSE 0
              END >= 2) = isfinite(n.next_retry_at)))
    RETURNING 1
)
SELECT count(*)::integer FROM changed;
$$;

-- A new job stored parked with two or more pending jobs of its chat ahead of it in the same
-- statement is right without a look at the table: those jobs are this transaction's own, so
-- none can finish before it commits, and each hands on when it does. Only the others are
-- checked against the table.
CREATE OR REPLACE FUNCTION gateway_jobs_park_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gateway_park_waiting(ARRAY(
        SELECT n.id
        FROM (SELECT id, next_retry_at,
                     row_number() OVER (PARTITION BY bot_slug, chat_key ORDER BY update_id)
                         AS place
              FROM inserted
              WHERE chat_key IS NOT NULL AND status = 'pending') AS n
        WHERE isfinite(n.next_retry_at) OR n.place <= 2));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION gateway_jobs_park_requeued() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gateway_park_waiting(ARRAY[NEW.id]);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS gateway_jobs_park_new ON gateway_jobs;
DROP TRIGGER IF EXISTS gateway_jobs_park_requeued ON gateway_jobs;

-- With ordering off it runs all the same (a statement trigger has no WHEN on the new rows),
-- finds no chat key and calls nothing.
CREATE TRIGGER gateway_jobs_park_inserted
    AFTER INSERT ON gateway_jobs
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT
    EXECUTE FUNCTION gateway_jobs_park_inserted();

-- AFTER, not BEFORE as in 0008: the function updates the row, so the row must be there. Every
-- job a statement requeues sees the others, so a chat requeued at once parks all but its first
-- two, whatever order the rows were updated in.
CREATE TRIGGER gateway_jobs_park_requeued
    AFTER UPDATE OF status ON gateway_jobs
    FOR EACH ROW
    WHEN (NEW.chat_key IS NOT NULL
          AND OLD.status IN ('done', 'dead')
          AND NEW.status = 'pending')
    EXECUTE FUNCTION gateway_jobs_park_requeued();

-- 0008's row-by-row rule, now unused (its backfill ran before this).
DROP FUNCTION IF EXISTS gateway_jobs_park();
DROP FUNCTION IF EXISTS gateway_chat_jobs_ahead(text, text, bigint);
