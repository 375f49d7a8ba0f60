import Client
import Engine
import Wire

/// A plaintext trading scenario (format: docs/SCENARIOS.md). Parsed on the client; it
/// reaches the enclave only as sealed requests and signed public messages.
public struct Scenario: Sendable {
    public enum Step: Equatable, Sendable {
        case trader(name: String, accountID: UInt64)
        case deposit(trader: String, amount: Int64)
        case price(symbol: String, price: Int64, confidence: UInt64, publisher: String)
        /// A signed raw SVI smile for the expiry of option market `symbol` on its underlying
        /// (docs/PROTOCOL.md §2.17); parameters in units of 10⁻⁹.
        case smile(symbol: String, a: Int64, b: Int64, rho: Int64, m: Int64, sigma: Int64, publisher: String)
        case order(trader: String, symbol: String, side: Side, type: OrderType, timeInForce: TimeInForce,
                   reduceOnly: Bool, price: Int64, quantity: Int64, id: String?)
        case cancel(trader: String, id: String)
        case withdraw(trader: String, amount: Int64)
        case wait(milliseconds: Int)
    }

    /// Steps with their 1-based source line numbers.
    public var steps: [(line: Int, step: Step)]

    public static func parse(_ text: String) throws(ScenarioError) -> Scenario {
        var steps: [(Int, Step)] = []
        var traders = Set<String>()
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let keyword = words.first else { continue }
            func fail(_ message: String) -> ScenarioError { .parse(line: lineNumber, message: message) }
            func options(from start: Int) throws(ScenarioError) -> [String: String] {
                var out: [String: String] = [:]
                for word in words.dropFirst(start) {
                    if let eq = word.firstIndex(of: "=") {
                        out[String(word[..<eq])] = String(word[word.index(after: eq)...])
                    } else {
                        out[word] = ""
                    }
                }
                return out
            }
            func known(_ trader: String) throws(ScenarioError) -> String {
                guard traders.contains(trader) else { throw fail("unknown trader '\(trader)'; declare it with 'trader'") }
                return trader
            }
            switch keyword {
            case "trader":
                guard words.count == 3, words[2].hasPrefix("account="), let id = Self.digits(words[2].dropFirst(8)).flatMap({ UInt64($0) }),
                      id > 0
                else { throw fail("expected: trader NAME account=ID") }
                traders.insert(words[1])
                steps.append((lineNumber, .trader(name: words[1], accountID: id)))
            case "deposit":
                guard words.count == 3, let amount = FixedPoint.parse(words[2], decimals: FixedPoint.priceDecimals), amount > 0 else {
                    throw fail("expected: deposit TRADER AMOUNT (quote units, up to 6 decimals)")
                }
                steps.append((lineNumber, .deposit(trader: try known(words[1]), amount: amount)))
            case "price":
                guard words.count >= 3, let price = FixedPoint.parse(words[2], decimals: FixedPoint.priceDecimals) else {
                    throw fail("expected: price SYMBOL PRICE [conf=C] [publisher=NAME]")
                }
                let opts = try options(from: 3)
                let conf = opts["conf"].map { FixedPoint.parse($0, decimals: FixedPoint.priceDecimals) } ?? 0
                guard let conf, conf >= 0 else { throw fail("conf must be a non-negative decimal") }
                steps.append((lineNumber, .price(symbol: words[1], price: price, confidence: UInt64(conf),
                                                 publisher: opts["publisher"] ?? "pyth-a")))
            case "smile":
                let usage = "expected: smile OPTION-SYMBOL a=A b=B rho=R m=M sigma=S [publisher=NAME] (up to 9 decimals)"
                guard words.count >= 7 else { throw fail(usage) }
                let opts = try options(from: 2)
                // Each option once (a repeated one is not silently overridden).
                guard opts.count == words.count - 2 else { throw fail(usage) }
                var v: [Int64] = []
                for key in ["a", "b", "rho", "m", "sigma"] {
                    guard let text = opts[key], let x = FixedPoint.parseNanoUnits(text) else { throw fail(usage) }
                    v.append(x)
                }
                guard Set(opts.keys).isSubset(of: ["a", "b", "rho", "m", "sigma", "publisher"]) else { throw fail(usage) }
                steps.append((lineNumber, .smile(symbol: words[1], a: v[0], b: v[1], rho: v[2], m: v[3], sigma: v[4],
                                                 publisher: opts["publisher"] ?? "pyth-a")))
            case "order", "market":
                // order TRADER buy|sell SYMBOL QTY @ PRICE [gtc|ioc|post-only] [reduce-only] [id=ID]
                // market TRADER buy|sell SYMBOL QTY worst=PRICE [reduce-only] [id=ID]
                let isMarket = keyword == "market"
                guard words.count >= (isMarket ? 6 : 7), let side = Side(word: words[2]),
                      let qty = FixedPoint.parse(words[4], decimals: FixedPoint.quantityDecimals)
                else { throw fail("expected: \(isMarket ? "market TRADER buy|sell SYMBOL QTY worst=PRICE" : "order TRADER buy|sell SYMBOL QTY @ PRICE") [options]") }
                let priceText: String
                let opts: [String: String]
                if isMarket {
                    opts = try options(from: 5)
                    guard let w = opts["worst"] else { throw fail("market orders need worst=PRICE (slippage bound)") }
                    priceText = w
                } else {
                    guard words[5] == "@" else { throw fail("expected '@' before the limit price") }
                    priceText = words[6]
                    opts = try options(from: 7)
                }
                guard let price = FixedPoint.parse(priceText, decimals: FixedPoint.priceDecimals) else {
                    throw fail("bad price '\(priceText)'")
                }
                var tif = TimeInForce.goodTillCancel
                if opts["ioc"] != nil || isMarket { tif = .immediateOrCancel }
                if opts["post-only"] != nil { tif = .postOnly }
                if let id = opts["id"], !(1...ClientOrderID.maxLength).contains(id.utf8.count) {
                    throw fail("id must be 1...\(ClientOrderID.maxLength) bytes")
                }
                steps.append((lineNumber, .order(
                    trader: try known(words[1]), symbol: words[3], side: side, type: isMarket ? .market : .limit,
                    timeInForce: tif, reduceOnly: opts["reduce-only"] != nil, price: price, quantity: qty, id: opts["id"])))
            case "cancel":
                guard words.count == 3 else { throw fail("expected: cancel TRADER ID") }
                steps.append((lineNumber, .cancel(trader: try known(words[1]), id: words[2])))
            case "withdraw":
                guard words.count == 3, let amount = FixedPoint.parse(words[2], decimals: FixedPoint.priceDecimals), amount > 0 else {
                    throw fail("expected: withdraw TRADER AMOUNT (quote units, up to 6 decimals)")
                }
                steps.append((lineNumber, .withdraw(trader: try known(words[1]), amount: amount)))
            case "wait":
                guard words.count == 2, let ms = Self.parseDuration(words[1]) else { throw fail("expected: wait DURATION (e.g. 250ms, 2s)") }
                steps.append((lineNumber, .wait(milliseconds: ms)))
            default:
                throw fail("unknown keyword '\(keyword)'")
            }
        }
        return Scenario(steps: steps)
    }

    /// Milliseconds of `250ms` or `2s`; nil for anything else, a negative value, or
    /// seconds whose milliseconds overflow `Int` (found by the scenario fuzz target).
    static func parseDuration(_ s: String) -> Int? {
        if s.hasSuffix("ms"), let v = digits(s.dropLast(2)).flatMap({ Int($0) }) { return v }
        if s.hasSuffix("s"), let v = digits(s.dropLast(1)).flatMap({ Int($0) }) {
            let (ms, overflow) = v.multipliedReportingOverflow(by: 1000)
            return overflow ? nil : ms
        }
        return nil
    }

    /// `text` when it is one or more ASCII digits, else nil: Swift's integer parsing also
    /// takes a sign (`+5`), which the format does not allow (docs/SCENARIOS.md).
    static func digits(_ text: Substring) -> Substring? {
        !text.isEmpty && text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) ? text : nil
    }
}

extension Scenario {
    /// The market id an `order` or `market` line's SYMBOL names (docs/SCENARIOS.md): a
    /// perpetual of `markets[]` or an option market of `options.markets[]`, nil for neither.
    /// Symbols are unique across both lists in the venue files this runs with; a perpetual wins
    /// a clash. An option order's PRICE is its premium (quote units per whole base unit).
    public static func tradedMarket(_ symbol: String, in venue: VenueConfig) -> UInt32? {
        venue.markets.first(where: { $0.symbol == symbol })?.id
            ?? venue.options?.markets.first(where: { $0.symbol == symbol })?.id
    }
}

public enum ScenarioError: Error, Equatable, CustomStringConvertible {
    case parse(line: Int, message: String)
    case unknownSymbol(line: Int, symbol: String)
    case step(line: Int, message: String)

    public var description: String {
        switch self {
        case .parse(let line, let message): "scenario line \(line): \(message)"
        case .unknownSymbol(let line, let symbol): "scenario line \(line): unknown market '\(symbol)'"
        case .step(let line, let message): "scenario line \(line): \(message)"
        }
    }
}

extension Side {
    init?(word: String) {
        switch word {
        case "buy": self = .buy
        case "sell": self = .sell
        default: return nil
        }
    }
}
