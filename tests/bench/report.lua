-- wrk -s report.lua: one JSON line at the end, for tests/bench/bench.py.
-- Latencies in microseconds; "bad" counts every non-2xx answer, so a run
-- where the session was not accepted (302 to the IdP) cannot pass for fast.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        '\nJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50":%d,"p90":%d,"p99":%d,' ..
        '"max":%d,"bad":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
        summary.requests, summary.duration, summary.bytes,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        e.status, e.connect, e.read, e.write, e.timeout))
end
