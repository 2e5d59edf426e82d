-- wrk script for the service bench's ingest: POSTs real-shaped Telegram updates, each with a
-- unique update_id (the service is idempotent on bot + update id: a repeated id would be a
-- dedup hit, not an insert), with the bot's secret header.
--
--   wrk -t T -c C -d S -s webhook.lua URL -- FIRST_ID IDS_PER_THREAD SECRET
--
-- Thread k sends FIRST_ID + k * IDS_PER_THREAD, +1, +2, ... (disjoint ranges per thread).
-- done() prints one line, {"wrk": {...}}, that tests/bench/wrk_loadgen.py parses.

-- The same bytes as tests/bench/workload.py update() dumped compactly; the unit test renders
-- this template and compares. Arguments: id, id, date, chat id, chat id, id.
local BODY = '{"update_id":%d,"message":{"message_id":%d,"date":%d,"chat":{"id":%d,"type":"private","first_name":"Bench"},"from":{"id":%d,"is_bot":false,"first_name":"Bench"},"text":"hello %d"}}'

local threads = {}

function setup(thread)
   thread:set("index", #threads)
   table.insert(threads, thread)
end

function init(args)
   first_id = tonumber(args[1]) + index * tonumber(args[2])
   next_id = first_id
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = args[3]
end

function request()
   local id = next_id
   next_id = next_id + 1
   local chat = 100000 + id % 64
   return wrk.format(nil, nil, nil, string.format(BODY, id, id, 1700000000 + id, chat, chat, id))
end

function done(summary, latency, requests)
   local sent = 0
   for _, thread in ipairs(threads) do
      sent = sent + (thread:get("next_id") - thread:get("first_id"))
   end
   local e = summary.errors
   io.write(string.format(
      '{"wrk":{"duration_us":%d,"requests":%d,"sent":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}}\n',
      summary.duration, summary.requests, sent, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end
