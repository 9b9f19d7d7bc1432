import ArgumentParser
import Foundation
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

struct Key: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Issue, list, revoke and rotate an org's API keys.",
        discussion: """
            The same rules as the API (each change audited, the command line as the actor). A key is printed once; \
            only its SHA-256 is stored.
            """,
        subcommands: [List.self, Create.self, Revoke.self, Rotate.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the org's keys (prefixes, never the keys).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The org's id.") var org: String

        func run() async throws {
            let id = try parseOrgID(org)
            try await withTools(options) { tools in
                let keys = try await tools.keys.list(org: try await tools.readyOrg(id), after: nil, limit: 10_000)
                for key in keys {
                    let state =
                        key.revokedAt != nil
                        ? "revoked" : (key.expiresAt.map { $0 <= Date() } == true ? "expired" : "active")
                    print(
                        "\(key.id.uuidString.lowercased())  \(APIKey.scheme)_\(key.prefix)…  \(state)  \(key.roleName)  \(key.name)"
                    )
                }
                if keys.isEmpty { print("no keys") }
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a key with one role (printed once).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The org's id.") var org: String
        @Option(help: "What the key is for.") var name: String
        @Option(help: "The role the key acts with.") var role: String
        @Option(help: "Days until it expires (default never).") var expiresInDays: Int?

        func run() async throws {
            let id = try parseOrgID(org)
            if let days = expiresInDays, days < 1 { throw ValidationError("--expires-in-days must be at least 1") }
            try await withTools(options) { tools in
                let (record, key) = try await tools.keys.create(
                    org: try await tools.readyOrg(id), name: name, role: role,
                    expiresAt: expiresInDays.map { Date().addingTimeInterval(Double($0) * 86_400) },
                    by: .commandLine, actor: tools.actor)
                print("key \(record.id.uuidString.lowercased()) (\(role)), shown once:")
                print(key.plaintext)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key at once.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The org's id.") var org: String
        @Argument(help: "The key's id.") var key: String

        func run() async throws {
            let (org, key) = (try parseOrgID(org), try parseKeyID(key))
            try await withTools(options) { tools in
                let revoked = try await tools.keys.revoke(
                    org: try await tools.readyOrg(org), id: key, by: .commandLine, actor: tools.actor)
                print("key \(APIKey.scheme)_\(revoked.prefix)… revoked")
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a key by a new one with the same name and role (printed once).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The org's id.") var org: String
        @Argument(help: "The key's id.") var key: String
        @Option(help: "Seconds the old key keeps working (0–604800).") var graceSeconds = 0

        func run() async throws {
            let (org, key) = (try parseOrgID(org), try parseKeyID(key))
            try await withTools(options) { tools in
                let (record, plaintext) = try await tools.keys.rotate(
                    org: try await tools.readyOrg(org), id: key, grace: graceSeconds, by: .commandLine,
                    actor: tools.actor)
                print("key \(record.id.uuidString.lowercased()) replaces it, shown once:")
                print(plaintext.plaintext)
            }
        }
    }
}

func parseKeyID(_ raw: String) throws -> UUID {
    guard let id = UUID(uuidString: raw) else { throw ValidationError("'\(raw)' is not a key id") }
    return id
}
