import EddyDAG

/// `JSONParser` (every byte a dashboard or a definition file sends goes through it).
/// Invariants: nesting beyond `maxDepth` is an error, not a crash; what parses writes back
/// (`JSONWriter`) to bytes that parse to the same value, numbers compared as numbers (the
/// writer spells them as JavaScript does, so `1.0` comes back as the integer `1`).
enum JSONFuzzing {
    static func same(_ left: JSONValue, _ right: JSONValue) -> Bool {
        switch (left, right) {
        case (.int, .int), (.int, .double), (.double, .int), (.double, .double):
            return left.doubleValue == right.doubleValue
        case (.array(let lefts), .array(let rights)):
            return lefts.count == rights.count && zip(lefts, rights).allSatisfy { same($0, $1) }
        case (.object(let lefts), .object(let rights)):
            return lefts.count == rights.count && zip(lefts, rights).allSatisfy { $0.key == $1.key && same($0.value, $1.value) }
        default:
            return left == right
        }
    }

    static func run(_ bytes: [UInt8]) -> [String] {
        guard let value = try? JSONParser.parse(bytes, maxDepth: 16) else { return [] }
        var writer = JSONWriter()
        writer.write(value)
        do {
            let again = try JSONParser.parse(writer.bytes, maxDepth: 16)
            return same(again, value) ? [] : ["\(value) writes as \(writer.string), which parses as \(again)"]
        } catch {
            return ["\(value) writes as \(writer.string), which does not parse: \(error)"]
        }
    }
}

/// `ProtocolDecoder.decodeCommand` (a dashboard's commands). Invariants: decoding never
/// traps; a decoded command encodes (`ProtocolEncoder`) to bytes that decode to the same
/// command.
enum CommandFuzzing {
    static func run(_ bytes: [UInt8]) -> [String] {
        guard let command = try? ProtocolDecoder.decodeCommand(bytes) else { return [] }
        let encoded = ProtocolEncoder.encode(command)
        do {
            let again = try ProtocolDecoder.decodeCommand(encoded)
            return again == command ? [] : ["\(command) encodes to a different command: \(again)"]
        } catch {
            return ["\(command) encodes to bytes that do not decode: \(error)"]
        }
    }
}

/// `DAGDefinition(json:handlers:)` (the definition files `eddy serve` loads). Invariants:
/// a malformed or invalid definition is a `DAGValidationError`, never a crash; an accepted
/// definition has unique node ids and only dependencies on its own nodes.
enum DAGDefinitionFuzzing {
    static let handlers: HandlerRegistry = {
        var registry = HandlerRegistry()
        for name in ["fetch", "transform", "publish"] {
            registry.register(name) { _ in .null }
        }
        return registry
    }()

    static func run(_ bytes: [UInt8]) -> [String] {
        guard let definition = try? DAGDefinition(json: bytes, handlers: handlers) else { return [] }
        let ids = definition.nodes.map(\.id)
        var violations: [String] = []
        if Set(ids).count != ids.count { violations.append("duplicate node ids in \(ids)") }
        for node in definition.nodes {
            for dependency in node.dependencies where !ids.contains(dependency) {
                violations.append("\(node.id) depends on unknown \(dependency)")
            }
        }
        return violations
    }
}
