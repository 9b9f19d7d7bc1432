import ArgumentParser
import Foundation
import Logging
import TesseraCore
import TesseraGateway
import TesseraPostgres

/// Options every command takes: where the configuration files are.
struct GlobalOptions: ParsableArguments {
    @Option(help: "YAML configuration file (default: config/tessera.yaml, if present; or TESSERA_CONFIG).")
    var config: String?

    @Option(
        help: "dotenv file with TESSERA_* variables (default: .env, if present, over .data/postgres.env, if present).")
    var envFile: String = ".env"

    /// Where provisioning/postgres keeps the local cluster's connection settings and dev master key.
    static let localClusterEnv = ".data/postgres.env"

    /// Reads the environment and the files once and builds the settings; prints warnings to standard error.
    func loadSettings() throws -> LoadedSettings {
        let environment = ProcessInfo.processInfo.environment
        let yamlPath = config ?? environment["TESSERA_CONFIG"] ?? "config/tessera.yaml"
        let explicit = config != nil || environment["TESSERA_CONFIG"] != nil
        let yaml = try Self.read(yamlPath, required: explicit)
        var dotEnv = try Self.read(envFile, required: envFile != ".env")
        // In a checkout, the local cluster's settings (provisioning/postgres writes them, master key included)
        // come under .env: `tessera org list` works from a plain shell and never makes a second master key.
        if envFile == ".env", let local = try Self.read(Self.localClusterEnv, required: false) {
            dotEnv = local + "\n" + (dotEnv ?? "")
        }
        let loaded = try SettingsLoader.load(environment: environment, dotEnv: dotEnv, yaml: yaml)
        for warning in loaded.warnings {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        return loaded
    }

    /// The master key's box: from the settings, or in the dev profile from `<data dir>/master-key`
    /// (made on first use, unless secrets sealed under another key exist). The prod profile refuses to run
    /// without `TESSERA_MASTER_KEY`.
    func secretBox(_ settings: Settings) async throws -> SecretBox {
        try SecretBox(masterKeyBase64: try await masterKey(settings).value)
    }

    func masterKey(_ settings: Settings) async throws -> Secret {
        if let key = settings.tenants.masterKey { return key }
        guard settings.profile == .dev else {
            throw ValidationError(
                "TESSERA_MASTER_KEY is required in the prod profile (base64 of 32 random bytes: openssl rand -base64 32)"
            )
        }
        let path = "\(settings.paths.dataDir)/master-key"
        if let existing = try Self.read(path, required: false) {
            return Secret(existing.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        // A new key must not be made while secrets sealed under another exist: they could never be opened.
        let sealed: Int
        do {
            sealed = try await settings.database.withConnection(as: .admin, logger: Logger(label: "tessera")) {
                try await SealedSecrets.count(on: $0, logger: Logger(label: "tessera"))
            }
        } catch {
            throw ValidationError(
                "no master key (TESSERA_MASTER_KEY or \(path)), and the metadata database cannot say whether secrets are sealed under one (\(describeDatabaseError(error))); no key was made"
            )
        }
        guard sealed == 0 else {
            throw ValidationError(
                "no master key (TESSERA_MASTER_KEY or \(path)), but \(sealed) secret(s) in the metadata database are sealed under one: set TESSERA_MASTER_KEY to that key (a checkout keeps it in .data/postgres.env); no new key was made"
            )
        }
        try FileManager.default.createDirectory(atPath: settings.paths.dataDir, withIntermediateDirectories: true)
        let key = SecretBox.generateMasterKey()
        FileManager.default.createFile(
            atPath: path, contents: Data((key + "\n").utf8), attributes: [.posixPermissions: 0o600])
        FileHandle.standardError.write(Data("note: dev profile: made a master key in \(path)\n".utf8))
        return Secret(key)
    }

    static func read(_ path: String, required: Bool) throws -> String? {
        guard FileManager.default.fileExists(atPath: path) else {
            if required { throw ValidationError("configuration file \(path) does not exist") }
            return nil
        }
        return try String(contentsOfFile: path, encoding: .utf8)
    }
}

/// Sets up JSON-lines logging at the configured level and returns the root logger.
func makeLogger(_ settings: Settings, label: String = "tessera") -> Logger {
    let level = Logger.Level(rawValue: settings.logLevel) ?? .info
    LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
    return Logger(label: label)
}

/// Runs a command's work; an unexpected error is printed as one line (a database error as the
/// server's message) and the process exits 1.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch let error as TesseraError {
        FileHandle.standardError.write(Data("error: \(error.detail)\n".utf8))
        throw ExitCode.failure
    } catch {
        FileHandle.standardError.write(Data("error: \(describeDatabaseError(error))\n".utf8))
        throw ExitCode.failure
    }
}

/// An org id given on the command line.
func parseOrgID(_ raw: String) throws -> UUID {
    guard let id = UUID(uuidString: raw) else { throw ValidationError("'\(raw)' is not an org id") }
    return id
}
