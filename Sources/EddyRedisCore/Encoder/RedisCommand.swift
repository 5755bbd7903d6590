/// One Redis command: a name and binary-safe arguments, encoded as a RESP array of bulk
/// strings (the only form Redis requires of clients).
///
/// Guarantee: `description` never shows the arguments of commands that carry secrets
/// (`AUTH`, `HELLO … AUTH`, `CONFIG SET requirepass`, `MIGRATE … AUTH`): they read
/// `[redacted]`, so a command can go into a log or an error as it is.
public struct RedisCommand: Sendable, Hashable, CustomStringConvertible {
    /// Name first, then the arguments.
    public var parts: [[UInt8]]

    public init(_ name: String, _ arguments: String...) {
        self.parts = [Array(name.utf8)] + arguments.map { Array($0.utf8) }
    }

    public init(_ name: String, arguments: [[UInt8]]) {
        self.parts = [Array(name.utf8)] + arguments
    }

    /// The command name, upper-cased.
    public var name: String { String(decoding: parts.first ?? [], as: UTF8.self).uppercased() }

    /// The RESP bytes: `*<n>\r\n` and `$<len>\r\n<bytes>\r\n` per part.
    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        encode(into: &bytes)
        return bytes
    }

    /// Appends the RESP bytes to `bytes` (to pipeline several commands in one write).
    public func encode(into bytes: inout [UInt8]) {
        bytes.reserveCapacity(bytes.count + 16 + parts.reduce(0) { $0 + $1.count + 16 })
        bytes.append(UInt8(ascii: "*"))
        bytes.append(contentsOf: String(parts.count).utf8)
        bytes.append(contentsOf: [13, 10])
        for part in parts {
            bytes.append(UInt8(ascii: "$"))
            bytes.append(contentsOf: String(part.count).utf8)
            bytes.append(contentsOf: [13, 10])
            bytes.append(contentsOf: part)
            bytes.append(contentsOf: [13, 10])
        }
    }

    private var carriesSecret: Bool {
        let upper = parts.map { String(decoding: $0.prefix(16), as: UTF8.self).uppercased() }
        switch name {
        case "AUTH", "HELLO", "MIGRATE": return true
        case "CONFIG": return upper.contains("REQUIREPASS") || upper.contains("MASTERAUTH")
        case "ACL": return upper.dropFirst().first == "SETUSER"
        default: return false
        }
    }

    public var description: String {
        if carriesSecret { return "\(name) [redacted]" }
        return parts.map { part in
            let text = String(decoding: part.prefix(64), as: UTF8.self)
            return part.count > 64 ? text + "…(\(part.count) bytes)" : text
        }.joined(separator: " ")
    }
}

extension Duration {
    /// Whole milliseconds, at least 1: the value of a command's `PX`, `BLOCK` or `PEXPIRE`
    /// argument (Redis refuses 0 where it means "forever" or "now").
    public var redisMilliseconds: Int64 {
        max(1, components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000)
    }
}
