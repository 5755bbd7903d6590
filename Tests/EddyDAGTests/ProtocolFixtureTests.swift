import EddyDAG
import Foundation
import Testing

/// Golden fixtures shared with the browser client: every file decodes and re-encodes to the
/// same bytes.
@Suite("Protocol golden fixtures")
struct ProtocolFixtureTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/protocol")

    static func files(_ prefix: String, in dir: URL = directory) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }.sorted()
    }

    static func bytes(_ name: String, in dir: URL = directory) throws -> [UInt8] {
        var data = Array(try Data(contentsOf: dir.appendingPathComponent(name)))
        if data.last == UInt8(ascii: "\n") { data.removeLast() }
        return data
    }

    @Test func fixturesArePresent() {
        #expect(Self.files("server.").count >= 20)
        #expect(Self.files("client.").count == 5)
    }

    @Test("server fixtures round-trip byte for byte", arguments: files("server."))
    func serverRoundTrip(name: String) throws {
        let original = try Self.bytes(name)
        let envelope = try ProtocolDecoder.decodeEnvelope(original)
        #expect(name.hasPrefix("server.\(envelope.event.typeName)."))
        let encoded = ProtocolEncoder.encode(envelope)
        #expect(String(decoding: encoded, as: UTF8.self) == String(decoding: original, as: UTF8.self))
    }

    @Test("client fixtures round-trip byte for byte", arguments: files("client."))
    func clientRoundTrip(name: String) throws {
        let original = try Self.bytes(name)
        let command = try ProtocolDecoder.decodeCommand(original)
        #expect(name.hasPrefix("client.\(command.action.typeName)."))
        #expect(String(decoding: command.jsonBytes, as: UTF8.self) == String(decoding: original, as: UTF8.self))
    }

    @Test("lobby fixtures round-trip byte for byte", arguments: files("lobby."))
    func lobbyRoundTrip(name: String) throws {
        let original = try Self.bytes(name)
        let message = try LobbyMessage(decoding: original)
        #expect(name.hasPrefix("lobby.\(message.typeName)."))
        #expect(String(decoding: message.jsonBytes, as: UTF8.self) == String(decoding: original, as: UTF8.self))
    }

    @Test func invalidLobbyMessagesAreTypedErrors() throws {
        let dir = Self.directory.appendingPathComponent("invalid")
        #expect(Self.files("lobby.", in: dir).count == 2)
        for name in Self.files("lobby.", in: dir) {
            let bytes = try Self.bytes(name, in: dir)
            #expect(throws: ProtocolError.self, "\(name)") { try LobbyMessage(decoding: bytes) }
        }
        #expect(Self.files("lobby.").count >= 5)
    }

    @Test func invalidClientMessagesAreTypedErrors() throws {
        let dir = Self.directory.appendingPathComponent("invalid")
        let unknown = try Self.bytes("client.unknown_type.json", in: dir)
        #expect { try ProtocolDecoder.decodeCommand(unknown) } throws: { e in
            (e as? ProtocolError)?.unknownTypeName == "launch_missiles"
        }
        for name in ["client.missing_command_id.json", "client.bad_decision.json", "client.wrong_version.json"] {
            let b = try Self.bytes(name, in: dir)
            #expect { try ProtocolDecoder.decodeCommand(b) } throws: { e in
                guard let e = e as? ProtocolError else { return false }
                return !e.isUnknownType
            }
        }
        #expect(throws: ProtocolError.self) { try ProtocolDecoder.decodeCommand(Array("[]".utf8)) }
        #expect(throws: ProtocolError.self) { try ProtocolDecoder.decodeEnvelope(Array(#"{"type":"node_state"}"#.utf8)) }
    }

    @Test func decodedFieldsMatch() throws {
        let e = try ProtocolDecoder.decodeEnvelope(try Self.bytes("server.cost_update.json"))
        #expect(e.dagID == "run-42")
        #expect(e.epoch == 1_764_230_400_000_123)
        #expect(e.seq == 11)
        #expect(e.event == .costUpdate(ServerEvent.CostUpdate(nodeID: "summarise", spent: 1.5, budget: 10, remaining: 8.5)))
        let c = try ProtocolDecoder.decodeCommand(try Self.bytes("client.human_decision.modify.json"))
        #expect(c == ClientCommand(commandID: "cmd-7f3a", action: .humanDecision(.init(nodeID: "review", decision: .modify, feedback: "Shorter, please"))))
        let r = try ProtocolDecoder.decodeEnvelope(try Self.bytes("server.command_result.accepted.json"))
        #expect(r.event == .commandResult(CommandResult(commandID: "cmd-7f3a", status: .accepted, seq: 14)))
    }

    @Test("a snapshot fixture rebuilds a store that re-encodes to the same snapshot")
    func snapshotIntoStore() throws {
        let bytes = try Self.bytes("server.snapshot.json")
        var store = DAGStateStore(dagID: "x", epoch: 0)
        #expect(store.apply(try ProtocolDecoder.decodeEnvelope(bytes)) == .applied)
        #expect(store.seq == 14)
        #expect(store.node("review")?.status == .waitingHuman)
        #expect(store.snapshotEnvelope(ts: 1_764_230_400_123).jsonBytes == bytes)
    }
}
