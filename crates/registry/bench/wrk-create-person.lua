-- wrk script for scripts/bench-registry's cross-check: every request is one
-- operation that the registry accepts (a new person), with its own op_id and
-- person id, sent to POST /v1/operations with the session token in
-- REGISTRY_TOKEN. Counts answers that are not "accepted" and prints them.

local token = os.getenv("REGISTRY_TOKEN")
if not token then
  error("REGISTRY_TOKEN is not set")
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  -- One stream of ids per thread (wrk gives each thread its own Lua state).
  math.randomseed(os.time() * 1000 + id)
  rejected = 0
end

local function uuid()
  local b = {}
  for i = 1, 16 do
    b[i] = math.random(0, 255)
  end
  b[7] = 0x40 + b[7] % 16 -- version 4
  b[9] = 0x80 + b[9] % 64 -- RFC 4122 variant
  return string.format("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", unpack(b))
end

function request()
  local body = string.format(
    '{"operations":[{"op_id":"%s","actor":null,"workstation":null,"created_at":"2026-01-01T00:00:00Z",'
      .. '"op":{"kind":"create_person","id":"%s","given_name":"Wrk","family_name":"Bench","email":null,"employee_id":null}}]}',
    uuid(),
    uuid()
  )
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 or not body:find('"status":"accepted"', 1, true) then
    rejected = rejected + 1
  end
end

function done(summary, latency, requests)
  local refused = 0
  for _, thread in ipairs(threads) do
    refused = refused + thread:get("rejected")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "summary: registry ops/s, %s, wrk (1 op per request) | %.0f ops/s, p50 %.1f ms, p99 %.1f ms | %d not accepted\n",
    os.getenv("BENCH_LABEL") or "?",
    (summary.requests - refused) / seconds,
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    refused + summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  ))
end
