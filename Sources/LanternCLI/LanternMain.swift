import ArgumentParser
import Foundation

extension LanternCommand {
    /// ArgumentParser's `main`, with errors kept to one line on standard error: a usage error (an
    /// unknown flag, a value out of range) exits 2 as Unix tools do instead of ArgumentParser's 64
    /// and without the usage text after it; anything else exits 1. Help and ExitCode pass through.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is ExitCode { exit(withError: error) }
            // ArgumentParser adds a "Help:" line after some messages; the first line says it.
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            FileHandle.standardError.write(Data(("Error: " + message + "\n").utf8))
            Foundation.exit(code == .validationFailure ? 2 : 1)
        }
    }
}
