package import CLibUV
public import EddyLoop

/// An IPv4 or IPv6 socket address (address and port).
///
/// Guarantees: always holds a valid `AF_INET` or `AF_INET6` address; `description` is the
/// numeric form (`127.0.0.1:8080`, `[::1]:8080`).
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address family.
    public enum Family: Sendable, Hashable { case ipv4, ipv6 }

    /// A `sockaddr_in` or `sockaddr_in6`, in the space of the larger (28 bytes, not the
    /// 128 of `sockaddr_storage`: every connection holds two of these).
    package var storage: sockaddr_in6

    /// Parses a numeric IPv4 or IPv6 address. Host names are resolved by `Resolver`.
    public init(ipAddress: String, port: Int) throws(IOError) {
        guard (0...65535).contains(port) else { throw IOError(.invalidArgument, operation: "address port \(port)") }
        var storage = sockaddr_in6()
        let status: Int32 = withUnsafeMutableBytes(of: &storage) { raw in
            if ipAddress.contains(":") {
                return uv_ip6_addr(ipAddress, Int32(port), raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self))
            }
            return uv_ip4_addr(ipAddress, Int32(port), raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self))
        }
        guard status == 0 else { throw IOError(uv: status, operation: "parse address \(ipAddress)") }
        self.storage = storage
    }

    /// Copies an address libuv or the kernel produced. Returns nil for other families.
    package init?(_ address: UnsafePointer<sockaddr>) {
        var storage = sockaddr_in6()
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: address, count: MemoryLayout<sockaddr_in>.size)) }
        case AF_INET6:
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: address, count: MemoryLayout<sockaddr_in6>.size)) }
        default:
            return nil
        }
        self.storage = storage
    }

    public var family: Family { Int32(storage.sin6_family) == AF_INET6 ? .ipv6 : .ipv4 }

    /// The port, in host byte order.
    public var port: Int {
        withUnsafeBytes(of: storage) { raw in
            switch family {
            case .ipv4: return Int(UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port))
            case .ipv6: return Int(UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port))
            }
        }
    }

    /// The numeric address without the port.
    public var ipAddress: String {
        var name = [CChar](repeating: 0, count: 64)
        withUnsafeBytes(of: storage) { raw in
            switch family {
            case .ipv4: _ = uv_ip4_name(raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self), &name, name.count)
            case .ipv6: _ = uv_ip6_name(raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self), &name, name.count)
            }
        }
        return name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    public var description: String {
        family == .ipv6 ? "[\(ipAddress)]:\(port)" : "\(ipAddress):\(port)"
    }

    /// The size of the concrete sockaddr.
    package var length: socklen_t {
        socklen_t(family == .ipv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
    }

    /// Calls `body` with a `sockaddr` pointer to this address.
    package func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: storage) { try body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self)) }
    }

    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        lhs.description == rhs.description
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}
