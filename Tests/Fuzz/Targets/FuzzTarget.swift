/// A parser Eddy exposes to untrusted bytes, as a fuzz target: one function from bytes to
/// the invariants that input broke (none, normally).
///
/// The same functions run under libFuzzer (`make fuzz`, the `eddy-fuzz` driver built with
/// `--sanitize fuzzer`) and, over every committed seed and regression input, in the normal
/// test suite (`EddyFuzzTests`), so an input that once broke a parser stays a test.
///
/// Guarantees: a target never traps on its own account; a crash or sanitizer report while
/// running one is a bug in the code under test. Each target states its invariants in its
/// doc comment; "no crash, limits honoured" holds for all of them.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case httpRequest = "http-request"
    case httpResponseHead = "http-response-head"
    case webSocket = "websocket"
    case extensionHeader = "extension-header"
    case json = "json"
    case command = "command"
    case dagDefinition = "dag-definition"

    /// Runs the target on one input; returns the invariants it broke, in words.
    public func run(_ input: [UInt8]) -> [String] {
        switch self {
        case .httpRequest: HTTPRequestFuzzing.run(input)
        case .httpResponseHead: HTTPResponseHeadFuzzing.run(input)
        case .webSocket: WebSocketFuzzing.run(input)
        case .extensionHeader: ExtensionHeaderFuzzing.run(input)
        case .json: JSONFuzzing.run(input)
        case .command: CommandFuzzing.run(input)
        case .dagDefinition: DAGDefinitionFuzzing.run(input)
        }
    }
}

/// Splits fuzz input into a few control bytes and the rest, so one input can pick a
/// configuration and a chunking as well as the bytes a parser sees.
struct FuzzInput {
    private(set) var remaining: ArraySlice<UInt8>

    init(_ bytes: [UInt8]) { remaining = bytes[...] }

    /// The next control byte, or 0 when the input is used up.
    mutating func byte() -> UInt8 {
        remaining.popFirst() ?? 0
    }

    var rest: [UInt8] { Array(remaining) }
}

/// Cuts `bytes` into chunks of `size` bytes (at least 1): a network read pattern.
func chunks(of bytes: [UInt8], size: Int) -> [[UInt8]] {
    let step = max(1, size)
    return stride(from: 0, to: bytes.count, by: step).map { Array(bytes[$0..<min($0 + step, bytes.count)]) }
}
