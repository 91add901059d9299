-- wrk script for the bench/run --scaling "sign-up" case: POST /api/auth/signup.
--
--   wrk -t1 ... -s bench/wrk/signup.lua <url>/api/auth/signup -- <prefix> <password>
--
-- Every request signs up a new account, <prefix><n> with the address
-- <prefix><n>@example.com, n counting from 1 (one wrk thread only: the counter is per
-- thread). The prefix must be unique per run against one database; bench.py makes it so.
-- Status counting and the BENCH_JSON summary line come from bench.lua.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "bench.lua")

local prefix, password, n = "", "", 0

function init(args)
  statuses = {}
  prefix = args[1]
  password = args[2]
end

function request()
  n = n + 1
  local name = prefix .. n
  local body = string.format(
    '{"username":"%s","email":"%s@example.com","password":"%s"}', name, name, password)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
