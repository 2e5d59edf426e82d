-- One row per janitor round that ran, whoever ran it (the CronJob's `botgateway janitor --once`,
-- or a gateway's in-process loop). A CronJob cannot be scraped, so the gateways' /metrics and the
-- BotGateway status read the last rounds from here, and an alert can say when none came.
-- The janitor trims rows older than 30 days as it records. IF NOT EXISTS: idempotent, and
-- `botgateway migrate` applies it under its advisory lock, so concurrent pods take turns.
CREATE TABLE IF NOT EXISTS gateway_janitor_rounds (
    id               bigserial        PRIMARY KEY,
    finished_at      timestamptz      NOT NULL DEFAULT now(),
    runner           text             NOT NULL,
    host             text             NOT NULL DEFAULT '',
    duration_seconds double precision NOT NULL,
    recovered        integer          NOT NULL,
    dead_lettered    integer          NOT NULL,
    purged           bigint           NOT NULL
);

CREATE INDEX IF NOT EXISTS gateway_janitor_rounds_runner_idx
    ON gateway_janitor_rounds (runner, finished_at DESC);
