-- A flood of bad bearer tokens: GET the URL's path with a token that is not a JWT
-- until FLOOD_REQUESTS responses came back, then print one FLOOD_JSON line and exit
-- (wrk itself would idle until its -d ran out). Run with -t1: the count is per thread.
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } flood_timespec;
int clock_gettime(int clock_id, flood_timespec *tp);
]])
local clock = ffi.new("flood_timespec")

local function now_us()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end

local limit = tonumber(os.getenv("FLOOD_REQUESTS") or "100000")
local seen, errors, started = 0, 0, nil
wrk.headers["Authorization"] = "Bearer not.a.token"

function request()
  started = started or now_us()
  return wrk.format()
end

function response(status, headers, body)
  seen = seen + 1
  if status ~= 401 then
    errors = errors + 1
  end
  if seen >= limit then
    local elapsed = math.floor(now_us() - started)
    io.write(string.format('FLOOD_JSON {"requests":%d,"duration_us":%d,"not_401":%d}\n',
      seen, elapsed, errors))
    io.flush()
    os.exit(0)
  end
end
