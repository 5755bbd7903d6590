/// Whether two byte arrays share one buffer (the same allocation, not merely equal bytes):
/// for tests that check something was handed on, not copied or made again.
public func sharesStorage(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in pa.baseAddress == pb.baseAddress } }
}
