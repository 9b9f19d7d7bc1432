import ArgumentParser
import Foundation
import TesseraCore
import TesseraEvaluation

/// `tessera cafaeval`: cafaeval's command — its arguments, its files — run by Tessera's evaluator on local files,
/// with no server and no database.
struct CAFAEval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cafaeval",
        abstract: "Evaluate prediction files against a ground truth as cafaeval does (no server, no database).",
        discussion: """
            Takes cafaeval's arguments (and cafaeval-protea's -known and -toi) and writes its files into -out_dir: \
            evaluation_all.tsv and evaluation_best_<metric>.tsv, one row group per prediction file, named by its \
            path below PRED_DIR. The numbers are those of POST /v1/orgs/{org}/cafa-evaluations on the same files: \
            the files are read by the rules of Tessera's uploads (prediction scores in (0, 1], a line with another \
            number of fields is an error naming it; NOT-qualified annotations left out), and nothing is stored.
            """)

    @Argument(help: "Ontology file, OBO format.")
    var oboFile: String

    @Argument(help: "Predictions directory; sub-folders are read too, and each file is evaluated on its own.")
    var predDir: String

    @Argument(help: "Ground truth file: `target term` lines.")
    var gtFile: String

    @Option(name: .customLong("out_dir", withSingleDash: true), help: "Output directory (made if missing).")
    var outDir = "results"

    @Option(name: .customLong("ia", withSingleDash: true), help: "Information accretion file (`term value` lines).")
    var ia: String?

    @Flag(name: .customLong("no_orphans", withSingleDash: true), help: "Leave terms without parents (the roots) out.")
    var noOrphans = false

    @Option(name: .customLong("norm", withSingleDash: true), help: "Normalization (cafaeval's -norm).")
    var norm: CAFANormalization = .cafa

    @Option(
        name: .customLong("prop", withSingleDash: true), help: "Propagation of prediction scores (cafaeval's -prop).")
    var prop: CAFAPropagation = .max

    @Option(
        name: .customLong("known", withSingleDash: true),
        help: "Known annotations (the ground truth's format), left out of each target's evaluation.")
    var known: String?

    @Option(name: .customLong("toi", withSingleDash: true), help: "Terms of interest: a term id a line.")
    var toi: String?

    @Option(name: .customLong("th_step", withSingleDash: true), help: "Threshold step, 0.001 or more and below 1.")
    var thStep = 0.01

    @Option(
        name: .customLong("max_terms", withSingleDash: true),
        help: "Terms read per target and namespace, in their lines' order.")
    var maxTerms: Int?

    @Option(name: .customLong("threads", withSingleDash: true), help: "Threads (0: every CPU).")
    var threads = 4

    @Option(
        name: .customLong("log_level", withSingleDash: true),
        help: "info prints a progress line a step on standard error; warning, error and critical print none.")
    var logLevel = "info"

    func validate() throws {
        guard thStep >= 0.001, thStep < 1 else { throw ValidationError("-th_step is 0.001 or more and below 1") }
        guard (maxTerms ?? 0) >= 0 else { throw ValidationError("-max_terms is 0 or more") }
        guard threads >= 0 else { throw ValidationError("-threads is 0 or more") }
        guard ["debug", "info", "warning", "error", "critical"].contains(logLevel) else {
            throw ValidationError("-log_level is debug, info, warning, error or critical")
        }
    }

    func run() async throws {
        let start = ContinuousClock.now
        let verbose = logLevel == "debug" || logLevel == "info"
        func progress(_ line: String) {
            guard verbose else { return }
            let seconds = (ContinuousClock.now - start).inSeconds
            FileHandle.standardError.write(Data("cafaeval: \(line) (\(String(format: "%.2f", seconds)) s)\n".utf8))
        }
        let files = try Self.predictionFiles(in: predDir)
        guard !files.isEmpty else { throw FileProblem(path: predDir, message: "holds no file") }
        // The first prediction file is read while the ontology and the truth are; each next one while the one before
        // is evaluated.
        func reading(_ path: String) -> Task<CAFAFiles.Predictions, any Error> {
            Task.detached { try Self.parsed(path, CAFAFiles.predictions) }
        }
        var next: Task<CAFAFiles.Predictions, any Error>? = reading(files[0].path)
        let ontology = try Self.parsed(oboFile, CAFAFiles.ontology)
        let truth = try Self.parsed(gtFile) { try CAFAFiles.annotations($0, ontology: ontology) }
        let knownTable = try known.map { path in
            try Self.parsed(path) { try CAFAFiles.annotations($0, ontology: ontology) }
        }
        let weights = try ia.map { path in
            try Self.parsed(path) { try InformationAccretion.parse(String(decoding: $0, as: UTF8.self)) }
        }
        let terms = try toi.map { try Self.parsed($0, CAFAFiles.termsOfInterest) }
        progress(
            "ontology \(ontology.graphs.map { "\($0.namespace) \($0.count)" }.joined(separator: ", ")) terms; "
                + "\(truth.rows.count) annotations")
        let options = CAFAOptions(
            thresholdStep: thStep, normalization: norm, includeOrphans: !noOrphans,
            threads: threads == 0 ? ProcessInfo.processInfo.activeProcessorCount : threads, propagation: prop,
            maxTerms: maxTerms)
        var results: [(label: String, result: CAFAResult)] = []
        for (i, file) in files.enumerated() {
            guard let pending = next else { break }
            let predictions = try await pending.value
            next = i + 1 < files.count ? reading(files[i + 1].path) : nil
            let result = CAFAEvaluator(ontology: ontology).evaluate(
                truth: truth, predictions: predictions.table, informationAccretion: weights,
                termsOfInterest: terms, known: knownTable, options: options)
            progress(
                "\(file.label): \(predictions.lines) lines; "
                    + (result.namespaces.isEmpty
                        ? "no target of the ground truth, not evaluated"
                        : result.namespaces.map { "\($0.namespace) \($0.predictedTargets) of \($0.targets) targets" }
                            .joined(separator: ", ")))
            if !result.namespaces.isEmpty { results.append((file.label, result)) }
        }
        guard !results.isEmpty else {
            throw FileProblem(path: predDir, message: "no prediction file names a target of the ground truth")
        }
        let written = try write(results)
        progress("wrote \(written.joined(separator: ", ")) to \(outDir)")
    }

    /// A file that cannot be read or does not parse: its path and what is wrong.
    struct FileProblem: Error, CustomStringConvertible {
        let path: String
        let message: String

        var description: String { "\(path): \(message)" }
    }

    /// `parse` of the file's bytes; any error names the file.
    static func parsed<T>(_ path: String, _ parse: ([UInt8]) throws -> T) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileProblem(path: path, message: "cannot be read")
        }
        do {
            return try parse([UInt8](data))
        } catch {
            throw FileProblem(path: path, message: "\(error)")
        }
    }

    /// The files under `directory`, at any depth, in path order, each with cafaeval's name for it (its path below
    /// the directory, `/` made `_`).
    static func predictionFiles(in directory: String) throws -> [(path: String, label: String)] {
        let root = URL(fileURLWithPath: directory).standardizedFileURL.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue,
            let walker = FileManager.default.enumerator(atPath: root)
        else { throw FileProblem(path: directory, message: "is not a readable directory") }
        var files: [(path: String, label: String)] = []
        while let relative = walker.nextObject() as? String {
            let path = root + "/" + relative
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue
            else { continue }
            files.append((path, relative.replacingOccurrences(of: "/", with: "_")))
        }
        return files.sorted { $0.path < $1.path }
    }

    /// cafaeval's files for the results, into `outDir`: every file's rows one after another in `evaluation_all.tsv`,
    /// and in each best file ordered by file name then namespace (pandas' groupby). Answers the names written.
    func write(_ results: [(label: String, result: CAFAResult)]) throws -> [String] {
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        var written: [String] = []
        for file in CAFAExport.File.allCases {
            var header: Substring?
            var rows: [(label: String, lines: [Substring])] = []
            for (label, result) in results {
                guard let text = CAFAExport.tsv(result, file: file, label: label, thresholdStep: thStep) else {
                    continue
                }
                var lines = text.split(separator: "\n")
                guard !lines.isEmpty else { continue }
                let head = lines.removeFirst()
                header = header ?? head
                rows.append((label, lines))
            }
            guard let header else { continue }
            if file != .all { rows.sort { $0.label < $1.label } }
            let text = ([header] + rows.flatMap(\.lines)).joined(separator: "\n") + "\n"
            try text.write(toFile: "\(outDir)/\(file.fileName)", atomically: true, encoding: .utf8)
            written.append(file.fileName)
        }
        return written
    }
}

extension CAFANormalization: ExpressibleByArgument {}
extension CAFAPropagation: ExpressibleByArgument {}
