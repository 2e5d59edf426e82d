-- Named queries of the queue store. Each starts with `-- name: <name>`; comments after the name
-- line say why the query is shaped the way it is.

-- name: enqueue_many
-- Idempotent on (bot_slug, update_id): a redelivery is dropped by ON CONFLICT and is not returned.
-- Callers pass rows sorted by key so concurrent batches lock in one order and cannot deadlock.
-- $6 (NULL without chat keys): the jobs parked behind their chat's earlier updates in the
-- batch (policy.parked_in_batch), stored parked at once; migration 0009's trigger then checks
-- every new job against the table and parks or unparks what the hint got wrong.
INSERT INTO gateway_jobs (bot_slug, handler_type, update_id, payload, chat_key, next_retry_at)
SELECT bot_slug, handler_type, update_id, payload, chat_key,
       CASE WHEN parked THEN 'infinity'::timestamptz ELSE now() END
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]::jsonb[], $5::text[],
            $6::boolean[]) AS new (bot_slug, handler_type, update_id, payload, chat_key, parked)
ON CONFLICT (bot_slug, update_id) DO NOTHING
RETURNING bot_slug, update_id;

-- name: claim
-- The oldest due pending jobs of the bots in $5 (NULL: any), up to $1, leased to $2 for $3
-- seconds; $4 picks the isolated ones (see policy.plan_claim). The statement lives in migration
-- 0006 as the function gateway_claim, planned with sorting and hash/merge joins off so that its
-- plan depends neither on planner statistics (a fresh database has none) nor on the values of
-- its parameters; its comments say why it is shaped so.
-- $5 comes as the text of an array literal (store.bot_array: one string, not thousands of
-- elements to encode in Python).
SELECT * FROM gateway_claim($1, $2, $3, $4, $5::text::text[]);

-- name: isolated_due
-- Is an isolated job of these bots (NULL: any) waiting? Busy workers ask now and then, and
-- drain to take it.
SELECT EXISTS (
    SELECT 1 FROM gateway_jobs
    WHERE status = 'pending' AND isolated AND next_retry_at <= now()
      AND ($1::text IS NULL OR bot_slug = ANY ($1::text::text[]))
);

-- name: heartbeat
-- Renew the leases the caller still holds; updated_at moves too, so the seed's own
-- recoverStuckSQL never mistakes a live job for a stuck one. Returns the ids still held.
UPDATE gateway_jobs
SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
WHERE id = ANY($1::bigint[]) AND lease_owner = $2 AND status = 'running'
RETURNING id;

-- name: complete_many
-- Only a job the caller still holds (owner and attempt match) is completed. The next job of
-- each of their chats comes due (migration 0008; not called without chats).
WITH done AS (
    UPDATE gateway_jobs g
    SET status = 'done', updated_at = now(), last_error = NULL,
        lease_owner = NULL, lease_expires_at = NULL
    FROM unnest($1::bigint[], $2::int[]) AS held(id, attempts)
    WHERE g.id = held.id AND g.attempts = held.attempts
      AND g.lease_owner = $3 AND g.status = 'running'
    RETURNING g.id, g.bot_slug, g.chat_key
), handed_on AS (
    SELECT gateway_unpark_heads(array_agg(bot_slug), array_agg(chat_key))
    FROM done WHERE chat_key IS NOT NULL
)
SELECT done.id FROM done, handed_on;

-- name: retry
-- The worker survived the attempt, so the job no longer needs to run alone.
UPDATE gateway_jobs
SET status = 'pending', next_retry_at = now() + make_interval(secs => $4), last_error = $5,
    updated_at = now(), lease_owner = NULL, lease_expires_at = NULL, isolated = false
WHERE id = $1 AND attempts = $2 AND lease_owner = $3 AND status = 'running'
RETURNING id;

-- name: defer
-- Put a held job back for later without spending its attempt: the job did not fail, it was
-- held back (a rate limit of ours, say). The worker survived it: no need to run it alone.
UPDATE gateway_jobs
SET status = 'pending', attempts = attempts - 1, next_retry_at = now() + make_interval(secs => $4),
    updated_at = now(), lease_owner = NULL, lease_expires_at = NULL, isolated = false
WHERE id = $1 AND attempts = $2 AND lease_owner = $3 AND status = 'running'
RETURNING id;

-- name: dead_letter
-- The next job of its chat comes due, as in complete_many.
WITH dead AS (
    UPDATE gateway_jobs
    SET status = 'dead', last_error = $4, updated_at = now(),
        lease_owner = NULL, lease_expires_at = NULL
    WHERE id = $1 AND attempts = $2 AND lease_owner = $3 AND status = 'running'
    RETURNING id, bot_slug, chat_key
), handed_on AS (
    SELECT gateway_unpark_heads(array_agg(bot_slug), array_agg(chat_key))
    FROM dead WHERE chat_key IS NOT NULL
)
SELECT dead.id FROM dead, handed_on;

-- name: release
-- Hand held jobs back as pending. $4 is 1 when the attempt is given back (a job that never
-- started, or one our own shutdown cut off: see policy.decide_interrupted) and 0 when it
-- counts. $5 isolates them (they run alone next time); an isolated job stays isolated.
UPDATE gateway_jobs g
SET status = 'pending', attempts = g.attempts - $4, updated_at = now(),
    lease_owner = NULL, lease_expires_at = NULL, isolated = g.isolated OR $5
FROM unnest($1::bigint[], $2::int[]) AS held(id, attempts)
WHERE g.id = held.id AND g.attempts = held.attempts
  AND g.lease_owner = $3 AND g.status = 'running'
RETURNING g.id;

-- name: stuck_candidates
-- Running jobs whose lease expired, or that carry no lease (claimed by the seed's Go worker)
-- and were not touched for the stuck timeout. Locked so a racing heartbeat waits for us.
SELECT id, attempts, lease_owner, lease_expires_at, updated_at, now() AS now
FROM gateway_jobs
WHERE status = 'running'
  AND ((lease_expires_at IS NOT NULL AND lease_expires_at < now())
       OR (lease_expires_at IS NULL AND updated_at < now() - make_interval(secs => $1)))
ORDER BY id
LIMIT $2
FOR UPDATE SKIP LOCKED;

-- name: settle_stuck
-- Apply the janitor's decisions for one batch in one statement: back to pending now, or dead.
-- Either way the job is isolated: its worker was lost holding it, and it may be what killed
-- that worker, so it runs alone from now on (see claim_isolated), also if requeued from dead.
-- The next job of each dead one's chat comes due, as in complete_many.
WITH settled AS (
    UPDATE gateway_jobs g
    SET status = d.status, last_error = d.error, updated_at = now(),
        next_retry_at = CASE WHEN d.status = 'pending' THEN now() ELSE g.next_retry_at END,
        lease_owner = NULL, lease_expires_at = NULL, isolated = true
    FROM unnest($1::bigint[], $2::text[], $3::text[]) AS d(id, status, error)
    WHERE g.id = d.id AND g.status = 'running'
    RETURNING g.status, g.bot_slug, g.chat_key
)
SELECT gateway_unpark_heads(array_agg(bot_slug), array_agg(chat_key))
FROM settled WHERE status = 'dead' AND chat_key IS NOT NULL;

-- name: unpark_stalled
-- The janitor's safety net for per-chat ordering (migration 0008): a parked job that the claim's
-- per-chat check would let through has nothing left to unpark it (another writer finished the
-- jobs ahead of it without handing on); it becomes due from when it arrived.
-- Only a chat's first parked job can be in that state (the later ones have it ahead), so the
-- parked jobs are read once (the due index's far end) to find each chat's first, and only
-- those get the claim's per-chat check: with 99,800 jobs parked over 100 chats a round took
-- 26 ms instead of 780 with a check per parked job. The check is written out (a function
-- holding it would not be inlined, its probes being subqueries: one call per row); the head is
-- fetched by key inside LATERAL so that no planner statistics can turn it into a join that
-- reads the whole table, and without `status = 'pending'`, which let a planner without
-- statistics add the due index to each lookup (87 ms, reading every parked job per chat, as
-- in gateway_unpark_heads). A parked job without a chat key (only by hand) is a group of its
-- own.
UPDATE gateway_jobs g
SET next_retry_at = g.created_at
WHERE g.id = ANY (ARRAY(
    SELECT head.id
    FROM (SELECT bot_slug, min(update_id) AS update_id
          FROM gateway_jobs
          WHERE status = 'pending' AND next_retry_at = 'infinity'
          GROUP BY bot_slug, chat_key, CASE WHEN chat_key IS NULL THEN id END) AS first_parked,
    LATERAL (
        SELECT p.id FROM gateway_jobs p
        WHERE p.bot_slug = first_parked.bot_slug
          AND p.update_id = first_parked.update_id
          AND NOT isfinite(p.next_retry_at)
          AND (p.chat_key IS NULL OR (
                NOT EXISTS (
                    SELECT 1 FROM gateway_jobs e
                    WHERE e.bot_slug = p.bot_slug
                      AND e.chat_key = p.chat_key
                      AND e.update_id < p.update_id
                      AND e.chat_key IS NOT NULL
                      AND e.status IN ('pending', 'running'))
                AND NOT EXISTS (
                    SELECT 1 FROM gateway_jobs r
                    WHERE r.bot_slug = p.bot_slug
                      AND r.chat_key = p.chat_key
                      AND r.chat_key IS NOT NULL
                      AND r.status = 'running')))
        FOR UPDATE SKIP LOCKED) AS head
    LIMIT $1
))
  AND NOT isfinite(g.next_retry_at);

-- name: purge_done_batch
-- One bounded batch, oldest first through the partial index, so no statement locks for long.
-- `id = ANY(ARRAY(...))` makes the batch an array that the delete looks up by primary key: the
-- work is bounded by the batch. (`id IN (SELECT ...)` was planned as a hash semi-join over a
-- sequential scan of the whole table, so every batch read every row, and a batch took longer
-- the bigger the table.) SKIP LOCKED: a row someone else holds (the seed's own purge running
-- at the same time) is left for a later round rather than waited for.
DELETE FROM gateway_jobs
WHERE id = ANY (ARRAY(
    SELECT id FROM gateway_jobs
    WHERE status = 'done' AND updated_at < now() - make_interval(secs => $1)
    ORDER BY updated_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
))
  AND status = 'done';

-- name: stats
-- Oldest pending age counts from when a job became due, so a job waiting out its backoff is
-- not a backlog; `due` (pending and due now) is the work a worker could take at once.
SELECT bot_slug, status, count(*) AS jobs,
       count(*) FILTER (WHERE status = 'pending' AND next_retry_at <= now())::int AS due,
       extract(epoch FROM now() - min(next_retry_at)
               FILTER (WHERE status = 'pending' AND next_retry_at <= now()))::float8
           AS oldest_due_seconds
FROM gateway_jobs
GROUP BY bot_slug, status
ORDER BY bot_slug, status;

-- name: list_jobs
SELECT id, bot_slug, handler_type, update_id, status, attempts, next_retry_at, last_error,
       created_at, updated_at
FROM gateway_jobs
WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR bot_slug = $2)
ORDER BY id DESC
LIMIT $3;

-- name: job_detail
SELECT id, bot_slug, handler_type, update_id, status, attempts, next_retry_at, last_error,
       created_at, updated_at, payload::text AS payload, chat_key, lease_owner,
       lease_expires_at, isolated
FROM gateway_jobs
WHERE id = $1;

-- name: requeue_dead
-- Give dead jobs a fresh set of attempts; last_error stays until they succeed.
UPDATE gateway_jobs
SET status = 'pending', attempts = 0, next_retry_at = now(), updated_at = now(),
    lease_owner = NULL, lease_expires_at = NULL
WHERE status = 'dead'
  AND ($1::bigint[] IS NULL OR id = ANY($1))
  AND ($2::text IS NULL OR bot_slug = $2)
RETURNING id;

-- name: take_lease
-- The lease when nobody holds it or its holder let it expire; no row back: someone else holds it.
-- Two janitors racing on a free lease: the second waits on the first's insert, then finds the
-- lease live and takes nothing.
INSERT INTO gateway_janitor_lease AS l (name, holder, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (name) DO UPDATE
SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
WHERE l.expires_at < now()
RETURNING holder;

-- name: renew_lease
-- Still ours (nobody took it over, even if it lapsed meanwhile): extend it.
UPDATE gateway_janitor_lease
SET expires_at = now() + make_interval(secs => $3)
WHERE name = $1 AND holder = $2
RETURNING holder;

-- name: drop_lease
DELETE FROM gateway_janitor_lease WHERE name = $1 AND holder = $2;

-- name: migration_lock
-- Held until the migrating transaction ends: concurrent `botgateway migrate` runs take turns.
SELECT pg_advisory_xact_lock($1);

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS botgateway_schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: applied_migrations
SELECT version FROM botgateway_schema_migrations ORDER BY version;

-- name: record_migration
INSERT INTO botgateway_schema_migrations (version, name) VALUES ($1, $2);

-- name: ping
SELECT 1;

-- name: connection_limits
-- reserved_connections exists from PostgreSQL 16 (missing_ok: NULL before).
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int
         + coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved;

-- name: record_janitor_round
-- One round's result; rounds older than 30 days go in the same statement, so the table stays
-- small (a CronJob every minute: about 43,000 rows) without a job of its own.
WITH trimmed AS (
    DELETE FROM gateway_janitor_rounds WHERE finished_at < now() - interval '30 days'
)
INSERT INTO gateway_janitor_rounds (runner, host, duration_seconds, recovered, dead_lettered, purged)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: last_janitor_rounds
-- The latest round of each runner (through the (runner, finished_at) index).
SELECT DISTINCT ON (runner)
       runner, host, finished_at, duration_seconds, recovered, dead_lettered, purged
FROM gateway_janitor_rounds
ORDER BY runner, finished_at DESC;
