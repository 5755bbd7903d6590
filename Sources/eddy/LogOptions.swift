import ArgumentParser
import Logging

/// `--log-level` for the server commands: the one place the CLI bootstraps swift-log. The
/// libraries only log through the loggers they are given (their configurations default to
/// loggers from this system).
struct LogOptions: ParsableArguments {
    @Option(help: "Least severe log level written to stderr: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "notice"
    @Option(help: "Seconds a graceful shutdown (SIGTERM or SIGINT) may take; past them the process logs it and exits with status 1.")
    var shutdownTimeout = 10.0

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown --log-level '\(logLevel)' (trace, debug, info, notice, warning, error, critical)")
        }
        guard shutdownTimeout > 0 else { throw ValidationError("--shutdown-timeout must be more than 0") }
    }

    /// Bootstraps the process's logging (stderr, `logLevel`) and returns the logger `label`.
    /// Call it once per process, before any library configuration is made (they take their
    /// default loggers from the system bootstrapped here).
    func bootstrap(label: String) -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .notice // validated by `validate()`
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}
