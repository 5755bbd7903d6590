@testable import eddy
import EddyRooms
import Testing

/// `eddy echo --broadcast --delivery`: when a publish reaches the subscribers, per-iteration
/// by default (as `RoomRegistry`), and a clear error for a name it does not know (and for an unknown outbox policy).
@Suite("eddy echo: --delivery and --outbox-policy")
struct EchoDeliveryOptionTests {
    @Test func perIterationByDefaultAndImmediateOnRequest() throws {
        #expect(try EchoCommand.delivery(named: EchoCommand.parse([]).delivery) == .perIteration)
        #expect(try EchoCommand.delivery(named: EchoCommand.parse(["--delivery", "immediate"]).delivery) == .immediate)
    }

    @Test(arguments: [["--delivery", "later"], ["--outbox-policy", "keep-all"]])
    func anUnknownNameIsRefusedWhenTheCommandIsParsed(arguments: [String]) {
        #expect {
            _ = try EchoCommand.parse(arguments)
        } throws: { error in
            let message = EchoCommand.message(for: error)
            return message.contains("unknown \(arguments[0]) '\(arguments[1])'")
        }
    }
}
