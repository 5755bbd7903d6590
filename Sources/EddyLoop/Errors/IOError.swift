import CLibUV

/// An I/O failure reported by libuv or by Eddy's own lifecycle rules.
///
/// Carries libuv's error name (`ECONNREFUSED`, `EADDRINUSE`, `ETIMEDOUT`, …) and message,
/// plus the operation that failed, so a log line says what happened and where.
/// Compare with the static codes: `error.code == .connectionRefused`.
public struct IOError: Error, Hashable, CustomStringConvertible, Sendable {
    /// The error's identity: a libuv error code (negative errno on Unix) or one of Eddy's
    /// own lifecycle codes (positive).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        init(_ uv: uv_errno_t) { self.rawValue = uv.rawValue }

        public static let connectionRefused = Code(UV_ECONNREFUSED)
        public static let connectionReset = Code(UV_ECONNRESET)
        public static let addressInUse = Code(UV_EADDRINUSE)
        public static let addressNotAvailable = Code(UV_EADDRNOTAVAIL)
        public static let timedOut = Code(UV_ETIMEDOUT)
        public static let brokenPipe = Code(UV_EPIPE)
        public static let cancelled = Code(UV_ECANCELED)
        public static let hostNotFound = Code(UV_EAI_NONAME)
        public static let invalidArgument = Code(UV_EINVAL)
        public static let tooManyOpenFiles = Code(UV_EMFILE)
        public static let endOfFile = Code(UV_EOF)

        /// The handle was closed (by this process) before or during the operation.
        public static let closed = Code(rawValue: 1)
        /// The event loop is shutting down or has shut down.
        public static let eventLoopShutdown = Code(rawValue: 2)
        /// A second task tried to read a stream while another task's read was pending.
        public static let readInProgress = Code(rawValue: 3)

        /// libuv's symbolic name (`ECONNREFUSED`), or Eddy's for its own codes.
        public var name: String {
            switch rawValue {
            case 1: return "EDDY_CLOSED"
            case 2: return "EDDY_LOOP_SHUTDOWN"
            case 3: return "EDDY_READ_IN_PROGRESS"
            default: return String(cString: uv_err_name(rawValue))
            }
        }

        /// A human-readable message (libuv's `uv_strerror`).
        public var message: String {
            switch rawValue {
            case 1: return "handle is closed"
            case 2: return "event loop is shutting down"
            case 3: return "another task is already reading this stream"
            default: return String(cString: uv_strerror(rawValue))
            }
        }

        public var description: String { name }
    }

    /// What went wrong.
    public let code: Code
    /// What Eddy was doing when it went wrong (`"connect"`, `"bind"`, `"write"` …).
    public let operation: String

    public init(_ code: Code, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// Wraps a negative libuv return value.
    package init(uv status: Int32, operation: String) {
        self.code = Code(rawValue: status)
        self.operation = operation
    }

    public var name: String { code.name }
    public var message: String { code.message }
    public var description: String { "\(operation): \(code.name) (\(code.message))" }
}

extension IOError {
    /// Throws an `IOError` for a negative libuv status; returns the status otherwise.
    @discardableResult
    package static func check(_ status: Int32, _ operation: @autoclosure () -> String) throws(IOError) -> Int32 {
        if status < 0 { throw IOError(uv: status, operation: operation()) }
        return status
    }
}
