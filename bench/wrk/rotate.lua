-- wrk script for the bench/run --scaling "login" case: form POSTs that take turns.
--
--   wrk -t1 ... -s bench/wrk/rotate.lua <url>/token -- '<urlencoded body>' '<body>' ...
--
-- Each request sends the next body of the list (round robin), so a login storm signs in
-- several accounts rather than queueing on one account's row. Status counting and the
-- BENCH_JSON summary line come from bench.lua, loaded from this script's directory.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "bench.lua")

local bodies, next_body = {}, 0

function init(args)
  statuses = {}
  for _, body in ipairs(args) do
    table.insert(bodies, body)
  end
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", nil,
    {["Content-Type"] = "application/x-www-form-urlencoded"}, bodies[next_body])
end
