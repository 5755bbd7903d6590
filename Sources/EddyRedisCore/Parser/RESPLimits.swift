/// The most a `RESPParser` accepts from the network before it gives up with a
/// `RESPParseError`: so a broken or hostile server cannot make the client allocate without
/// bound or recurse deeply.
///
/// Guarantee: every limit is checked on the declared length, before anything is allocated
/// for it.
public struct RESPLimits: Sendable, Hashable {
    /// Longest bulk string (`$`, `!`, `=`), in bytes. Default 64 MiB (Redis allows 512 MiB).
    public var maxBulkLength: Int
    /// Most elements in one array, set, push or map (a map counts its pairs). Default 1,048,576.
    public var maxAggregateLength: Int
    /// Deepest nesting of aggregates (a flat array is depth 1). Default 32.
    public var maxDepth: Int
    /// Longest line of a simple string, error, integer, double, big number or length. Default 64 KiB.
    public var maxLineLength: Int

    public init(maxBulkLength: Int = 64 << 20, maxAggregateLength: Int = 1 << 20, maxDepth: Int = 32,
                maxLineLength: Int = 64 << 10) {
        self.maxBulkLength = maxBulkLength
        self.maxAggregateLength = maxAggregateLength
        self.maxDepth = maxDepth
        self.maxLineLength = maxLineLength
    }
}
