import ArgumentParser
import EddyLoop
import EddyRedis
import EddyRooms
import EddyRoomsRedis
import EddyTLS
import Foundation

/// `--redis` and `--node` for the commands that run rooms or runs: with them, the command's
/// rooms span every node that shares the Redis (see `RoomBridge`), or its runs are watched
/// from every node (see `RunSharing`).
///
/// The password is never a command-line argument (other users see those in `ps`): it comes
/// from `EDDY_REDIS_PASSWORD` or `--redis-password-file`, and a `--redis` URL that contains
/// one is refused.
struct RedisOptions: ParsableArguments {
    @Option(help: "Share rooms (echo, chat) or runs (serve, demo) with other nodes through this Redis: redis://HOST:PORT[/DB] (rediss:// for TLS). Password: EDDY_REDIS_PASSWORD or --redis-password-file.")
    var redis: String?
    @Option(help: "This node's name among the nodes sharing the Redis (letters, digits, - _ .; default: host name and process id).")
    var node: String?
    @Option(help: "Runs (serve, demo): seconds a node's lease on its runs lasts without renewal; another node takes a run over once its owner's lease expired (failover).")
    var leaseTtl: Double = 5
    @Option(help: "Runs (serve, demo): seconds a run waits for Redis to store its events before it logs an error event (log_unavailable); it goes on waiting, and nothing it logged is lost or shown before Redis has it.")
    var appendDeadline: Double = 10
    @Option(help: "A file whose first line is the Redis password (instead of EDDY_REDIS_PASSWORD).")
    var redisPasswordFile: String?
    @Option(help: "Redis user name (ACL), with the password.")
    var redisUser: String?
    @Option(help: "With rediss://: a PEM file of the CA that signed Redis's certificate (default: the system's trust store).")
    var redisCa: String?

    func validate() throws {
        if let node, !RoomEnvelope.isValidNode(node) {
            throw ValidationError("--node must be 1 to 64 letters, digits, '-', '_' or '.'")
        }
        if redis == nil, node != nil || redisPasswordFile != nil || redisUser != nil || redisCa != nil {
            throw ValidationError("--node, --redis-user, --redis-password-file and --redis-ca need --redis")
        }
        guard leaseTtl >= 0.1, leaseTtl <= 3600 else { throw ValidationError("--lease-ttl must be between 0.1 and 3600 seconds") }
        guard appendDeadline >= 0.1, appendDeadline <= 3600 else {
            throw ValidationError("--append-deadline must be between 0.1 and 3600 seconds")
        }
        if let redis {
            let endpoint: RedisEndpoint
            do { endpoint = try RedisEndpoint(url: redis) } catch { throw ValidationError("--redis: \(error)") }
            if endpoint.password != nil {
                throw ValidationError("--redis: put no password in the URL (the command line is visible to other users); use EDDY_REDIS_PASSWORD or --redis-password-file")
            }
        }
    }

    /// The node's name: `--node`, or host name and process id.
    var nodeName: String {
        if let node { return node }
        let host = ProcessInfo.processInfo.hostName.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        return "\(host.isEmpty ? "node" : String(host.prefix(40)))-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// The Redis configuration, with the password from the file or the environment; nil without `--redis`.
    func configuration() throws -> RedisConfiguration? {
        guard let redis else { return nil }
        var endpoint = try RedisEndpoint(url: redis)
        endpoint.username = redisUser ?? endpoint.username
        if let redisPasswordFile {
            guard let text = try? String(contentsOfFile: redisPasswordFile, encoding: .utf8) else {
                throw ValidationError("--redis-password-file: cannot read \(redisPasswordFile)")
            }
            endpoint.password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        } else if let password = ProcessInfo.processInfo.environment["EDDY_REDIS_PASSWORD"], !password.isEmpty {
            endpoint.password = password
        }
        var configuration = RedisConfiguration(endpoint: endpoint)
        if let redisCa {
            guard endpoint.usesTLS else { throw ValidationError("--redis-ca needs a rediss:// URL") }
            do { configuration.tls = try TLSContext(.client(trustRoots: .certificates(.file(redisCa)))) } catch {
                throw ValidationError("--redis-ca: \(error)")
            }
        }
        return configuration
    }

    /// A started bridge for `rooms` when `--redis` is given (it logs to stderr), else nil.
    func startBridge(for rooms: RoomRegistry, on loop: EventLoop) async throws -> RoomBridge? {
        guard let configuration = try configuration() else { return nil }
        let bridge = RoomBridge(registry: rooms, node: nodeName, redis: configuration, on: loop) { Console.error("eddy: \($0)") }
        Console.error("eddy: node \(bridge.node) sharing rooms through \(configuration.endpoint)")
        await bridge.start(waitingUpTo: .seconds(5))
        return bridge
    }
}
