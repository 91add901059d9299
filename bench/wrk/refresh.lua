-- wrk script for the bench/run "refresh" case: the OAuth2 refresh_token grant.
--
--   wrk -t1 ... -s bench/wrk/refresh.lua <url>/token -- <refresh token> <refresh token> ...
--
-- Refresh tokens are single-use: each 200 answer carries the successor, which goes back
-- into a queue of live tokens; request() pops the next one. Seed it with at least 2x the
-- connection count (one wrk thread only: the queue is per thread). Status counting and
-- the BENCH_JSON summary line come from bench.lua, loaded from this script's directory.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "bench.lua")

local count_status = response
local queue, head, tail = {}, 1, 0

local function push(token)
  tail = tail + 1
  queue[tail] = token
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

function init(args)
  statuses = {}
  for _, token in ipairs(args) do
    push(token)
  end
end

function request()
  local token = ""
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  end
  -- An empty queue (tokens lost to socket errors) sends an empty token: a 4xx, counted.
  return wrk.format("POST", nil,
    {["Content-Type"] = "application/x-www-form-urlencoded"},
    "grant_type=refresh_token&refresh_token=" .. urlencode(token))
end

function response(status, headers, body)
  count_status(status, headers, body)
  if status == 200 and body then
    local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if token then
      push(token)
    end
  end
end
