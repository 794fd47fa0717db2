-- POST /auth/refresh with rotation: every answer's refresh_token replaces the one
-- sent, as a client does. BENCH_REFRESH_TOKENS holds a few live tokens (more than
-- connections), kept in a pool: a request takes one, its answer gives the successor.
local pool = {}
for token in string.gmatch(os.getenv("BENCH_REFRESH_TOKENS") or "", "[^,]+") do
  table.insert(pool, token)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local token = table.remove(pool, 1) or "exhausted-pool-0123456789"
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local successor = body:match('"refresh_token":"([%w_-]+)"')
  if successor then
    table.insert(pool, successor)
  end
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
