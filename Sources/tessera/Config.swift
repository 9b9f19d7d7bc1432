import ArgumentParser
import TesseraCore

struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the effective configuration and where each value came from (secrets as ***).")

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        for line in try options.loadSettings().redactedListing() { print(line) }
    }
}
