import Foundation
import PostgresNIO
import TesseraTestSupport
import Testing

@testable import TesseraCore
@testable import TesseraGateway

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The web console in Debian's chromium, driven headless by Playwright (`Tests/Browser/console.py`) against a real
/// `tessera serve` with self-service on: a person who signed up signs in by keyboard, creates an org and sees it
/// become ready without reloading, creates a key and sees it once (and it works against the API) and rotates it, and
/// verifies the audit chain — intact; then an auditor they added, signed in, finds it broken at the seq of a record
/// altered in the database —, and sees a
/// CAFA evaluation's precision–recall curves drawn with their Fmax points. Screenshots of every page go to
/// `.build/test-artifacts/console/`.
@Suite struct ConsoleBrowserTests {
    static let email = "grace@example.test"
    static let password = "a browser passphrase"
    /// Added as an auditor in the browser (console.py), then signs in to verify the chain.
    static let auditor = "bo@example.test"
    /// Signs in through the org's identity provider, new to Tessera.
    static let member = "lin@example.test"

    @Test func signInCreateAnOrgAndAKeyThenVerifyTheChainInChromium() async throws {
        try await TestDatabase.withFresh(migrated: true) { settings in
            try await TestDatabase.prepareTenants(settings)
            let gateway = try await TwoGatewayTests.Gateway.started(
                settings,
                environment: [
                    "TESSERA_ACCOUNTS_SELF_SERVICE": "true",
                    // The test's identity provider is on loopback.
                    "TESSERA_ACCOUNTS_OIDC_PRIVATE_ISSUERS": "true",
                ])
            defer { gateway.stop() }
            let base = "http://127.0.0.1:\(gateway.port)"
            #expect(
                try await Self.post(
                    base, "/v1/auth/signup", #"{"email":"\#(Self.email)","password":"\#(Self.password)"}"#)
                    == 202)
            let mail = try await TestMail.messages(to: Self.email, settings)
            let token = try #require(TestMail.tokens(in: mail.joined()).first, "no verification mail")
            #expect(try await Self.post(base, "/v1/auth/signup/verify", #"{"token":"\#(token)"}"#) == 204)

            let shots = "\(TestDatabase.root)/.build/test-artifacts/console"
            let first = try await Self.browser(["main", "--base", base, "--shots", shots])
            let org = try #require(first["org"] as? String)
            let key = try #require(first["key"] as? String)
            // The keys shown once are real: each reads the org's datasets (a viewer's permission); the rotated one
            // still does, within its grace.
            let rotated = try #require(first["rotated"] as? String)
            #expect(try await Self.get(base, "/v1/orgs/\(org)/datasets", bearer: rotated) == 200)
            #expect(try await Self.get(base, "/v1/orgs/\(org)/datasets", bearer: key) == 200)

            // An altered record: the console reports the chain broken exactly there.
            let seq = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                connection in
                try await connection.query(
                    "ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update_delete", logger: TestDatabase.logger)
                let seq = try await connection.query(
                    "SELECT min(seq) FROM audit_logs WHERE org_id = \(UUID(uuidString: org)!) AND action = 'api_key.create'",
                    logger: TestDatabase.logger
                ).collect()[0].decode(Int64.self)
                try await connection.query(
                    "UPDATE audit_logs SET entity_id = 'forged' WHERE org_id = \(UUID(uuidString: org)!) AND seq = \(seq)",
                    logger: TestDatabase.logger)
                try await connection.query(
                    "ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_update_delete", logger: TestDatabase.logger)
                return seq
            }
            // The auditor added in the browser accepts the mailed invitation, then verifies the chain themselves.
            let invitation = try await TestMail.invitationToken(for: Self.auditor, settings)
            #expect(
                try await Self.post(
                    base, "/v1/auth/invitations/accept", #"{"token":"\#(invitation)","password":"\#(Self.password)"}"#)
                    == 204)
            let second = try await Self.browser(
                ["tampered", "--base", base, "--shots", shots, "--org", org], as: Self.auditor)
            #expect((second["broken_seq"] as? Int).map(Int64.init) == seq)

            // A CAFA evaluation made through the API (as the platform admin), then drawn by the console.
            let platform = try await AccessFixture.platformKey(settings).plaintext
            func created(_ path: String, _ body: String, _ type: String) async throws -> String {
                let (status, object) = try await Self.send(base, "/v1/orgs/\(org)\(path)", body, type, bearer: platform)
                #expect((200..<300).contains(status), "\(path): \(status) \(object)")
                return try #require(object["id"] as? String)
            }
            let ontology = try await created("/ontologies", CAFATests.obo, "text/plain")
            let truth = try await created(
                "/annotation-sets?ontology_id=\(ontology)", "P1\tT:0004\nP2\tT:0002\nP3\tT:0101\nP4\tT:0101\n",
                "text/tab-separated-values")
            let predictions = try await created(
                "/prediction-sets?ontology_id=\(ontology)",
                "P1\tT:0004\t0.9\nP1\tT:0003\t0.4\nP2\tT:0002\t0.7\nP2\tT:0004\t0.3\nP3\tT:0101\t0.8\n"
                    + "P4\tT:0100\t0.6\nP4\tT:0101\t0.2\n",
                "text/tab-separated-values")
            let evaluation = try await created(
                "/cafa-evaluations", #"{"prediction_set_id":"\#(predictions)","annotation_set_id":"\#(truth)"}"#,
                "application/json")
            // A dataset of two rows and a run over it, as the walk-through makes them.
            let dataset = try await created("/datasets", #"{"name":"sentiment","fields":["text"]}"#, "application/json")
            _ = try await created(
                "/datasets/\(dataset)/rows",
                #"{"content":{"text":"great"},"expected_prediction":"positive"}"# + "\n"
                    + #"{"content":{"text":"awful"},"expected_prediction":"negative"}"#, "application/x-ndjson")
            let model = try await created("/models", #"{"name":"llama3","source":"ollama"}"#, "application/json")
            let prompt = try await created(
                "/prompts", #"{"name":"sentiment","template":"Sentiment of: {{text}}"}"#, "application/json")
            _ = try await created(
                "/runs", #"{"model_id":"\#(model)","prompt_id":"\#(prompt)","dataset_id":"\#(dataset)"}"#,
                "application/json")
            let third = try await Self.browser(["cafa", "--base", base, "--shots", shots, "--org", org])
            #expect(third["evaluation"] as? String == evaluation)
            #expect(third["curves"] as? Int == 2 && third["fmax_points"] as? Int == 2, "\(third)")

            // Single sign-on: a person new to Tessera signs in to the console through the org's provider (the
            // console's own callback), joins with the provider's role and finds the org listed.
            try await OIDCProvider.with { idp in
                try await idp.configure(#"{"sub":"sso-1","email":"\#(Self.member)","email_verified":true}"#)
                let (status, registered) = try await Self.send(
                    base, "/v1/orgs/\(org)/identity-providers",
                    #"""
                    {"name":"Corp","issuer":"\#(idp.issuer)","client_id":"tessera","client_secret":"tessera-secret",
                     "allowed_domains":["example.test"],"role":"viewer"}
                    """#, "application/json", bearer: platform)
                #expect(status == 201, "\(registered)")
                #expect(registered["console_redirect_uri"] as? String == "\(base)/console/login/oidc/callback")
                let slug = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                    try await $0.query(
                        "SELECT slug FROM organizations WHERE id = \(UUID(uuidString: org)!)",
                        logger: TestDatabase.logger
                    ).collect()[0].decode(String.self)
                }
                let fourth = try await Self.browser(
                    ["sso", "--base", base, "--shots", shots, "--org", slug], as: Self.member)
                #expect(fourth["orgs"] as? [String] == [org], "\(fourth)")
                #expect(fourth["unknown_status"] as? Int == 404)
                let actions = try await settings.database.withConnection(as: .admin, logger: TestDatabase.logger) {
                    try await $0.query(
                        """
                        SELECT action FROM audit_logs WHERE org_id = \(UUID(uuidString: org)!)
                        AND action IN ('member.add', 'identity.link') ORDER BY seq
                        """, logger: TestDatabase.logger
                    ).collect().map { try $0.decode(String.self) }
                }
                #expect(actions.suffix(2).sorted() == ["identity.link", "member.add"], "\(actions)")
            }
        }
    }

    /// Runs the browser script signed in as `person` (the org's creator unless said); its one line of JSON output.
    static func browser(_ arguments: [String], as person: String = email) async throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["python3", "\(TestDatabase.root)/Tests/Browser/console.py"] + arguments + [
                "--email", person, "--password", password,
            ]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let exit = ProcessExit(process)
        try process.run()
        // Both pipes read to their end on threads of their own (a full pipe would stop the script).
        async let out = Self.readAll(output)
        async let err = Self.readAll(errors)
        let (stdout, stderr) = await (out, err)
        let status = await exit.status()
        try #require(status == 0, "console.py \(arguments[0]) failed (\(status)): \(stderr)")
        let line = try #require(stdout.split(separator: "\n").last, "console.py printed nothing")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    static func readAll(_ pipe: Pipe) async -> String {
        await withCheckedContinuation { done in
            Thread.detachNewThread {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                done.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
    }

    static func post(_ base: String, _ path: String, _ body: String) async throws -> Int {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(body.utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? -1
    }

    static func send(_ base: String, _ path: String, _ body: String, _ type: String, bearer: String) async throws
        -> (Int, [String: Any])
    {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = "POST"
        request.setValue(type, forHTTPHeaderField: "Content-Type")
        request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization")
        request.httpBody = Data(body.utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return ((response as? HTTPURLResponse)?.statusCode ?? -1, object)
    }

    static func get(_ base: String, _ path: String, bearer: String) async throws -> Int {
        var request = URLRequest(url: URL(string: base + path)!)
        request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization")
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? -1
    }
}
