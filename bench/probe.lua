-- GET the URL's path like get.lua, on ONE connection per thread (wrk -c1), and
-- time every request itself: the raw latency distribution, without wrk's
-- coordinated-omission correction (see report.lua). One connection per thread,
-- because request() and response() do not say which connection they belong to.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "get.lua")

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local clock = ffi.new("bench_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end

local threads = {}
local sent_at = 0
histogram = {} -- microseconds -> responses; global, so that done() can fetch it

function setup(thread)
  table.insert(threads, thread)
end

function request()
  sent_at = now_us()
  return wrk.format()
end

function response(status, headers, body)
  local us = math.floor(now_us() - sent_at)
  histogram[us] = (histogram[us] or 0) + 1
end

local function percentiles(merged, wanted)
  local values, total = {}, 0
  for us, count in pairs(merged) do
    table.insert(values, us)
    total = total + count
  end
  table.sort(values)
  local found, seen, next_wanted = {}, 0, 1
  for _, us in ipairs(values) do
    seen = seen + merged[us]
    while next_wanted <= #wanted and seen >= wanted[next_wanted] / 100 * total do
      found[next_wanted] = us
      next_wanted = next_wanted + 1
    end
  end
  return found, values[#values] or 0
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for us, count in pairs(thread:get("histogram")) do
      merged[us] = (merged[us] or 0) + count
    end
  end
  local found, max_us = percentiles(merged, { 50, 99 })
  report(summary, latency, {
    raw_p50_us = found[1] or 0,
    raw_p99_us = found[2] or 0,
    raw_max_us = max_us,
  })
end
