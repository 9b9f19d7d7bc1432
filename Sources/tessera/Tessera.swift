import ArgumentParser

@main
struct Tessera: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Tessera: a multi-tenant gateway for prediction and evaluation work.",
        discussion: """
            Configuration comes from the environment (TESSERA_*), then ./.env, then config/tessera.yaml \
            (or --config), then defaults. `tessera config` shows the result, secrets as ***.
            """,
        subcommands: [
            Serve.self, Migrate.self, Org.self, Member.self, Key.self, Server.self, Audit.self, Admin.self, Config.self,
            CAFAEval.self,
        ]
    )
}
