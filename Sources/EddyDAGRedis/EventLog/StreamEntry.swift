public import EddyDAG
public import EddyRedisCore
import EddyRedis

/// One logged event read back from a run's stream: the entry `[<seq>-1, [e, <bytes>]]`.
///
/// Guarantees: built only from a well-formed entry of `runID` whose `seq` is above the
/// reader's cursor and whose bytes decode to an envelope of that run and `seq`; `encoded`
/// carries the stored bytes as they are (byte-identical to what the owner logged).
public struct StreamEntry: Sendable {
    public let seq: Int64
    public let envelope: EventEnvelope
    public let encoded: EncodedEvent

    /// Decodes `entry` of `runID`, which must come after `after`.
    /// - Throws: `RedisError.server` naming what is wrong.
    public init(_ entry: RESPValue, runID: String, after: Int64) throws {
        let seq = try Self.seq(of: entry)
        guard seq > after, let fields = entry.elements?.dropFirst().first?.elements, fields.count >= 2,
              let bytes = fields[1].bytes else {
            throw RedisError.server("run \(runID): malformed stream entry after seq \(after)")
        }
        let envelope: EventEnvelope
        do { envelope = try ProtocolDecoder.decodeEnvelope(bytes) } catch {
            throw RedisError.server("run \(runID): stored event \(seq) does not decode: \(error)")
        }
        guard envelope.dagID == runID, envelope.seq == seq else {
            throw RedisError.server("run \(runID): entry \(seq)-1 holds \(envelope.dagID) seq \(envelope.seq)")
        }
        self.seq = seq
        self.envelope = envelope
        self.encoded = EncodedEvent(dagID: runID, epoch: envelope.epoch, seq: seq, isLogged: envelope.event.isLogged, bytes: bytes)
    }

    /// The `seq` of an entry `[id, fields]` whose id is `<seq>-1`.
    static func seq(of entry: RESPValue) throws -> Int64 {
        guard let id = entry.elements?.first?.string, let dash = id.firstIndex(of: "-"), let seq = Int64(id[..<dash]) else {
            throw RedisError.server("stream entry without a <seq>-1 id")
        }
        return seq
    }
}
