-- GET /admin/users?query=<prefix> as an admin (BENCH_TOKEN), each request with a
-- prefix drawn at random: most are an email's or a name's first characters with
-- few matches (as a person types in a support console), one in ten a short prefix
-- that matches a hundred thousand users (a page of 50 of them).
local token = os.getenv("BENCH_TOKEN")
wrk.headers["Authorization"] = "Bearer " .. token
local users = tonumber(os.getenv("BENCH_USERS") or "1000000")

request = function()
  local pick = math.random(10)
  local query
  if pick <= 5 then
    query = "bench" .. math.random(0, users - 1)
  elseif pick <= 9 then
    query = "user%20" .. math.random(0, math.floor(users / 10))
  else
    query = "bench" .. math.random(1, 9)
  end
  return wrk.format("GET", "/admin/users?query=" .. query)
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
