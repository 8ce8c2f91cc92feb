-- wrk script for benchmarks/ingest_http.py: POST a distinct 1-second, 3-axis, 100 Hz Edge Impulse
-- JSON sample per request (unsigned: the benchmark project allows unsigned data).
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  key = args[1]
  math.randomseed(id * 7919 + os.time())
end

function request()
  local rows = {}
  for i = 1, 100 do
    rows[i] = string.format("[%.4f,%.4f,%.4f]", math.random() * 2 - 1, math.random() * 2 - 1,
                            math.random() * 2 - 1)
  end
  local body = '{"protected":{"ver":"v1","alg":"none","iat":1700000000},"signature":"",' ..
    '"payload":{"device_name":"bench","device_type":"BENCH","interval_ms":10,"sensors":[' ..
    '{"name":"accX","units":"m/s2"},{"name":"accY","units":"m/s2"},{"name":"accZ","units":"m/s2"}],' ..
    '"values":[' .. table.concat(rows, ",") .. ']}}'
  return wrk.format("POST", nil, {["x-api-key"] = key, ["x-file-name"] = "bench.json",
                                  ["content-type"] = "application/json"}, body)
end

done_summary = nil
function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout
  io.write(string.format('WRK_RESULT {"requests": %d, "seconds": %.3f, "errors": %d}\n',
                         summary.requests, summary.duration / 1e6, errors))
end
