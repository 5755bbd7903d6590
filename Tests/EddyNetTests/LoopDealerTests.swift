@testable import EddyNet
import EddyTestSupport
import Testing

/// Which loop takes each accepted connection (`LoopDealer`): every round reaches every loop
/// once, in an order that changes from round to round, so the dealing is as even as round
/// robin without alternating in lockstep with the order connections were opened in.
@Suite("Dealing accepted connections to loops")
struct LoopDealerTests {
    /// After every deal, no loop is more than one connection ahead of any other, and each
    /// round of `loopCount` deals is a permutation of the loops.
    @Test(arguments: [1, 2, 3, 5, 16])
    func everyRoundReachesEveryLoopOnce(loopCount: Int) {
        var dealer = LoopDealer(loopCount: loopCount, generator: SplitMix64(seed: 0x5EED_0000 + UInt64(loopCount)))
        var dealt = Array(repeating: 0, count: loopCount)
        for round in 0..<200 {
            var seen: [Int] = []
            for _ in 0..<loopCount {
                let index = dealer.next()
                #expect((0..<loopCount).contains(index))
                dealt[index] += 1
                seen.append(index)
                #expect(dealt.max()! - dealt.min()! <= 1, "round \(round): \(dealt)")
            }
            #expect(seen.sorted() == Array(0..<loopCount), "round \(round): \(seen)")
        }
        #expect(dealt == Array(repeating: 200, count: loopCount))
    }

    /// Rounds come in different orders, and a round sometimes starts on the loop the one
    /// before ended on: over 1,000 deals to two loops (500 rounds), both happen about as
    /// often as chance says (each round boundary is a coin toss). Round robin gives 0 and 0.
    @Test func roundsChangeOrderAndSometimesRepeatALoopAcrossTheirBoundary() {
        var dealer = LoopDealer(loopCount: 2, generator: SplitMix64(seed: 19))
        let deals = (0..<1_000).map { _ in dealer.next() }
        let rounds = stride(from: 0, to: deals.count, by: 2).map { Array(deals[$0..<$0 + 2]) }
        let startingOnOne = rounds.filter { $0 == [1, 0] }.count
        let repeatsAcrossBoundary = (1..<rounds.count).filter { rounds[$0 - 1][1] == rounds[$0][0] }.count
        #expect((200...300).contains(startingOnOne), "\(startingOnOne) of 500 rounds began on loop 1")
        #expect((200...300).contains(repeatsAcrossBoundary), "\(repeatsAcrossBoundary) of 499 boundaries repeated a loop")
    }

    /// Zero or negative loop counts are treated as one loop instead of trapping.
    @Test func aDealerForNoLoopsDealsToTheFirst() {
        var dealer = LoopDealer(loopCount: 0, generator: SplitMix64(seed: 1))
        #expect((0..<3).map { _ in dealer.next() } == [0, 0, 0])
    }

    /// The listener's own dealer, drawing from the system's generator, keeps the same
    /// evenness: a thousand connections accepted by two loops split 500 and 500 (see
    /// `TCPConnectionTests.thousandConcurrentConnectionsSpreadAcrossTwoLoops` for the
    /// same through real sockets).
    @Test func theSystemGeneratorDealerIsAsEven() {
        var dealer = LoopDealer(loopCount: 2)
        var dealt = [0, 0]
        for _ in 0..<1_000 { dealt[dealer.next()] += 1 }
        #expect(dealt == [500, 500])
    }
}
