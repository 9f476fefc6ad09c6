-- wrk script used by bench_replica.py: POSTs the JSON body found in the file
-- named by $WRK_BODY and, when done, prints one machine-readable line:
-- WRKJSON {"requests":..,"duration_us":..,"p50_us":..,"p99_us":..,...}
-- Run: WRK_BODY=body.json wrk -t1 -c8 -d15s -s post_json.lua http://127.0.0.1:8001/predict
local f = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
