-- GET the URL's path like get.lua, on ONE connection per thread (wrk -tN -cN), and
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
timings = {} -- microseconds per response; global, so that done() can fetch it

function setup(thread)
  table.insert(threads, thread)
end

function request()
  sent_at = now_us()
  return wrk.format()
end

function response(status, headers, body)
  table.insert(timings, math.floor(now_us() - sent_at))
end

function done(summary, latency, requests)
  local all = {}
  for _, thread in ipairs(threads) do
    for _, us in ipairs(thread:get("timings")) do
      table.insert(all, us)
    end
  end
  table.sort(all)
  local function percentile(p)
    return all[math.max(1, math.ceil(p / 100 * #all))] or 0
  end
  report(summary, latency, { raw_p50_us = percentile(50), raw_p99_us = percentile(99) })
end
