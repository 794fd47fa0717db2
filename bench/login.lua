-- POST /auth/login, cycling over the seeded users bench<i>@example.com
-- (BENCH_USERS of them, all with the password BENCH_PASSWORD).
local users = tonumber(os.getenv("BENCH_USERS") or "1000")
local password = os.getenv("BENCH_PASSWORD")
local threads = 0
local next_user = 0

function setup(thread)
  thread:set("first_user", threads * 7919) -- threads start on different users
  threads = threads + 1
end

function init(args)
  next_user = first_user or 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local user = next_user % users
  next_user = next_user + 1
  local body = string.format('{"email":"bench%d@example.com","password":"%s"}', user, password)
  return wrk.format(nil, "/auth/login", nil, body)
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
