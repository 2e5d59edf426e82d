-- The baseline: the seed's own Go queue SQL (seeds/000_9a3436755a2c9b22.txt, queue.go,
-- Phase 2b), quoted as the seed has it. One job per claim and one commit per job.

-- name: pop
UPDATE gateway_jobs
SET status = 'running', attempts = attempts + 1, updated_at = NOW()
WHERE id = (
SELECT id FROM gateway_jobs
WHERE status = 'pending' AND next_retry_at <= NOW()
ORDER BY next_retry_at ASC
FOR UPDATE SKIP LOCKED
LIMIT 1
)
RETURNING id, bot_slug, handler_type, update_id, payload, attempts, next_retry_at, status, COALESCE(last_error, '')

-- name: mark_done
UPDATE gateway_jobs SET status = 'done', updated_at = NOW(), last_error = NULL WHERE id = $1
