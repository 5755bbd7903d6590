/// Typed field access over a JSON object, producing ``ProtocolError``s that name the field.
struct Fields {
    let members: [JSONValue.Member]
    let path: String

    subscript(key: String) -> JSONValue? {
        members.first(where: { $0.key == key })?.value
    }

    private func required(_ key: String) throws(ProtocolError) -> JSONValue {
        guard let value = self[key] else { throw .missingField(path + key) }
        return value
    }

    func string(_ key: String) throws(ProtocolError) -> String {
        guard let text = try required(key).stringValue else { throw .invalidField(path + key, "must be a string") }
        return text
    }

    func optionalString(_ key: String) throws(ProtocolError) -> String? {
        guard let value = self[key], value != .null else { return nil }
        guard let text = value.stringValue else { throw .invalidField(path + key, "must be a string") }
        return text
    }

    func int(_ key: String) throws(ProtocolError) -> Int64 {
        guard let integer = try required(key).intValue else { throw .invalidField(path + key, "must be an integer") }
        return integer
    }

    func optionalInt(_ key: String) throws(ProtocolError) -> Int64? {
        guard let value = self[key], value != .null else { return nil }
        guard let integer = value.intValue else { throw .invalidField(path + key, "must be an integer") }
        return integer
    }

    func double(_ key: String) throws(ProtocolError) -> Double {
        guard let number = try required(key).doubleValue else { throw .invalidField(path + key, "must be a number") }
        return number
    }

    func optionalDouble(_ key: String) throws(ProtocolError) -> Double? {
        guard let value = self[key], value != .null else { return nil }
        guard let number = value.doubleValue else { throw .invalidField(path + key, "must be a number") }
        return number
    }

    func optionalBool(_ key: String) throws(ProtocolError) -> Bool? {
        guard let value = self[key], value != .null else { return nil }
        guard case .bool(let flag) = value else { throw .invalidField(path + key, "must be a boolean") }
        return flag
    }

    func array(_ key: String) throws(ProtocolError) -> [JSONValue] {
        guard let elements = try required(key).arrayValue else { throw .invalidField(path + key, "must be an array") }
        return elements
    }

    func object(_ key: String) throws(ProtocolError) -> Fields {
        guard let members = try required(key).objectMembers else { throw .invalidField(path + key, "must be an object") }
        return Fields(members: members, path: path + key + ".")
    }

    func optionalObject(_ key: String) throws(ProtocolError) -> Fields? {
        guard let value = self[key], value != .null else { return nil }
        guard let members = value.objectMembers else { throw .invalidField(path + key, "must be an object") }
        return Fields(members: members, path: path + key + ".")
    }

    func enumValue<E: RawRepresentable>(_ key: String, _: E.Type) throws(ProtocolError) -> E where E.RawValue == String {
        let raw = try string(key)
        guard let value = E(rawValue: raw) else { throw .invalidField(path + key, "unknown value '\(raw)'") }
        return value
    }
}
