import EddyFuzzTargets
#if canImport(Glibc)
import Glibc
#endif

// Two builds of one driver:
// - `make fuzz` builds it with `--sanitize fuzzer --sanitize address -DEDDY_LIBFUZZER`:
//   libFuzzer's own `main` then calls `LLVMFuzzerTestOneInput` with each input, for the
//   target named by the `EDDY_FUZZ_TARGET` environment variable.
// - A plain build is a replayer: `eddy-fuzz TARGET FILE...` runs the target over files
//   (a crash file libFuzzer wrote, say) and prints each broken invariant.

/// Writes `text` and a newline to stderr (unbuffered, so it is there before an abort).
func report(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

#if EDDY_LIBFUZZER
/// The target of this fuzzing process, from `EDDY_FUZZ_TARGET`.
let selectedTarget: FuzzTarget = {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    guard let name = getenv("EDDY_FUZZ_TARGET").map({ String(cString: $0) }), let target = FuzzTarget(rawValue: name) else {
        report("eddy-fuzz: set EDDY_FUZZ_TARGET to one of: \(names)")
        exit(2)
    }
    return target
}()

/// libFuzzer's entry: one input. A broken invariant aborts, so libFuzzer keeps the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let violations = selectedTarget.run(bytes)
    if !violations.isEmpty {
        report("eddy-fuzz \(selectedTarget.rawValue): " + violations.joined(separator: "\n  "))
        abort()
    }
    return 0
}
#else
/// Replays inputs through a target: `eddy-fuzz TARGET FILE...`; exits 1 if any input
/// breaks an invariant.
@main
struct FuzzReplay {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            report("usage: eddy-fuzz TARGET FILE...  (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
            exit(2)
        }
        var broken = 0
        for path in arguments.dropFirst() {
            guard let bytes = readFile(path) else {
                report("\(path): cannot read")
                exit(2)
            }
            let violations = target.run(bytes)
            if !violations.isEmpty {
                broken += 1
                report("\(path): " + violations.joined(separator: "\n  "))
            }
        }
        report("\(arguments.count - 1) inputs, \(broken) broke an invariant")
        exit(broken == 0 ? 0 : 1)
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        // Bounded by the file's size: each round reads at least one byte or ends.
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        return ferror(file) == 0 ? bytes : nil
    }
}
#endif
