import EddyFuzzTargets
import Foundation
import Testing

/// Every committed fuzz input (the seed corpora, and each input that once broke a parser,
/// under `Regressions/`) runs through its target in the normal suite: what the fuzzer
/// found stays fixed, and the seeds keep exercising each target's invariants.
@Suite("Fuzz corpora replay through their targets")
struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    /// The files of `Corpus/<target>` and `Regressions/<target>`.
    static func inputs(of target: FuzzTarget) throws -> [URL] {
        var files: [URL] = []
        for folder in ["Corpus", "Regressions"] {
            let directory = root.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
            guard FileManager.default.fileExists(atPath: directory.path) else { continue }
            files += try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
                .filter { !$0.lastPathComponent.hasPrefix(".") }
        }
        return files.sorted { $0.path < $1.path }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyCommittedInputKeepsTheInvariants(_ target: FuzzTarget) throws {
        let files = try Self.inputs(of: target)
        #expect(files.count >= 5, "a seed corpus for \(target.rawValue)")
        for file in files {
            let violations = target.run(Array(try Data(contentsOf: file)))
            #expect(violations.isEmpty, "\(file.lastPathComponent): \(violations)")
        }
    }
}
