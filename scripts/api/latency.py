"""Round-trip latency of the host's HTTP API from one client (docs/OPERATIONS.md §1.1):
N sequential requests per path on one keep-alive connection, and N on a new connection
each; prints p50, p99 and max in microseconds. Standard library only.

Usage: python3 latency.py HTTP_ADDR [N]"""
import http.client
import statistics
import sys
import time


def measure(address: str, path: str, n: int, keep_alive: bool) -> list[float]:
    host, port = address.rsplit(":", 1)
    times = []
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    for _ in range(n):
        if not keep_alive:
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
        start = time.perf_counter_ns()
        connection.request("GET", path, headers={} if keep_alive else {"Connection": "close"})
        response = connection.getresponse()
        response.read()
        times.append((time.perf_counter_ns() - start) / 1000)
        assert response.status == 200, (path, response.status)
        if not keep_alive:
            connection.close()
    return times


def main() -> None:
    address = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    for path in ["/healthz", "/v1/batches/0", "/v1/batches?from=0&limit=100", "/v1/events/proof?sequence=1"]:
        for keep_alive in (True, False):
            t = sorted(measure(address, path, n, keep_alive))
            print(f"{path:32} {'keep-alive' if keep_alive else 'new conn  '} n={n} "
                  f"p50={statistics.median(t):7.0f} µs p99={t[int(0.99 * len(t)) - 1]:7.0f} µs max={t[-1]:7.0f} µs")


if __name__ == "__main__":
    main()
