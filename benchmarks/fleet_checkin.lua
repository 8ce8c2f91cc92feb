-- wrk script for benchmarks/fleet.py: device check-ins, each request from one of N devices
-- picked at random (their keys, one a line, in the file given as the first argument), so that
-- every device checks in about as often as the others, however fast the server is.
local keys = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  for line in io.lines(args[1]) do
    keys[#keys + 1] = line
  end
  math.randomseed(os.time() * 1000 + id)
end

function request()
  local key = keys[math.random(#keys)]
  local body = '{"installed":"1.0.0","health":{"status":"ok","error_rate":0.0,"uptime_s":3600}}'
  return wrk.format("POST", nil, {["x-api-key"] = key, ["content-type"] = "application/json"},
                    body)
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout
  io.write(string.format('WRK_RESULT {"requests": %d, "seconds": %.3f, "errors": %d, ' ..
                         '"p50_ms": %.2f, "p99_ms": %.2f}\n', summary.requests,
                         summary.duration / 1e6, errors, latency:percentile(50) / 1000,
                         latency:percentile(99) / 1000))
end
