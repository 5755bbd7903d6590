/// Typed field access over a JSON object, producing ``ProtocolError``s that name the field.
struct Fields {
    let members: [JSONValue.Member]
    let path: String

    subscript(key: String) -> JSONValue? {
        members.first(where: { $0.key == key })?.value
    }

    private func required(_ key: String) throws(ProtocolError) -> JSONValue {
        guard let v = self[key] else { throw .missingField(path + key) }
        return v
    }

    func string(_ key: String) throws(ProtocolError) -> String {
        guard let s = try required(key).stringValue else { throw .invalidField(path + key, "must be a string") }
        return s
    }

    func optionalString(_ key: String) throws(ProtocolError) -> String? {
        guard let v = self[key], v != .null else { return nil }
        guard let s = v.stringValue else { throw .invalidField(path + key, "must be a string") }
        return s
    }

    func int(_ key: String) throws(ProtocolError) -> Int64 {
        guard let i = try required(key).intValue else { throw .invalidField(path + key, "must be an integer") }
        return i
    }

    func optionalInt(_ key: String) throws(ProtocolError) -> Int64? {
        guard let v = self[key], v != .null else { return nil }
        guard let i = v.intValue else { throw .invalidField(path + key, "must be an integer") }
        return i
    }

    func double(_ key: String) throws(ProtocolError) -> Double {
        guard let d = try required(key).doubleValue else { throw .invalidField(path + key, "must be a number") }
        return d
    }

    func optionalDouble(_ key: String) throws(ProtocolError) -> Double? {
        guard let v = self[key], v != .null else { return nil }
        guard let d = v.doubleValue else { throw .invalidField(path + key, "must be a number") }
        return d
    }

    func optionalBool(_ key: String) throws(ProtocolError) -> Bool? {
        guard let v = self[key], v != .null else { return nil }
        guard case .bool(let b) = v else { throw .invalidField(path + key, "must be a boolean") }
        return b
    }

    func array(_ key: String) throws(ProtocolError) -> [JSONValue] {
        guard let a = try required(key).arrayValue else { throw .invalidField(path + key, "must be an array") }
        return a
    }

    func object(_ key: String) throws(ProtocolError) -> Fields {
        guard let m = try required(key).objectMembers else { throw .invalidField(path + key, "must be an object") }
        return Fields(members: m, path: path + key + ".")
    }

    func optionalObject(_ key: String) throws(ProtocolError) -> Fields? {
        guard let v = self[key], v != .null else { return nil }
        guard let m = v.objectMembers else { throw .invalidField(path + key, "must be an object") }
        return Fields(members: m, path: path + key + ".")
    }

    func enumValue<E: RawRepresentable>(_ key: String, _: E.Type) throws(ProtocolError) -> E where E.RawValue == String {
        let raw = try string(key)
        guard let e = E(rawValue: raw) else { throw .invalidField(path + key, "unknown value '\(raw)'") }
        return e
    }
}
