import ArgumentParser
import Foundation
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

struct Member: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, add, re-role and remove an org's members.",
        discussion: """
            The same rules as the API (one owner at least; each change audited), with the command line as the \
            actor (cli:<OS user>); the operator may grant any role.
            """,
        subcommands: [List.self, Add.self, Roles.self, Remove.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the org's members and their roles.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The org's id.") var org: String

        func run() async throws {
            let id = try parseOrgID(org)
            try await withTools(options) { tools in
                let members = try await tools.membership.list(org: try await tools.readyOrg(id))
                for member in members {
                    print(
                        "\(member.userID.uuidString.lowercased())  \(member.email)  \(member.roles.joined(separator: ","))"
                    )
                }
                if members.isEmpty { print("no members") }
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a member (an account without a password is mailed an invitation, others a notice).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The org's id.") var org: String
        @Argument(help: "The member's email.") var email: String
        @Option(name: .customLong("role"), help: "A role to grant (repeat for several).") var roles: [String] = []

        func run() async throws {
            let id = try parseOrgID(org)
            try await withTools(options) { tools in
                let added = try await tools.membership.add(
                    org: try await tools.readyOrg(id), email: email, roles: roles, by: .commandLine, actor: tools.actor)
                print(
                    "\(added.member.email) added with \(added.member.roles.joined(separator: ",")); \(added.invited ? "an invitation" : "a notice") is queued for mail"
                )
            }
        }
    }

    struct Roles: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace a member's roles.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The org's id.") var org: String
        @Argument(help: "The member's email or user id.") var member: String
        @Option(name: .customLong("role"), help: "A role to grant (repeat for several).") var roles: [String] = []

        func run() async throws {
            let id = try parseOrgID(org)
            try await withTools(options) { tools in
                let org = try await tools.readyOrg(id)
                let updated = try await tools.membership.setRoles(
                    org: org, user: try await tools.member(member, of: org), roles: roles, by: .commandLine,
                    actor: tools.actor)
                print("\(updated.email) now has \(updated.roles.joined(separator: ","))")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a member (never the last owner).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The org's id.") var org: String
        @Argument(help: "The member's email or user id.") var member: String

        func run() async throws {
            let id = try parseOrgID(org)
            try await withTools(options) { tools in
                let org = try await tools.readyOrg(id)
                try await tools.membership.remove(
                    org: org, user: try await tools.member(member, of: org), by: .commandLine, actor: tools.actor)
                print("\(member) removed")
            }
        }
    }
}

extension Tools {
    var membership: Membership { Membership(metadata: client, mailer: mailer, logger: logger) }
    var keys: APIKeyAdministration { APIKeyAdministration(metadata: client, logger: logger) }

    /// The org's id when it exists and is ready (what the API requires of an org route too).
    func readyOrg(_ id: UUID) async throws -> UUID {
        let org = try await orgs.existing(id)
        guard org.status == .ready else {
            throw TesseraError.conflict("the org is \(org.status.rawValue), not ready")
        }
        return id
    }

    /// The member named by email or user id.
    func member(_ raw: String, of org: UUID) async throws -> UUID {
        if let id = UUID(uuidString: raw) { return id }
        let email = try EmailAddress.validated(raw)
        guard let member = try await membership.list(org: org).first(where: { $0.email == email }) else {
            throw TesseraError.notFound("no member \(email)")
        }
        return member.userID
    }
}
