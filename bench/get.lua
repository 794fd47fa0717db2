-- Request the URL's path; with BENCH_TOKEN set, as that bearer token. BENCH_METHOD
-- and BENCH_BODY (JSON) make it another call, e.g. PATCH /auth/me {"name": ...}.
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
wrk.method = os.getenv("BENCH_METHOD") or "GET"

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
