public import CoreMetrics
public import EddyLoop

/// Folds per-thread tallies (`LoopTally`) into swift-metrics counters and gauges: the
/// handlers are made once, from one factory, and each fold adds each slot's amount to its
/// series (a gauge moves by it), so the metrics backend sees one update per slot per fold
/// instead of one per message.
///
/// Guarantees: a fold moves every series by exactly what the folding thread tallied since its
/// previous fold, plus what was counted off the loops since any fold took it; nothing is
/// counted twice or lost on a thread that is folded. Run folds on
/// the thread whose tallies they take: `startFolding(on:every:)` and `foldNow(on:)` do.
public final class TallyFolder: Sendable {
    private let counters: [(any CounterHandler)?]
    private let gauges: [(any MeterHandler)?]

    /// - Parameter factory: the backend (default: the bootstrapped `MetricsSystem.factory`).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        var counters = [(any CounterHandler)?](repeating: nil, count: LoopTally.slotCount)
        var gauges = [(any MeterHandler)?](repeating: nil, count: LoopTally.slotCount)
        for counter in TallyCounter.allCases {
            let metric = counter.metric
            switch metric.kind {
            case .counter: counters[counter.rawValue] = factory.makeCounter(label: metric.label, dimensions: metric.dimensions)
            case .gauge: gauges[counter.rawValue] = factory.makeMeter(label: metric.label, dimensions: metric.dimensions)
            }
        }
        self.counters = counters
        self.gauges = gauges
    }

    /// Adds `tallies` (from `LoopTally.take()`) to the series.
    public func fold(_ tallies: [Int64]) {
        for (slot, amount) in tallies.enumerated() where amount != 0 && slot < counters.count {
            if let counter = counters[slot], amount > 0 {
                counter.increment(by: amount)
            } else if let gauge = gauges[slot] {
                if amount > 0 { gauge.increment(by: Double(amount)) } else { gauge.decrement(by: Double(-amount)) }
            }
        }
    }

    /// Takes the calling thread's tallies and folds them, and what was counted off the loops
    /// (`LoopTally.addFromAnyThread`) since any fold took it.
    public func foldCurrentThread() {
        fold(LoopTally.take())
        fold(LoopTally.takeOffLoop())
    }

    /// Folds each loop's tallies on that loop every `interval` until the loops shut down (or
    /// the returned timers are cancelled).
    @discardableResult
    public func startFolding(on group: EventLoopGroup, every interval: Duration = .seconds(1)) -> [ScheduledWork] {
        group.loops.map { loop in loop.scheduleRepeating(every: interval) { [self] in foldCurrentThread() } }
    }

    /// Folds every loop's tallies now, each on its own loop, and returns when all are folded
    /// (a loop that has shut down is skipped): call before rendering a scrape.
    public func foldNow(on group: EventLoopGroup) async {
        for loop in group.loops {
            _ = try? await loop.submit { [self] in foldCurrentThread() }
        }
    }
}
