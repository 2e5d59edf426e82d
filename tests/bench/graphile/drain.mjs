// graphile-worker for the bench (`tests/bench/graphile_bench.py` runs it).
//
//   node drain.mjs prepare --dsn URL --jobs N [--batch B]
//     installs the graphile_worker schema and enqueues N no-op jobs with addJobs
//   node drain.mjs work --dsn URL --jobs N --concurrency C [--local-queue S]
//       [--complete-batch-delay MS] [--max-pool P] [--poll-interval MS] [--use-node-time]
//       [--budget-ms MS]
//     runs one worker pool with a no-op task until no job is left (graphile deletes a job
//     once it completes), or until the budget is spent
//
// Each prints one JSON line. Times are epoch milliseconds, so the bench can combine
// several `work` processes draining the same backlog.
//
// graphile-worker is resolved from GRAPHILE_NODE_MODULES (the bench's `npm ci` under
// .cache/), not from next to this file.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const TASK = "bench_noop";
const REMAINING_SQL = "select count(*)::int as n from graphile_worker._private_jobs";
const POLL_MS = 5;

const modules = process.env.GRAPHILE_NODE_MODULES;
if (!modules) throw new Error("GRAPHILE_NODE_MODULES is not set");
const resolve = createRequire(join(modules, "resolver.js")).resolve;
const graphile = await import(pathToFileURL(resolve("graphile-worker")).href);
const { version } = JSON.parse(
  readFileSync(join(modules, "graphile-worker", "package.json"), "utf8"),
);

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dsn: { type: "string" },
    jobs: { type: "string" },
    batch: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "1" },
    "local-queue": { type: "string", default: "-1" },
    "complete-batch-delay": { type: "string", default: "-1" },
    "max-pool": { type: "string", default: "0" },
    "poll-interval": { type: "string", default: "2000" },
    "use-node-time": { type: "boolean", default: false },
    "budget-ms": { type: "string", default: "0" },
  },
});
const mode = positionals[0];
const dsn = values.dsn;
const jobs = Number(values.jobs);

// Warnings and errors only: graphile logs a line per completed job at info, which a user
// tuning for throughput would turn off.
const logger = new graphile.Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`graphile ${level}: ${message}`);
});

// The same Telegram-sized update as tests/bench/workload.py `update(i)`.
function update(id) {
  const chatId = 100000 + (id % 64);
  return {
    update_id: id,
    message: {
      message_id: id,
      date: 1700000000 + id,
      chat: { id: chatId, type: "private", first_name: "Bench" },
      from: { id: chatId, is_bot: false, first_name: "Bench" },
      text: `hello ${id}`,
    },
  };
}

async function prepare() {
  await graphile.runMigrations({ connectionString: dsn, logger });
  const utils = await graphile.makeWorkerUtils({ connectionString: dsn, logger });
  const batch = Number(values.batch);
  const specs = [];
  for (let start = 0; start < jobs; start += batch) {
    const spec = [];
    for (let id = start; id < Math.min(start + batch, jobs); id++) {
      spec.push({ identifier: TASK, payload: { update: update(id) } });
    }
    specs.push(spec);
  }
  const started = Date.now();
  for (const spec of specs) await utils.addJobs(spec);
  const finished = Date.now();
  await utils.release();
  return { version, jobs, enqueue_ms: finished - started };
}

async function remaining(utils) {
  return utils.withPgClient(async (client) => (await client.query(REMAINING_SQL)).rows[0].n);
}

async function work() {
  const concurrency = Number(values.concurrency);
  const maxPool = Number(values["max-pool"]) || Math.max(10, concurrency + 2);
  const localQueue = Number(values["local-queue"]);
  const budgetMs = Number(values["budget-ms"]);
  const utils = await graphile.makeWorkerUtils({ connectionString: dsn, logger });
  let ran = 0; // task calls in this process: the bench checks the processes ran every job
  const startedAt = Date.now();
  const cpuAtStart = process.cpuUsage();
  const runner = await graphile.run(
    {
      connectionString: dsn,
      concurrency,
      maxPoolSize: maxPool,
      pollInterval: Number(values["poll-interval"]),
      useNodeTime: values["use-node-time"],
      noHandleSignals: true,
      logger,
      preset: {
        worker: {
          completeJobBatchDelay: Number(values["complete-batch-delay"]),
          ...(localQueue > 1 ? { localQueue: { size: localQueue } } : {}),
        },
      },
    },
    {
      [TASK]: async () => {
        ran += 1;
      },
    },
  );
  let left = await remaining(utils);
  while (left > 0 && (budgetMs <= 0 || Date.now() - startedAt < budgetMs)) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    left = await remaining(utils);
  }
  const finishedAt = Date.now();
  const cpu = process.cpuUsage(cpuAtStart);
  await runner.stop();
  await utils.release();
  return {
    version,
    jobs,
    done: jobs - left,
    ran,
    cpu_ms: (cpu.user + cpu.system) / 1000,
    finished: left === 0,
    started_at_ms: startedAt,
    finished_at_ms: finishedAt,
  };
}

const modes = { prepare, work };
if (!(mode in modes) || !dsn || !(jobs > 0)) {
  console.error("usage: node drain.mjs prepare|work --dsn URL --jobs N [options]");
  process.exit(2);
}
console.log(JSON.stringify(await modes[mode]()));
