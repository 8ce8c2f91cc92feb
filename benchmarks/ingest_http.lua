-- wrk script for benchmarks/ingest_http.py: POST a distinct 1-second, 3-axis, 100 Hz Edge Impulse
-- JSON sample per request (unsigned: the benchmark project allows unsigned data).
--
-- Each thread draws 99 random rows once; every request puts a first row made from the thread
-- and a counter in front of them, so no two samples are alike (none is a duplicate the server
-- could answer without storing) while the load generator spends little of the machine's CPU:
-- formatting 300 random numbers per request cost wrk 0.1 ms, a tenth of the server's.
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  key = args[1]
  sent = 0
  math.randomseed(id * 7919 + os.time())
  local rows = {}
  for i = 1, 99 do
    rows[i] = string.format("[%.4f,%.4f,%.4f]", math.random() * 2 - 1, math.random() * 2 - 1,
                            math.random() * 2 - 1)
  end
  head = '{"protected":{"ver":"v1","alg":"none","iat":1700000000},"signature":"",' ..
    '"payload":{"device_name":"bench","device_type":"BENCH","interval_ms":10,"sensors":[' ..
    '{"name":"accX","units":"m/s2"},{"name":"accY","units":"m/s2"},{"name":"accZ","units":"m/s2"}],' ..
    '"values":['
  tail = ',' .. table.concat(rows, ",") .. ']}}'
  headers = {["x-api-key"] = key, ["x-file-name"] = "bench.json",
             ["content-type"] = "application/json"}
end

function request()
  sent = sent + 1
  local first = string.format("[%d.%04d,%d,%.4f]", id, sent % 10000, math.floor(sent / 10000),
                              math.random() * 2 - 1)
  return wrk.format("POST", nil, headers, head .. first .. tail)
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout
  io.write(string.format('WRK_RESULT {"requests": %d, "seconds": %.3f, "errors": %d}\n',
                         summary.requests, summary.duration / 1e6, errors))
end
