-- wrk script: request the paths listed in a file, one per line, each wrk thread walking its
-- own stride of the list (thread i takes lines i, i+T, i+2T, ...), so no two requests of a run
-- ask for the same line. Usage: wrk -s paths.lua URL -- PATHS_FILE THREADS
-- At the end it prints one line "BENCH_JSON {...}" with the totals and latency percentiles.

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  step = tonumber(args[2])
  position = index + 1
  issued = 0
  wrapped = 0
end

-- With one path (BENCH_STATIC=1, the path in wrk's URL) there is no request() at all: wrk then
-- sends one pre-built request and spends no Lua call per request.
if os.getenv("BENCH_STATIC") ~= "1" then
  function request()
    local path = paths[position]
    position = position + step
    if position > #paths then
      position = index + 1
      wrapped = wrapped + 1
    end
    issued = issued + 1
    return wrk.format("GET", path)
  end
end

function done(summary, latency, requests)
  local issued_total, wrapped_total = 0, 0
  for _, thread in ipairs(threads) do
    issued_total = issued_total + thread:get("issued")
    wrapped_total = wrapped_total + thread:get("wrapped")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us": %d, "requests": %d, "bytes": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
    '"issued": %d, "wrapped": %d, "latency_us": {"min": %d, "mean": %.1f, "max": %d, ' ..
    '"p50": %d, "p90": %d, "p99": %d, "p999": %d}}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, issued_total, wrapped_total, latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
