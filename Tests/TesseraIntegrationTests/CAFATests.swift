import Foundation
import Hummingbird
import HummingbirdTesting
import TesseraPostgres
import Testing

@testable import TesseraCore
@testable import TesseraEvaluation
@testable import TesseraGateway

/// CAFA-style evaluation through the API: ontology snapshots, annotation, prediction and evaluation sets, and
/// results checked against the reference evaluator (the `cafaeval` package, which provisioning/test installs).
@Suite struct CAFATests {
    static let logger = TestDatabase.logger

    struct Created: Decodable { let id: String }
    struct Ontology: Decodable {
        let id, version: String
        let terms, obsolete, edges, alt_ids: Int
        let namespaces: [String: Int]
    }
    struct TermSet: Decodable {
        let id: String
        let lines, entries, targets, unknown_terms: Int
        let excluded_not: Int?
    }
    struct Term: Decodable {
        struct Link: Decodable {
            let term: String
            let relation: String?
        }
        let term: String
        let name: String?
        let alt_ids: [String]
        let parents: [Link]
        let ancestors: [Link]
    }
    struct EvaluationSet: Decodable {
        struct Count: Decodable, Equatable { let targets, annotations: Int }
        let id: String
        let counts: [String: [String: Count]]
    }
    struct Evaluation: Decodable {
        struct Namespace: Decodable {
            struct Best: Decodable {
                struct F: Decodable { let value, tau, cov: Double }
                let f: F?
            }
            let namespace: String
            let targets, predicted_targets: Int
            let best: Best
        }
        let id: String
        let weighted: Bool
        let namespaces: [Namespace]
    }

    static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try JSONDecoder().decode(type, from: Data(buffer: response.body))
    }

    /// Runs a command; its standard output, or nil with the output recorded as an issue when it fails.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // A reference tool that hangs (a forked worker stuck on a lock) fails this test instead of holding the
        // suite: `timeout` stops its whole process group after ten minutes.
        process.arguments = ["timeout", "-k", "10", "600"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: TestDatabase.root)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            Issue.record("\(arguments.joined(separator: " ")) failed: \(text.suffix(3000))")
            return nil
        }
        return text
    }

    static func upload(_ calls: OrgCalls, _ path: String, file: String) async throws -> TestResponse {
        try await calls.post(
            path, String(decoding: try Data(contentsOf: URL(fileURLWithPath: file)), as: UTF8.self),
            contentType: "text/tab-separated-values")
    }

    /// Evaluates through the API and writes the stored result where compare.py reads it; returns compare.py's job
    /// (it runs cafaeval on the same files and checks every number: 1e-4, differences are ~1e-13).
    static func evaluate(
        _ calls: OrgCalls, directory: String, obo: String, gt: String, pred: String, annotations: String, ia: String?,
        step: Double = 0.01, norm: String = "cafa", propagation: String = "max", orphans: Bool = true,
        known: (file: String, set: String)? = nil, toi: String? = nil, maxTerms: Int? = nil
    ) async throws -> [String: Any] {
        let predictions = try decode(
            Created.self,
            try await upload(
                calls,
                "/prediction-sets?ontology_id=\(try ontologyID(calls, obo))&name=\(URL(fileURLWithPath: pred).lastPathComponent)",
                file: pred)
        ).id
        var request: [String: Any] = [
            "prediction_set_id": predictions, "annotation_set_id": annotations, "threshold_step": step,
            "normalization": norm, "propagation": propagation, "include_orphans": orphans,
        ]
        if let ia { request["information_accretion"] = try String(contentsOfFile: ia, encoding: .utf8) }
        if let known { request["known_annotation_set_id"] = known.set }
        if let toi { request["terms_of_interest"] = try String(contentsOfFile: toi, encoding: .utf8) }
        if let maxTerms { request["max_terms"] = maxTerms }
        let created = try await calls.post(
            "/cafa-evaluations", String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self))
        #expect(created.status == .created, "\(String(buffer: created.body).prefix(500))")
        let id = try decode(Created.self, created).id
        let stored = try await calls.get("/cafa-evaluations/\(id)")
        let resultPath = "\(directory)/result-\(id).json"
        try Data(buffer: stored.body).write(to: URL(fileURLWithPath: resultPath))
        // cafaeval's files as Tessera writes them (compare.py checks them against cafaeval's, line by line).
        let exports = "\(directory)/files-\(id)"
        try FileManager.default.createDirectory(atPath: exports, withIntermediateDirectories: true)
        for file in CAFAExport.File.allCases {
            let response = try await calls.get("/cafa-evaluations/\(id)/tsv?file=\(file.rawValue)")
            if response.status == .ok {
                #expect(response.headers[.contentDisposition] == "attachment; filename=\"\(file.fileName)\"")
                try Data(buffer: response.body).write(to: URL(fileURLWithPath: "\(exports)/\(file.fileName)"))
            } else {
                #expect(response.status == .notFound && ia == nil && [.bestFW, .bestFMicroW].contains(file))
            }
        }
        var job: [String: Any] = [
            "obo": obo, "pred": pred, "gt": gt, "result": resultPath, "th_step": step, "norm": norm,
            "prop": propagation, "no_orphans": !orphans,
        ]
        job["exports"] = exports
        if let ia { job["ia"] = ia }
        if let known { job["known"] = known.file }
        if let toi { job["toi"] = toi }
        if let maxTerms { job["max_terms"] = maxTerms }
        return job
    }

    static func ontologyID(_ calls: OrgCalls, _ obo: String) async throws -> String {
        let response = try await calls.post(
            "/ontologies", String(decoding: try Data(contentsOf: URL(fileURLWithPath: obo)), as: UTF8.self),
            contentType: "text/plain")
        #expect(response.status == .ok || response.status == .created)
        return try decode(Created.self, response).id
    }

    /// The folder of cafaeval's example (its ontology, ground truth and five prediction files), from python3's cafaeval.
    static func cafaevalExample() throws -> String {
        let package = try #require(
            try run(["python3", "-c", "import cafaeval, os; print(os.path.dirname(cafaeval.__file__))"]))
        return package.trimmingCharacters(in: .whitespacesAndNewlines) + "/data/example"
    }

    /// An information-accretion file for the terms of `obo` (every third one 0, i.e. left out of the weighted
    /// measures), written in `directory`; its path.
    static func exampleInformationAccretion(_ obo: String, in directory: String) throws -> String {
        let ia = "\(directory)/example-ia.tsv"
        try String(contentsOfFile: obo, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("id: ") }
            .enumerated().map { "\($1.dropFirst(4))\t\(Double($0 % 3) * 0.75)\n" }.joined()
            .write(toFile: ia, atomically: true, encoding: .utf8)
        return ia
    }

    @Test func evaluationsMatchCafaevalOnItsExampleAndOnAGeneratedFixture() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cafa-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let example = try Self.cafaevalExample()
        let (obo, gt) = ("\(example)/IDPO_disorder_function.obo", "\(example)/ground_truth.tsv")
        let ia = try Self.exampleInformationAccretion(obo, in: directory)
        try Self.run([
            "python3", "bench/cafa/generate.py", "\(directory)/generated", "--terms", "2000", "--targets", "300",
            "--predictions", "30000",
            "--seed", "3",
        ])

        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("cafa")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                let ontology = try await Self.ontologyID(calls, obo)
                let truth = try Self.decode(
                    TermSet.self, try await Self.upload(calls, "/annotation-sets?ontology_id=\(ontology)", file: gt))
                #expect(truth.entries == 180 && truth.unknown_terms == 0)
                var jobs: [[String: Any]] = []
                for k in 1...5 {
                    jobs.append(
                        try await Self.evaluate(
                            calls, directory: directory, obo: obo, gt: gt, pred: "\(example)/predictions/pred_\(k).tsv",
                            annotations: truth.id, ia: ia))
                }
                jobs.append(
                    try await Self.evaluate(
                        calls, directory: directory, obo: obo, gt: gt, pred: "\(example)/predictions/pred_2.tsv",
                        annotations: truth.id,
                        ia: nil))

                // Three namespaces, alternative ids, obsolete and unknown terms, part_of edges, duplicates.
                let g = "\(directory)/generated"
                let generated = try await Self.ontologyID(calls, "\(g)/ontology.obo")
                let generatedTruth = try Self.decode(
                    TermSet.self,
                    try await Self.upload(
                        calls, "/annotation-sets?ontology_id=\(generated)", file: "\(g)/ground_truth.tsv"))
                #expect(generatedTruth.unknown_terms > 0)
                for (step, norm) in [(0.01, "cafa"), (0.05, "gt")] {
                    jobs.append(
                        try await Self.evaluate(
                            calls, directory: directory, obo: "\(g)/ontology.obo", gt: "\(g)/ground_truth.tsv",
                            pred: "\(g)/predictions/predictions.tsv",
                            annotations: generatedTruth.id, ia: "\(g)/ia.tsv", step: step, norm: norm))
                }
                // cafaeval's -prop fill (a predicted term keeps its score), alone and with -no_orphans and weights.
                for k in [1, 3] {
                    jobs.append(
                        try await Self.evaluate(
                            calls, directory: directory, obo: obo, gt: gt, pred: "\(example)/predictions/pred_\(k).tsv",
                            annotations: truth.id, ia: ia, propagation: "fill"))
                }
                for orphans in [true, false] {
                    jobs.append(
                        try await Self.evaluate(
                            calls, directory: directory, obo: "\(g)/ontology.obo", gt: "\(g)/ground_truth.tsv",
                            pred: "\(g)/predictions/predictions.tsv", annotations: generatedTruth.id,
                            ia: orphans ? nil : "\(g)/ia.tsv", propagation: "fill", orphans: orphans))
                }
                // -max_terms: a target's first terms in its lines' order (on this example both tools agree; on files
                // where a kept term comes again later with a higher score, cafaeval ignores that line once the
                // target is full and cafaeval-protea does not — Tessera counts as cafaeval-protea, below).
                for (k, maxTerms) in [(1, 1), (3, 4)] {
                    jobs.append(
                        try await Self.evaluate(
                            calls, directory: directory, obo: obo, gt: gt, pred: "\(example)/predictions/pred_\(k).tsv",
                            annotations: truth.id, ia: ia, maxTerms: maxTerms))
                }
                // One Python process compares all fourteen with cafaeval, to 1e-9.
                try JSONSerialization.data(withJSONObject: jobs).write(
                    to: URL(fileURLWithPath: "\(directory)/jobs.json"))
                let report = try Self.run(["python3", "bench/cafa/compare.py", "--batch", "\(directory)/jobs.json"])
                #expect(report?.contains("RESULT: OK (0 of 14 jobs failed)") == true, "\(report ?? "")")
            }
        }
    }

    /// The Python of the virtual environment holding cafaeval-protea (it shares the module name `cafaeval` with
    /// cafaeval, so provisioning/test installs it apart: `.data/venv-cafaeval-protea`).
    static var proteaPython: String {
        ProcessInfo.processInfo.environment["TESSERA_CAFAEVAL_PROTEA_PYTHON"]
            ?? "\(TestDatabase.root)/.data/venv-cafaeval-protea/bin/python"
    }

    /// Files for the options only cafaeval-protea has (bench/cafa/options.py): known annotations and terms of interest
    /// for cafaeval's example in `<directory>/example`, and a generated fixture (`seed`) with its own in
    /// `<directory>/generated`, whose path is answered.
    static func optionFixtures(_ directory: String, example: (obo: String, gt: String), seed: Int) throws -> String {
        let g = "\(directory)/generated"
        try run([
            "python3", "bench/cafa/generate.py", g, "--terms", "2000", "--targets", "300", "--predictions", "30000",
            "--seed", "\(seed)",
        ])
        try run(["python3", "bench/cafa/options.py", example.obo, example.gt, "\(directory)/example", "--seed", "2"])
        try run([
            "python3", "bench/cafa/options.py", "\(g)/ontology.obo", "\(g)/ground_truth.tsv", g, "--seed", "4",
            "--predictions", "\(g)/predictions/predictions.tsv",
        ])
        return g
    }

    /// The options only cafaeval-protea has — known annotations excluded per target (the partial-knowledge
    /// protocol) and terms of interest —, alone and combined with weights, `-no_orphans` and `-prop fill`, on
    /// cafaeval's example and on a generated fixture, each compared with cafaeval-protea itself to 1e-9.
    @Test func knownAnnotationsAndTermsOfInterestMatchCafaevalProtea() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.proteaPython),
            "no cafaeval-protea at \(Self.proteaPython): provisioning/test installs it")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-protea-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let package = try #require(
            try Self.run([Self.proteaPython, "-c", "import cafaeval, os; print(os.path.dirname(cafaeval.__file__))"]))
        // cafaeval-protea ships no example data: cafaeval's, from the main Python.
        let cafaevalPackage = try #require(
            try Self.run(["python3", "-c", "import cafaeval, os; print(os.path.dirname(cafaeval.__file__))"]))
        #expect(package != cafaevalPackage, "cafaeval-protea must not be the cafaeval of python3")
        let example = cafaevalPackage.trimmingCharacters(in: .whitespacesAndNewlines) + "/data/example"
        let obo = "\(example)/IDPO_disorder_function.obo"
        let gt = "\(example)/ground_truth.tsv"
        let g = try Self.optionFixtures(directory, example: (obo, gt), seed: 5)

        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("cafa-protea")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                func annotations(_ ontology: String, _ file: String) async throws -> String {
                    try Self.decode(
                        TermSet.self,
                        try await Self.upload(calls, "/annotation-sets?ontology_id=\(ontology)", file: file)
                    ).id
                }
                let ontology = try await Self.ontologyID(calls, obo)
                let truth = try await annotations(ontology, gt)
                let known = (
                    "\(directory)/example/known.tsv", try await annotations(ontology, "\(directory)/example/known.tsv")
                )
                let toi = "\(directory)/example/toi.tsv"
                var jobs: [[String: Any]] = []
                for k in 1...3 {
                    let pred = "\(example)/predictions/pred_\(k).tsv"
                    jobs.append(
                        try await Self.evaluate(
                            calls, directory: directory, obo: obo, gt: gt, pred: pred, annotations: truth, ia: nil,
                            known: known))
                    jobs.append(
                        try await Self.evaluate(
                            calls, directory: directory, obo: obo, gt: gt, pred: pred, annotations: truth, ia: nil,
                            toi: toi))
                }
                let generated = try await Self.ontologyID(calls, "\(g)/ontology.obo")
                let generatedTruth = try await annotations(generated, "\(g)/ground_truth.tsv")
                let generatedKnown = ("\(g)/known.tsv", try await annotations(generated, "\(g)/known.tsv"))
                let pred = "\(g)/predictions/predictions.tsv"
                func generatedJob(
                    ia: Bool, known: Bool, toi: Bool, orphans: Bool = true, propagation: String = "max",
                    maxTerms: Int? = nil
                ) async throws -> [String: Any] {
                    // Under -max_terms, lines naming an alternative id of several terms are left out: both tools
                    // expand it in a Python set's order, which changes from one run to the next (options.py).
                    try await Self.evaluate(
                        calls, directory: directory, obo: "\(g)/ontology.obo", gt: "\(g)/ground_truth.tsv",
                        pred: maxTerms == nil ? pred : "\(g)/predictions-unambiguous.tsv",
                        annotations: generatedTruth, ia: ia ? "\(g)/ia.tsv" : nil, propagation: propagation,
                        orphans: orphans, known: known ? generatedKnown : nil, toi: toi ? "\(g)/toi.tsv" : nil,
                        maxTerms: maxTerms)
                }
                jobs.append(try await generatedJob(ia: true, known: true, toi: false))
                jobs.append(try await generatedJob(ia: true, known: false, toi: true))
                jobs.append(try await generatedJob(ia: true, known: true, toi: true, orphans: false))
                jobs.append(try await generatedJob(ia: false, known: true, toi: true, propagation: "fill"))
                // -max_terms (its duplicates: a kept term's later, higher score counts), alone and with the rest.
                jobs.append(try await generatedJob(ia: true, known: false, toi: false, maxTerms: 4))
                jobs.append(try await generatedJob(ia: true, known: true, toi: true, maxTerms: 2))
                try JSONSerialization.data(withJSONObject: jobs).write(
                    to: URL(fileURLWithPath: "\(directory)/jobs.json"))
                let report = try Self.run([
                    Self.proteaPython, "bench/cafa/compare.py", "--batch", "\(directory)/jobs.json",
                ])
                #expect(report?.contains("RESULT: OK (0 of 12 jobs failed)") == true, "\(report ?? "")")

                // What cannot be evaluated is refused before anything runs.
                let bad = try await calls.post(
                    "/cafa-evaluations",
                    #"{"prediction_set_id":"\#(UUID())","annotation_set_id":"\#(truth)","terms_of_interest":"\n \n"}"#)
                #expect(bad.status == .unprocessableContent)
                #expect(String(buffer: bad.body).contains("terms_of_interest names no term"))
            }
        }
    }

    /// `tessera cafaeval` (cafaeval's command, run on files with no server): the files it writes are those cafaeval
    /// writes for the same arguments — every file of a prediction directory, weights, `-prop fill`, `-no_orphans`,
    /// `-norm`, `-th_step` — and those cafaeval-protea writes with `-known`, `-toi` and `-max_terms`; a bad line is
    /// refused by file and line, and nothing is written.
    @Test func theCommandLineEvaluatorWritesWhatCafaevalWrites() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cli-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let example = try Self.cafaevalExample()
        let (obo, gt) = ("\(example)/IDPO_disorder_function.obo", "\(example)/ground_truth.tsv")
        let ia = try Self.exampleInformationAccretion(obo, in: directory)
        let g = try Self.optionFixtures(directory, example: (obo, gt), seed: 7)
        // -max_terms reads lines that name no alternative id of several terms (options.py says why), alone in a folder.
        try FileManager.default.createDirectory(atPath: "\(g)/unambiguous", withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: "\(g)/predictions-unambiguous.tsv", toPath: "\(g)/unambiguous/predictions-unambiguous.tsv")

        var count = 0
        /// Runs `tessera cafaeval` with `arguments` into a folder of its own; compare.py's job for the same run.
        func job(_ obo: String, _ predictions: String, _ gt: String, _ options: [String: Any]) throws -> [String: Any] {
            count += 1
            let out = "\(directory)/out-\(count)"
            var arguments = [obo, predictions, gt, "-out_dir", out, "-threads", "2", "-log_level", "warning"]
            for (name, value) in options.sorted(by: { $0.key < $1.key }) {
                arguments += value as? Bool == true ? ["-\(name)"] : ["-\(name)", "\(value)"]
            }
            try Self.run(["\(TestDatabase.root)/.build/debug/tessera", "cafaeval"] + arguments)
            return ["obo": obo, "pred": predictions, "gt": gt, "exports": out].merging(options) { $1 }
        }
        let reference = [
            try job(obo, "\(example)/predictions", gt, ["ia": ia]),
            try job(
                "\(g)/ontology.obo", "\(g)/predictions", "\(g)/ground_truth.tsv",
                ["ia": "\(g)/ia.tsv", "prop": "fill", "no_orphans": true, "norm": "gt", "th_step": 0.05]),
        ]
        let protea = [
            try job(
                obo, "\(example)/predictions", gt,
                ["known": "\(directory)/example/known.tsv", "toi": "\(directory)/example/toi.tsv"]),
            try job(
                "\(g)/ontology.obo", "\(g)/unambiguous", "\(g)/ground_truth.tsv",
                ["ia": "\(g)/ia.tsv", "known": "\(g)/known.tsv", "toi": "\(g)/toi.tsv", "max_terms": 2]),
        ]
        for (python, jobs) in [("python3", reference), (Self.proteaPython, protea)] {
            try JSONSerialization.data(withJSONObject: jobs).write(to: URL(fileURLWithPath: "\(directory)/jobs.json"))
            let report = try Self.run([python, "bench/cafa/compare.py", "--batch", "\(directory)/jobs.json"])
            #expect(report?.contains("RESULT: OK (0 of 2 jobs failed)") == true, "\(python): \(report ?? "")")
        }

        // A score out of (0, 1]: refused by file and line, no folder made.
        try FileManager.default.createDirectory(atPath: "\(directory)/bad", withIntermediateDirectories: true)
        try "P1 IDPO:00001 0.5\nP1 IDPO:00002 1.5\n".write(
            toFile: "\(directory)/bad/run.tsv", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(TestDatabase.root)/.build/debug/tessera")
        process.arguments = ["cafaeval", obo, "\(directory)/bad", gt, "-out_dir", "\(directory)/bad-out"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(message.contains("run.tsv: line 2: the score '1.5' is not a number in (0, 1]"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/bad-out"))
    }

    static let obo = """
        format-version: 1.2
        data-version: test/2026-01-01

        [Term]
        id: T:0001
        name: root bp
        namespace: biological_process
        def: "The root." [GOC:x]

        [Term]
        id: T:0002
        name: child
        namespace: biological_process
        alt_id: T:0092
        is_a: T:0001 ! root bp

        [Term]
        id: T:0003
        name: part
        namespace: biological_process
        relationship: part_of T:0002 ! child

        [Term]
        id: T:0004
        name: grandchild
        namespace: biological_process
        is_a: T:0002
        is_a: T:0003

        [Term]
        id: T:0100
        name: root mf
        namespace: molecular_function

        [Term]
        id: T:0101
        name: mf child
        namespace: molecular_function
        is_a: T:0100

        [Term]
        id: T:0999
        name: old
        namespace: biological_process
        is_obsolete: true

        [Typedef]
        id: part_of
        name: part of

        """

    @Test func snapshotsSetsAndTheCAFASplit() async throws {
        try await TenantEnv.with { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let org = try await env.provisioned("cafa-sets")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.router) { client in
                let calls = OrgCalls(client: client, org: org, key: platform)
                // A snapshot: counts, version; the same version again is a no-op, even with other content.
                let first = try await calls.post("/ontologies", Self.obo, contentType: "text/plain")
                #expect(first.status == .created, "\(String(buffer: first.body))")
                let ontology = try Self.decode(Ontology.self, first)
                #expect(ontology.version == "1.2/test/2026-01-01" && ontology.terms == 7 && ontology.obsolete == 1)
                #expect(
                    ontology.edges == 5 && ontology.alt_ids == 1
                        && ontology.namespaces == ["biological_process": 4, "molecular_function": 2])
                let again = try await calls.post(
                    "/ontologies", Self.obo + "\n[Term]\nid: T:0555\nnamespace: biological_process\n",
                    contentType: "text/plain")
                let againID = try Self.decode(Ontology.self, again).id
                #expect(again.status == .ok && againID == ontology.id)
                // Ancestors come from the stored edges (is_a and part_of); an alternative id finds its term.
                let term = try Self.decode(Term.self, try await calls.get("/ontologies/\(ontology.id)/terms/T:0004"))
                #expect(
                    term.ancestors.map(\.term) == ["T:0001", "T:0002", "T:0003"]
                        && term.parents.map(\.term) == ["T:0002", "T:0003"])
                let alt = try Self.decode(Term.self, try await calls.get("/ontologies/\(ontology.id)/terms/T:0092"))
                #expect(alt.term == "T:0002" && alt.alt_ids == ["T:0092"] && alt.ancestors.map(\.term) == ["T:0001"])
                let part = try Self.decode(Term.self, try await calls.get("/ontologies/\(ontology.id)/terms/T:0003"))
                #expect(
                    part.parents.first?.relation == "part_of" && part.ancestors.map(\.term) == ["T:0001", "T:0002"])
                #expect(try await calls.get("/ontologies/\(ontology.id)/terms/T:4040").status == .notFound)
                // A cycle, or a stanza without an id: 422, nothing stored.
                let cycle =
                    "format-version: 1.2\ndata-version: c\n\n[Term]\nid: A:1\nnamespace: n\nis_a: A:2\n\n[Term]\nid: A:2\nnamespace: n\nis_a: A:1\n"
                #expect(
                    try await calls.post("/ontologies", cycle, contentType: "text/plain").status
                        == .unprocessableContent)
                #expect(
                    try await calls.post("/ontologies", "[Term]\nname: x\n", contentType: "text/plain").status
                        == .unprocessableContent)
                struct List: Decodable { let items: [Created] }
                #expect(try Self.decode(List.self, try await calls.get("/ontologies")).items.map(\.id) == [ontology.id])

                // Annotation sets: NOT-qualified and unknown terms left out and counted.
                let oldText =
                    "P1\tT:0004\tIDA\nP2\tT:0101\tEXP\nP3\tT:0002\tIDA\tNOT|involved_in\nP3\tT:0101\tIMP\nP6\tT:0002\tIDA\nP9\tX:0000\tIDA\n"
                let old = try Self.decode(
                    TermSet.self,
                    try await calls.post(
                        "/annotation-sets?ontology_id=\(ontology.id)&name=old", oldText,
                        contentType: "text/tab-separated-values"))
                #expect(
                    old.lines == 6 && old.entries == 4 && old.excluded_not == 1 && old.unknown_terms == 1
                        && old.targets == 4)
                let newText = """
                    # a comment
                    P1\tT:0004
                    P1\tT:0101
                    P2\tT:0101
                    P2\tT:0003
                    P3\tT:0101
                    P3\tT:0100
                    P4\tT:0092
                    P6\tT:0002
                    P6\tT:0004
                    P5\tT:0101\tIDA\tNOT
                    """
                let new = try Self.decode(
                    TermSet.self,
                    try await calls.post(
                        "/annotation-sets?ontology_id=\(ontology.id)&name=new", newText, contentType: "text/plain"))
                #expect(new.entries == 9 && new.excluded_not == 1)
                // NK: P4 (nothing before); LK: P1 in mf, P2 in bp (known only elsewhere); PK: P6 gains T:0004 in bp
                // (P3's T:0100 is an ancestor of what it had: nothing gained).
                let split = try await calls.post(
                    "/evaluation-sets", #"{"old_annotation_set_id":"\#(old.id)","new_annotation_set_id":"\#(new.id)"}"#)
                #expect(split.status == .created, "\(String(buffer: split.body))")
                let set = try Self.decode(EvaluationSet.self, split)
                let one = EvaluationSet.Count(targets: 1, annotations: 1)
                #expect(
                    set.counts["NK"]?["biological_process"] == one
                        && set.counts["NK"]?["molecular_function"].map(\.targets) ?? 0 == 0)
                #expect(
                    set.counts["LK"]?["molecular_function"] == one && set.counts["LK"]?["biological_process"] == one)
                #expect(
                    set.counts["PK"]?["biological_process"] == one
                        && set.counts["PK"]?["molecular_function"].map(\.targets) ?? 0 == 0)
                // One set per pair: asking again (another name or none) answers the same set, 200, and lists one.
                let asked = try await calls.post(
                    "/evaluation-sets",
                    #"{"old_annotation_set_id":"\#(old.id)","new_annotation_set_id":"\#(new.id)","name":"again"}"#)
                #expect(asked.status == .ok)
                #expect(try Self.decode(EvaluationSet.self, asked).id == set.id)
                #expect(try Self.decode(List.self, try await calls.get("/evaluation-sets")).items.map(\.id) == [set.id])
                let reversed = try await calls.post(
                    "/evaluation-sets", #"{"old_annotation_set_id":"\#(new.id)","new_annotation_set_id":"\#(old.id)"}"#)
                #expect(reversed.status == .created)
                struct Paged: Decodable {
                    let items: [Created]
                    let next_cursor: String?
                }
                let firstPage = try Self.decode(Paged.self, try await calls.get("/evaluation-sets?limit=1"))
                #expect(firstPage.items.map(\.id) == [set.id])
                let secondPage = try Self.decode(
                    Paged.self,
                    try await calls.get("/evaluation-sets?limit=1&cursor=\(try #require(firstPage.next_cursor))"))
                #expect(secondPage.items.map(\.id) == [try Self.decode(EvaluationSet.self, reversed).id])
                #expect(secondPage.next_cursor == nil)
                #expect(try await calls.get("/evaluation-sets?cursor=nope").status == .badRequest)

                // Predictions: a bad line refuses the whole file; CAFA headers are skipped.
                let bad = try await calls.post(
                    "/prediction-sets?ontology_id=\(ontology.id)", "P4\tT:0002\t0.9\nP4\tT:0001\t1.5\n",
                    contentType: "text/plain")
                #expect(bad.status == .unprocessableContent && String(buffer: bad.body).contains("line 2"))
                #expect(try Self.decode(List.self, try await calls.get("/prediction-sets")).items.isEmpty)
                // Annotations are checked whole before a row is written: a bad line past the first spooled chunk
                // (4 MiB) refuses the file, and no set appears.
                let sets = try Self.decode(List.self, try await calls.get("/annotation-sets")).items.count
                let late = try await calls.post(
                    "/annotation-sets?ontology_id=\(ontology.id)",
                    String(repeating: "P1\tT:0002\n", count: 450_000) + "P2\n", contentType: "text/plain")
                #expect(late.status == .unprocessableContent && String(buffer: late.body).contains("line 450001"))
                #expect(try Self.decode(List.self, try await calls.get("/annotation-sets")).items.count == sets)
                let predictionText =
                    "AUTHOR tessera\nMODEL 1\nKEYWORDS none.\nP4\tT:0002\t0.9\nP4\tT:0002\t0.4\nP4\tT:0101\t0.4\nP6\tT:0004\t0.7\nP6\tT:0001\t0.2\nX\tT:0001\t1\nEND\n"
                let predictions = try Self.decode(
                    TermSet.self,
                    try await calls.post(
                        "/prediction-sets?ontology_id=\(ontology.id)", predictionText, contentType: "text/plain"))
                #expect(predictions.lines == 6 && predictions.entries == 5 && predictions.targets == 3)

                // NK: P4's truth {T:0002} propagates to {T:0001, T:0002}, predicted at 0.9 with its ancestor: F 1 from tau 0.01.
                let nk = try await calls.post(
                    "/cafa-evaluations",
                    #"{"prediction_set_id":"\#(predictions.id)","evaluation_set_id":"\#(set.id)","category":"NK"}"#)
                #expect(nk.status == .created, "\(String(buffer: nk.body))")
                let result = try Self.decode(Evaluation.self, nk)
                #expect(result.namespaces.map(\.namespace) == ["biological_process"] && !result.weighted)
                let f = try #require(result.namespaces.first?.best.f)
                #expect(f.value == 1 && f.tau == 0.01 && f.cov == 1)
                // PK: P6 must find T:0004 (0.7): F 1 up to 0.7.
                let pk = try Self.decode(
                    Evaluation.self,
                    try await calls.post(
                        "/cafa-evaluations",
                        #"{"prediction_set_id":"\#(predictions.id)","evaluation_set_id":"\#(set.id)","category":"PK"}"#
                    ))
                #expect(pk.namespaces.first?.best.f?.value == 1)

                // Bad requests: 422, nothing stored.
                for body in [
                    #"{"prediction_set_id":"\#(predictions.id)","evaluation_set_id":"\#(set.id)"}"#,
                    #"{"prediction_set_id":"\#(predictions.id)"}"#,
                    #"{"prediction_set_id":"\#(UUID())","annotation_set_id":"\#(old.id)"}"#,
                    #"{"prediction_set_id":"\#(predictions.id)","annotation_set_id":"\#(old.id)","threshold_step":0}"#,
                    #"{"prediction_set_id":"\#(predictions.id)","annotation_set_id":"\#(old.id)","information_accretion":"T:0001"}"#,
                ] {
                    #expect(try await calls.post("/cafa-evaluations", body).status == .unprocessableContent, "\(body)")
                }
                #expect(try Self.decode(List.self, try await calls.get("/cafa-evaluations")).items.count == 2)
                #expect(try await calls.get("/cafa-evaluations/\(UUID())").status == .notFound)

                // Deleting a snapshot: refused while anything names it (409 naming what) or while an annotation set
                // of it is being stored (which holds the snapshot's lock); an unused one goes with its terms, audited.
                let inUse = try await calls.send(.delete, "/ontologies/\(ontology.id)")
                #expect(
                    inUse.status == .conflict
                        && String(buffer: inUse.body).contains(
                            "used by 2 annotation sets, 1 prediction set, 2 evaluation sets, 2 CAFA evaluations"),
                    "\(String(buffer: inUse.body))")
                let spare = try Self.decode(
                    Ontology.self,
                    try await calls.post(
                        "/ontologies", Self.obo.replacingOccurrences(of: "test/2026-01-01", with: "test/spare"),
                        contentType: "text/plain"))
                #expect(spare.id != ontology.id)
                try await env.holdingSharedLock(org, AdvisoryLock.ontologyUse, on: spare.id) {
                    let busy = try await calls.send(.delete, "/ontologies/\(spare.id)")
                    #expect(busy.status == .conflict && String(buffer: busy.body).contains("being stored"))
                }
                let (placement, server, password) = try await env.placement(org)
                #expect(try await calls.send(.delete, "/ontologies/\(spare.id)").status == .noContent)
                #expect(try await calls.get("/ontologies/\(spare.id)").status == .notFound)
                #expect(try await calls.get("/ontologies/\(spare.id)/terms/T:0004").status == .notFound)
                #expect(try await calls.send(.delete, "/ontologies/\(spare.id)").status == .notFound)
                #expect(try await calls.send(.delete, "/ontologies/\(UUID())").status == .notFound)
                let leftOver = try await server.withOrgConnection(
                    placement.name, password: password, logger: Self.logger
                ) { connection in
                    try await connection.query(
                        """
                        SELECT (SELECT count(*) FROM ontology_terms WHERE ontology_id = \(spare.id)::uuid)
                             + (SELECT count(*) FROM ontology_edges WHERE ontology_id = \(spare.id)::uuid)
                             + (SELECT count(*) FROM ontology_alt_ids WHERE ontology_id = \(spare.id)::uuid)
                        """, logger: Self.logger
                    ).collect()[0].decode(Int.self)
                }
                #expect(leftOver == 0)
                #expect(try await calls.get("/ontologies/\(ontology.id)").status == .ok)

                // Written once, even for the org's own role; every write audited.
                for table in ["ontologies", "cafa_evaluations", "prediction_sets"] {
                    await #expect(throws: (any Error).self) {
                        try await server.withOrgConnection(placement.name, password: password, logger: Self.logger) {
                            try await $0.query("UPDATE \(unescaped: table) SET created_at = now()", logger: Self.logger)
                        }
                    }
                }
                try await waitUntil(timeout: .seconds(5)) {
                    let actions = try await env.client.withConnection { connection in
                        try await connection.query(
                            "SELECT action FROM audit_logs WHERE org_id = \(org)", logger: Self.logger
                        )
                        .collect().map { try $0.decode(String.self) }
                    }
                    // Two evaluation sets: the pair asked for again wrote nothing.
                    let expected = [
                        "ontology.create": 2, "ontology.delete": 1, "annotation_set.create": 2,
                        "evaluation_set.create": 2,
                        "prediction_set.create": 1,
                        "cafa_evaluation.create": 2,
                    ]
                    return expected.allSatisfy { action, count in actions.filter { $0 == action }.count == count }
                }
            }
        }
    }
}
