-- wrk script for bench/ingest.py (not run by hand): POST pre-generated signed deliveries.
--
-- Environment:
--   BENCH_BODIES  file prefix; thread N reads BENCH_BODIES .. N .. ".tsv", one delivery a
--                 line: "<hex signature>\t<body>" (JSON.stringify output has no raw tab or
--                 newline). Each thread has its own distinct bodies, so no body repeats
--                 unless a thread runs out and wraps (counted as "wrapped").
--   BENCH_PATH    the request path, e.g. /kakiyo/webhook/
--   BENCH_OUT     where done() writes its JSON summary.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("BENCH_PATH")
  local file = os.getenv("BENCH_BODIES") .. id .. ".tsv"
  reqs = {}
  for line in io.lines(file) do
    local tab = line:find("\t", 1, true)
    reqs[#reqs + 1] = wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["X-Kakiyo-Signature"] = line:sub(1, tab - 1),
    }, line:sub(tab + 1))
  end
  count = #reqs
  index = 0
  wrapped = 0
  issued = 0
  ok = 0
  bad = 0
  codes = ""
end

function request()
  index = index + 1
  if index > count then
    index = 1
    wrapped = wrapped + 1
  end
  issued = issued + 1
  return reqs[index]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    bad = bad + 1
    if #codes < 200 then
      codes = codes .. status .. " "
    end
  end
end

function done(summary, latency, requests)
  local issued_, ok_, bad_, wrapped_, codes_ = 0, 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    issued_ = issued_ + thread:get("issued")
    ok_ = ok_ + thread:get("ok")
    bad_ = bad_ + thread:get("bad")
    wrapped_ = wrapped_ + thread:get("wrapped")
    codes_ = codes_ .. thread:get("codes")
  end
  local e = summary.errors
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  out:write(string.format(
    '{"duration_us": %d, "requests": %d, "issued": %d, "ok": %d, "non2xx": %d, ' ..
    '"wrapped": %d, "codes": "%s", "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %f}\n',
    summary.duration, summary.requests, issued_, ok_, bad_, wrapped_, codes_,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
  out:close()
end
