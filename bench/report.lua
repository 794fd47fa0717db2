-- Loaded by the wrk scripts: done() prints one JSON line that bench/loadgen.py reads.
--
-- wrk "corrects" its latency histogram for coordinated omission before done()
-- sees it: every response slower than twice the mean interval per connection
-- adds synthetic samples, as if an open-loop client had kept sending meanwhile.
-- On one connection a handful of stalls can then move p99 tenfold; probe.lua
-- times each request itself to give the raw distribution as well.
-- Errors: responses with a status >= 400 and failed connects, reads, writes, timeouts.

function report(summary, latency, extra)
  local e = summary.errors
  local fields = {
    requests = summary.requests,
    duration_us = summary.duration,
    p50_us = latency:percentile(50),
    p99_us = latency:percentile(99),
    errors = e.status + e.connect + e.read + e.write + e.timeout,
  }
  for name, value in pairs(extra or {}) do
    fields[name] = value
  end
  local parts = {}
  for name, value in pairs(fields) do
    table.insert(parts, string.format('"%s":%d', name, math.floor(value)))
  end
  io.write("BENCH_JSON {" .. table.concat(parts, ",") .. "}\n")
end

function done(summary, latency, requests)
  report(summary, latency, {})
end
