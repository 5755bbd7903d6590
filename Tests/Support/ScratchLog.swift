public import Foundation

/// A scratch directory for an event log (`path`), removed by `remove()`.
public struct ScratchLog: Sendable {
    public let directory: URL
    /// The SQLite file's path inside the directory (not created).
    public var path: String { directory.appendingPathComponent("events.sqlite").path }

    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-stream-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    public func remove() { try? FileManager.default.removeItem(at: directory) }
}
