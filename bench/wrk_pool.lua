-- wrk script for bench/http.py: sends each request of a pool file once, never twice.
-- Pool lines: METHOD <tab> PATH?QUERY <tab> API-KEY; thread i of n takes lines i, i+n, ...
-- Arguments: POOL_FILE THREADS. A thread whose share runs out stops (and says so at the end).
local threads, counter = {}, 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local pool, n, used = {}, 0, 0

function init(args)
  local nthreads, i = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      local method, path, key = line:match("^(%S+)\t(%S+)\t(%S*)$")
      local headers = {}
      if key ~= "" then headers["X-MEXC-APIKEY"] = key end
      n = n + 1
      pool[n] = wrk.format(method, path, headers)
    end
    i = i + 1
  end
end

function request()
  used = used + 1
  if used >= n then
    exhausted = 1
    wrk.thread:stop()
  end
  if used > n then used = n end
  return pool[used]
end

function done(summary, latency, requests)
  local out = 0
  for _, t in ipairs(threads) do
    out = out + (t:get("exhausted") or 0)
  end
  io.write(string.format("POOL exhausted %d\n", out))
end
