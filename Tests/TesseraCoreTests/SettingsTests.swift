import Foundation
import Testing

@testable import TesseraCore

@Suite struct SettingsTests {
    @Test func defaultsApplyWhenNothingIsSet() throws {
        let loaded = try SettingsLoader.load(environment: [:], dotEnv: nil, yaml: nil)
        #expect(loaded.settings.http.port == 8080)
        #expect(loaded.settings.database.port == 54329)
        #expect(loaded.settings.database.password == nil)
        #expect(loaded.sources["http.port"] == .defaultValue)
    }

    @Test func environmentBeatsDotEnvBeatsYAMLBeatsDefault() throws {
        let yaml = """
            http:
              port: 7001
              host: 10.0.0.1
            database:
              name: from_yaml
              pool_size: 7
            """
        let dotEnv = """
            # comment
            export TESSERA_HTTP_PORT=7002
            TESSERA_DB_NAME="from_dotenv"
            """
        let env = ["TESSERA_HTTP_PORT": "7003"]
        let loaded = try SettingsLoader.load(environment: env, dotEnv: dotEnv, yaml: yaml)
        #expect(loaded.settings.http.port == 7003)
        #expect(loaded.sources["http.port"] == .environment)
        #expect(loaded.settings.database.name == "from_dotenv")
        #expect(loaded.sources["database.name"] == .dotEnv)
        #expect(loaded.settings.http.host == "10.0.0.1")
        #expect(loaded.settings.database.poolSize == 7)
        #expect(loaded.sources["database.pool_size"] == .yaml)
        #expect(loaded.settings.http.maxBodyBytes == 1_048_576)
        #expect(loaded.sources["http.max_body_bytes"] == .defaultValue)
    }

    @Test func unknownYAMLKeysAreWarnedAbout() throws {
        let yaml = """
            http:
              prot: 1
            colour: blue
            """
        let loaded = try SettingsLoader.load(environment: [:], dotEnv: nil, yaml: yaml)
        #expect(loaded.warnings.count == 2)
        #expect(loaded.warnings.contains { $0.contains("'http.prot'") })
        #expect(loaded.warnings.contains { $0.contains("'colour'") })
    }

    @Test func invalidValueNamesTheKeyAndSource() {
        #expect(
            throws: SettingsError.invalidValue(
                key: "http.port", source: .environment, expected: "an integer in 0...65535")
        ) {
            try SettingsLoader.load(environment: ["TESSERA_HTTP_PORT": "eighty"], dotEnv: nil, yaml: nil)
        }
        #expect(throws: SettingsError.invalidValue(key: "profile", source: .yaml, expected: "one of dev, prod")) {
            try SettingsLoader.load(environment: [:], dotEnv: nil, yaml: "profile: staging")
        }
    }

    /// `verify-full` checks the certificate's name: a host given as an address cannot be checked, so it is refused.
    @Test func verifyFullNeedsAHostName() throws {
        #expect(
            throws: SettingsError.invalidValue(
                key: "database.host", source: .defaultValue,
                expected: "a DNS name its certificate holds when database.tls is verify-full, not an address")
        ) {
            try SettingsLoader.load(environment: ["TESSERA_DB_TLS": "verify-full"], dotEnv: nil, yaml: nil)
        }
        let named = try SettingsLoader.load(
            environment: [
                "TESSERA_DB_TLS": "verify-full", "TESSERA_DB_HOST": "db.internal", "TESSERA_DB_TLS_CA_FILE": "/ca.pem",
            ], dotEnv: nil, yaml: nil
        ).settings.database.tls
        #expect(named == Settings.DatabaseTLS(mode: .verifyFull, caFile: "/ca.pem"))
        for address in ["10.0.0.7", "::1", "[::1]", "fe80::1%eth0"] {
            #expect(throws: TesseraError.self) {
                try Settings.DatabaseTLS(mode: .verifyFull).check(host: address)
            }
            try Settings.DatabaseTLS(mode: .require).check(host: address)
        }
        try Settings.DatabaseTLS(mode: .verifyFull).check(host: "localhost")
    }

    @Test func malformedSourcesAreRefused() {
        #expect(throws: SettingsError.invalidDotEnv(line: 2)) {
            try SettingsLoader.load(environment: [:], dotEnv: "TESSERA_HTTP_PORT=1\nnot a pair", yaml: nil)
        }
        #expect(throws: SettingsError.self) {
            try SettingsLoader.load(environment: [:], dotEnv: nil, yaml: "- just\n- a list")
        }
    }

    @Test func secretsNeverPrint() throws {
        let plaintext = "hunter2-very-secret"
        let loaded = try SettingsLoader.load(
            environment: ["TESSERA_DB_PASSWORD": plaintext], dotEnv: "TESSERA_DB_ADMIN_PASSWORD=\(plaintext)", yaml: nil
        )
        #expect(loaded.settings.database.password?.value == plaintext)
        #expect(loaded.settings.database.adminPassword?.value == plaintext)
        let listing = loaded.redactedListing().joined(separator: "\n")
        #expect(!listing.contains(plaintext))
        #expect(listing.contains("database.password = ***"))
        #expect("\(loaded.settings.database)".contains(plaintext) == false)
        #expect(String(reflecting: loaded.settings).contains(plaintext) == false)
    }

    @Test func dotEnvParsing() throws {
        let parsed = try SettingsLoader.parseDotEnv(
            """
            A=1
            B = 'two words'
            C="x#y"
            D=plain # trailing comment

            export E=5
            """)
        #expect(parsed == ["A": "1", "B": "two words", "C": "x#y", "D": "plain", "E": "5"])
    }
}

@Suite struct ExampleConfigTests {
    @Test func exampleYAMLLoadsWithoutWarnings() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let yaml = try String(contentsOf: root.appendingPathComponent("config/tessera.example.yaml"), encoding: .utf8)
        let loaded = try SettingsLoader.load(environment: [:], dotEnv: nil, yaml: yaml)
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.sources["http.port"] == .yaml)
    }
}
