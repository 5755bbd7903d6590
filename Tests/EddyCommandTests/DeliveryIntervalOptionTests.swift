@testable import eddy
import EddyDAGStream
import Testing

/// `--delivery-interval`: milliseconds of coalesced delivery to dashboards, 0 for at once,
/// and a clear error outside 0...1000.
@Suite("eddy demo/serve: --delivery-interval")
struct DeliveryIntervalOptionTests {
    @Test func theDefaultIsOneDisplayFrameAndZeroMeansAtOnce() throws {
        #expect(try DemoCommand.parse([]).options.deliveryInterval == 16)
        #expect(try DemoCommand.parse(["--delivery-interval", "0"]).options.deliveryInterval == 0)
        #expect(DAGStreamConfiguration().delivery == .coalesced(atMostEvery: .milliseconds(16)))
    }

    @Test(arguments: ["-1", "1001"])
    func aValueOutsideZeroToASecondIsRefused(value: String) {
        #expect {
            _ = try DemoCommand.parse(["--delivery-interval=\(value)"])
        } throws: { error in
            DemoCommand.message(for: error).contains("--delivery-interval must be 0 (at once) to 1000 milliseconds")
        }
    }
}
