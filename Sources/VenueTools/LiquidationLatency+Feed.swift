import Client
import Commitments
import Foundation

extension LiquidationLatency {
    /// The tool's subscriber to the market data feed (docs/MARKETDATA.md §6), as a keeper or
    /// trader would watch for headers: one WebSocket opened before the rounds, read by its own
    /// thread, which stamps each read with the monotonic clock the moment `recv` returns, so
    /// the arrival time does not depend on what the tool's main thread is doing (it is
    /// waiting for the price's acknowledgement meanwhile).
    ///
    /// While armed, every header message read is kept with its arrival time; the main
    /// thread arms just before t0 and then waits for the first header whose range reaches
    /// the price's sequence. Messages read while disarmed are discarded unparsed.
    final class HeaderWatch: @unchecked Sendable {
        // @unchecked: every mutable member is guarded by `condition`.
        struct Arrival {
            /// The header record's bytes, verbatim as in `batches.jsonl` (without newline).
            var bytes: [UInt8]
            var record: BatchRecord
            /// Monotonic µs when the read that carried it returned.
            var micros: Double
        }

        private let feed: FeedConnection
        private let condition = NSCondition()
        private var armed = false
        private var arrivals: [Arrival] = []
        private var failure: String?
        private var stopping = false
        private var finished = false

        /// Opens `GET /v1/feed?markets=1` on `http` and starts reading. Headers come for
        /// every batch whatever the markets followed; market 1 keeps the updates to one a batch.
        init(http: String) throws {
            feed = try FeedConnection(http: http, markets: [1])
            Thread { [self] in read() }.start()
        }

        private func read() {
            defer {
                condition.lock()
                finished = true
                condition.broadcast()
                condition.unlock()
            }
            while true {
                let texts: [[UInt8]]
                do {
                    texts = try feed.messages(timeoutMillis: 50)
                } catch ClientError.timeout {
                    texts = []
                } catch {
                    fail("the feed failed: \(error)")
                    return
                }
                let now = LiquidationLatency.monotonicMicros()
                condition.lock()
                let (isArmed, stop) = (armed, stopping)
                condition.unlock()
                if stop { return }
                if feed.closed {
                    fail("the host closed the feed (a consumer that falls behind is dropped, docs/MARKETDATA.md §6)")
                    return
                }
                guard isArmed else { continue }
                var got: [Arrival] = []
                for text in texts {
                    guard let bytes = Self.headerBytes(text) else { continue }
                    guard let record = try? BatchRecord(jsonLine: bytes) else {
                        fail("a header message whose header does not read")
                        return
                    }
                    got.append(Arrival(bytes: bytes, record: record, micros: now))
                }
                if got.isEmpty { continue }
                condition.lock()
                if armed { arrivals += got }
                condition.broadcast()
                condition.unlock()
            }
        }

        private func fail(_ message: String) {
            condition.lock()
            failure = failure ?? message
            condition.broadcast()
            condition.unlock()
        }

        /// The header record inside a header message `{"header":HEADER,"type":"header"}`
        /// (keys sorted, docs/MARKETDATA.md §6), or nil for any other message.
        static func headerBytes(_ text: [UInt8]) -> [UInt8]? {
            let (head, tail) = (Self.prefix, Self.suffix)
            guard text.count > head.count + tail.count, text.starts(with: head), text.suffix(tail.count).elementsEqual(tail)
            else { return nil }
            return Array(text[head.count ..< text.count - tail.count])
        }

        static let prefix = Array(#"{"header":"#.utf8)
        static let suffix = Array(#","type":"header"}"#.utf8)

        /// Keeps the headers read from now on.
        func arm() {
            condition.lock()
            arrivals = []
            armed = true
            condition.unlock()
        }

        /// The first header read since `arm` whose `lastSequence` reaches `sequence`, waiting
        /// for it until `deadline` (monotonic µs); disarms.
        func header(reaching sequence: UInt64, deadline: Double) throws -> Arrival {
            condition.lock()
            defer {
                armed = false
                arrivals = []
                condition.unlock()
            }
            while true {
                if let hit = arrivals.first(where: { $0.record.lastSequence >= sequence }) { return hit }
                if let failure { throw LatencyError.feed(failure) }
                let left = deadline - LiquidationLatency.monotonicMicros()
                guard left > 0 else { throw LatencyError.noHeader(sequence: sequence) }
                _ = condition.wait(until: Date(timeIntervalSinceNow: Swift.min(left, 100_000) / 1e6))
            }
        }

        /// Stops the reader and waits for it (at most one read timeout).
        func stop() {
            condition.lock()
            stopping = true
            while !finished { condition.wait() }
            condition.unlock()
        }
    }
}
