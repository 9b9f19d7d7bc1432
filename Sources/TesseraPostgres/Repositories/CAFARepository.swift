import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraEvaluation

/// A stored ontology snapshot.
public struct OntologyRecord: Sendable, Equatable {
    public let id: UUID
    public let version: String
    public let formatVersion: String?
    public let dataVersion: String?
    public let terms: Int
    public let obsolete: Int
    public let edges: Int
    public let altIDs: Int
    /// Terms (not obsolete) per namespace.
    public let namespaces: [String: Int]
    public let createdAt: Date
}

/// One term of a snapshot with its ancestors (through is_a and part_of, computed from the stored edges).
public struct OntologyTermRecord: Sendable, Equatable {
    public struct Ancestor: Sendable, Equatable {
        public let term: String
        public let name: String?
        public let namespace: String?
    }
    public let term: String
    public let namespace: String?
    public let name: String?
    public let definition: String?
    public let obsolete: Bool
    public let altIDs: [String]
    public let parents: [(term: String, relation: String)]
    public let ancestors: [Ancestor]

    public static func == (a: Self, b: Self) -> Bool {
        a.term == b.term && a.ancestors == b.ancestors && a.parents.map(\.term) == b.parents.map(\.term)
    }
}

/// CAFA-style evaluation data of one org, in its own database: ontology snapshots, annotation and prediction
/// sets, evaluation sets and results. Everything is written once.
public struct CAFARepository: Sendable {
    public let org: UUID
    let databases: TenantDatabases
    let logger: Logger

    public init(org: UUID, databases: TenantDatabases, logger: Logger) {
        self.org = org
        self.databases = databases
        self.logger = logger
    }

    static let ontologyColumns =
        "id, version, format_version, data_version, terms, obsolete, edges, alt_ids, namespaces::text, created_at"

    /// Stores the snapshot, or returns the one stored with the same version (`created` false, nothing written).
    public func storeOntology(_ upload: OntologyUpload, createdBy: UUID?, audit: AuditEvent) async throws -> (
        record: OntologyRecord, created: Bool
    ) {
        let (document, sha256, version) = (upload.document, upload.sha256, upload.version)
        if let existing = try await ontology(version: version) { return (existing, false) }
        var namespaces: [String: Int] = [:]
        for term in document.terms where !term.isObsolete { namespaces[term.namespace ?? "", default: 0] += 1 }
        let namespacesText = try JSONText.encode(namespaces)
        let obsolete = document.terms.filter(\.isObsolete).count
        let edges = document.terms.reduce(0) { $0 + Set($1.isA).count + Set($1.partOf).count }
        let altIDs = document.terms.reduce(0) { $0 + Set($1.altIds).count }
        let record = try await databases.audited(org: org, audit, logger: logger) {
            [logger] tx -> (OntologyRecord, String)? in
            // Two uploads of one version at once: the second waits here and then finds the first.
            let inserted = try await tx.sql(
                """
                INSERT INTO ontologies (version, format_version, data_version, content_sha256, terms, obsolete, edges, alt_ids, namespaces,
                                        created_by)
                VALUES (\(version), \(document.formatVersion), \(document.dataVersion), \(ByteBuffer(bytes: sha256)), \(document.terms.count), \(obsolete),
                        \(edges), \(altIDs), \(namespacesText)::jsonb, \(createdBy))
                ON CONFLICT (version) DO NOTHING RETURNING \(unescaped: Self.ontologyColumns)
                """, logger: logger
            ).collect()
            guard let row = inserted.first else { return nil }
            let record = try Self.ontology(row)
            try await Self.copyTerms(document, ontology: record.id, on: tx, logger: logger)
            return (record, record.id.uuidString.lowercased())
        }
        if let record { return (record, true) }
        guard let existing = try await ontology(version: version) else { throw TesseraError.internalError }
        return (existing, false)
    }

    static func copyTerms(_ document: OBODocument, ontology: UUID, on tx: PostgresConnection, logger: Logger)
        async throws
    {
        let id = ontology.uuidString.lowercased()
        try await copy(
            table: "ontology_terms",
            columns: ["ontology_id", "position", "term", "namespace", "name", "definition", "obsolete"],
            on: tx, logger: logger
        ) { line in
            for (position, term) in document.terms.enumerated() {
                line([
                    id, String(position), term.id, term.namespace, term.name, term.definition,
                    term.isObsolete ? "t" : "f",
                ])
            }
        }
        try await copy(
            table: "ontology_edges", columns: ["ontology_id", "child", "parent", "relation"], on: tx, logger: logger
        ) { line in
            for term in document.terms {
                for parent in Set(term.isA) { line([id, term.id, parent, "is_a"]) }
                for parent in Set(term.partOf) { line([id, term.id, parent, "part_of"]) }
            }
        }
        try await copy(table: "ontology_alt_ids", columns: ["ontology_id", "alt_id", "term"], on: tx, logger: logger) {
            line in
            for term in document.terms {
                for alt in Set(term.altIds) { line([id, alt, term.id]) }
            }
        }
    }

    /// `COPY table (columns) FROM STDIN` of the rows `produce` gives (nil is NULL), sent 1 MiB at a time. The rows
    /// are written on a task of their own while the server reads what came before, so making the text and parsing it
    /// take the two cores at once instead of one after the other; should the COPY fail, the rows still to come are
    /// passed over.
    static func copy(
        table: String, columns: [String], on connection: PostgresConnection, logger: Logger,
        _ produce: @escaping @Sendable (_ line: (([String?]) -> Void)) -> Void
    ) async throws {
        let (chunks, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        let producer = Task {
            var buffer = ByteBuffer()
            var open = true
            produce { fields in
                guard open else { return }
                CopyText.appendRow(fields, to: &buffer)
                if buffer.readableBytes >= 1 << 20 {
                    if case .terminated = continuation.yield(buffer) { open = false }
                    if Task.isCancelled { open = false }
                    buffer = ByteBuffer()
                }
            }
            if open, buffer.readableBytes > 0 { continuation.yield(buffer) }
            continuation.finish()
        }
        defer { producer.cancel() }
        try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
            for await chunk in chunks { try await writer.write(chunk) }
        }
    }

    /// COPY of rows that come in batches (nil at the end), sent on a MiB at a time as they come.
    static func copy(
        table: String, columns: [String], on connection: PostgresConnection, logger: Logger,
        batches: () async throws -> [[String?]]?
    ) async throws {
        try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
            var buffer = ByteBuffer()
            while let rows = try await batches() {
                for fields in rows { CopyText.appendRow(fields, to: &buffer) }
                if buffer.readableBytes >= 1 << 20 {
                    try await writer.write(buffer)
                    buffer = ByteBuffer()
                }
            }
            if buffer.readableBytes > 0 { try await writer.write(buffer) }
        }
    }

    public func ontology(_ id: UUID) async throws -> OntologyRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT \(unescaped: Self.ontologyColumns) FROM ontologies WHERE id = \(id)", logger: logger
            )
            .collect().first.map(Self.ontology)
        }
    }

    func ontology(version: String) async throws -> OntologyRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            try await connection.sql(
                "SELECT \(unescaped: Self.ontologyColumns) FROM ontologies WHERE version = \(version)", logger: logger
            )
            .collect().first.map(Self.ontology)
        }
    }

    public enum OntologyDeleteOutcome: Sendable, Equatable {
        case deleted
        case notFound
        /// A request in progress is storing a set of this snapshot.
        case busy
        /// What names the snapshot: "2 annotation sets", "1 prediction set", … (only kinds with any).
        case usedBy([String])
    }

    /// Deletes the snapshot `id` with its terms, edges and alternative ids, unless an annotation, prediction or
    /// evaluation set or a CAFA evaluation names it; with its audit record in the same transaction. Storing a set
    /// holds the snapshot's `ontologyUse` lock shared for its whole transaction; the deletion tries it exclusively
    /// without waiting, and a set being stored is reported as `busy` rather than waited for (an upload can take
    /// minutes). Evaluation sets and CAFA evaluations are made from sets, which already keep the snapshot.
    public func deleteOntology(_ id: UUID, by actor: AuditActor) async throws -> OntologyDeleteOutcome {
        try await databases.change(org: org, logger: logger) { [logger] tx, trail in
            guard
                try await tx.sql(
                    "SELECT pg_try_advisory_xact_lock(\(AdvisoryLock.ontologyUse), hashtext(\(id)::text))",
                    logger: logger
                ).collect()[0].decode(Bool.self)
            else { return .busy }
            guard
                let version = try await tx.sql("SELECT version FROM ontologies WHERE id = \(id)", logger: logger)
                    .collect().first?.decode(String.self)
            else { return .notFound }
            let counts = try await tx.sql(
                """
                SELECT (SELECT count(*) FROM annotation_sets WHERE ontology_id = \(id)),
                       (SELECT count(*) FROM prediction_sets WHERE ontology_id = \(id)),
                       (SELECT count(*) FROM evaluation_sets WHERE ontology_id = \(id)),
                       (SELECT count(*) FROM cafa_evaluations WHERE ontology_id = \(id))
                """, logger: logger
            ).collect()[0].decode((Int, Int, Int, Int).self)
            let users = Self.users([
                (counts.0, "annotation set"), (counts.1, "prediction set"), (counts.2, "evaluation set"),
                (counts.3, "CAFA evaluation"),
            ])
            guard users.isEmpty else { return .usedBy(users) }
            try await tx.sql("DELETE FROM ontologies WHERE id = \(id)", logger: logger)
            try await trail.record(
                .ontologyDelete, by: actor, entityType: "ontology", entityID: id, metadata: ["version": version])
            return .deleted
        }
    }

    /// Holds the snapshot's `ontologyUse` lock shared until the transaction ends (a deletion of it cannot start
    /// meanwhile) and checks it is still there (one may have finished first): 404 when it is not.
    static func holdOntology(_ ontology: UUID, on tx: PostgresConnection, logger: Logger) async throws {
        try await tx.sql(
            "SELECT pg_advisory_xact_lock_shared(\(AdvisoryLock.ontologyUse), hashtext(\(ontology)::text))",
            logger: logger)
        guard
            try await tx.sql("SELECT EXISTS (SELECT 1 FROM ontologies WHERE id = \(ontology))", logger: logger)
                .collect()[0].decode(Bool.self)
        else { throw TesseraError.notFound("no such ontology") }
    }

    /// "2 annotation sets", "1 prediction set": the kinds with any, in the order given.
    static func users(_ counts: [(Int, String)]) -> [String] {
        counts.filter { $0.0 > 0 }.map { "\($0.0) \($0.1)\($0.0 == 1 ? "" : "s")" }
    }

    /// A page of snapshots, oldest first, after (created_at, id).
    public func ontologies(after: (Date, UUID)?, limit: Int) async throws -> [OntologyRecord] {
        try await page("SELECT \(Self.ontologyColumns) FROM ontologies", after: after, limit: limit, Self.ontology)
    }

    /// A page of the rows `select` (constant SQL naming a table with created_at and id) gives, oldest first, after
    /// (created_at, id).
    func page<T: Sendable>(
        _ select: String, after: (Date, UUID)?, limit: Int, _ decode: @escaping @Sendable (PostgresRow) throws -> T
    ) async throws -> [T] {
        try await databases.page(org: org, select, after: after, limit: limit, logger: logger, decode)
    }

    /// A term of the snapshot (looked up by id or alternative id) with its ancestors, walked up the stored edges
    /// in the database; nil when the snapshot has no such term.
    public func term(_ term: String, ontology: UUID) async throws -> OntologyTermRecord? {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            let found = try await connection.sql(
                """
                SELECT t.term, t.namespace, t.name, t.definition, t.obsolete FROM ontology_terms t
                WHERE t.ontology_id = \(ontology)
                  AND (t.term = \(term) OR t.term IN (SELECT a.term FROM ontology_alt_ids a WHERE a.ontology_id = \(ontology) AND a.alt_id = \(term)))
                ORDER BY t.term = \(term) DESC LIMIT 1
                """, logger: logger
            ).collect()
            guard let row = found.first else { return nil }
            let (id, namespace, name, definition, obsolete) = try row.decode(
                (String, String?, String?, String?, Bool).self)
            let alts = try await connection.sql(
                "SELECT alt_id FROM ontology_alt_ids WHERE ontology_id = \(ontology) AND term = \(id) ORDER BY alt_id",
                logger: logger
            ).collect().map { try $0.decode(String.self) }
            let parents = try await connection.sql(
                "SELECT parent, relation FROM ontology_edges WHERE ontology_id = \(ontology) AND child = \(id) ORDER BY parent, relation",
                logger: logger
            ).collect().map { try $0.decode((String, String).self) }
            let ancestors = try await connection.sql(
                """
                WITH RECURSIVE up (term) AS (
                    SELECT parent FROM ontology_edges WHERE ontology_id = \(ontology) AND child = \(id)
                    UNION
                    SELECT e.parent FROM ontology_edges e JOIN up ON e.child = up.term WHERE e.ontology_id = \(ontology)
                )
                SELECT up.term, t.name, t.namespace FROM up LEFT JOIN ontology_terms t ON t.ontology_id = \(ontology) AND t.term = up.term
                ORDER BY up.term
                """, logger: logger
            ).collect().map { row in
                let (term, name, namespace) = try row.decode((String, String?, String?).self)
                return OntologyTermRecord.Ancestor(term: term, name: name, namespace: namespace)
            }
            return OntologyTermRecord(
                term: id, namespace: namespace, name: name, definition: definition, obsolete: obsolete, altIDs: alts,
                parents: parents.map { (term: $0.0, relation: $0.1) }, ancestors: ancestors)
        }
    }

    /// Every term id and alternative id of the snapshot.
    public func knownTerms(ontology: UUID) async throws -> Set<String> {
        try await databases.withConnection(org: org, logger: logger) { [logger] connection in
            var known = Set<String>()
            let stream = try await connection.sql(
                """
                SELECT term FROM ontology_terms WHERE ontology_id = \(ontology)
                UNION ALL SELECT alt_id FROM ontology_alt_ids WHERE ontology_id = \(ontology)
                """, logger: logger)
            for try await row in stream {
                var columns = RowReader(row)
                known.insert(try columns.text())
            }
            return known
        }
    }

    /// The snapshot as the evaluator's term records (every term, obsolete ones included: the evaluator drops them).
    public func evaluationOntology(_ ontology: UUID) async throws -> CAFAOntology {
        let records = try await databases.withConnection(org: org, logger: logger) {
            [logger] connection -> [CAFATermRecord] in
            var parents: [String: [CAFAParentLink]] = [:]
            for try await row in try await connection.sql(
                "SELECT child, parent, relation FROM ontology_edges WHERE ontology_id = \(ontology) ORDER BY child, relation, parent",
                logger: logger
            ) {
                var columns = RowReader(row)
                let (child, parent, relation) = (try columns.text(), try columns.text(), try columns.text())
                parents[child, default: []].append(
                    CAFAParentLink(id: parent, relation: relation == "is_a" ? .isA : .partOf))
            }
            var alts: [String: [String]] = [:]
            for try await row in try await connection.sql(
                "SELECT alt_id, term FROM ontology_alt_ids WHERE ontology_id = \(ontology) ORDER BY term, alt_id",
                logger: logger
            ) {
                var columns = RowReader(row)
                let alt = try columns.text()
                alts[try columns.text(), default: []].append(alt)
            }
            var records: [CAFATermRecord] = []
            for try await row in try await connection.sql(
                "SELECT term, namespace, obsolete FROM ontology_terms WHERE ontology_id = \(ontology) ORDER BY position",
                logger: logger
            ) {
                var columns = RowReader(row)
                let (term, namespace, obsolete) = (try columns.text(), try columns.optionalText(), try columns.bool())
                records.append(
                    CAFATermRecord(
                        id: term, namespace: namespace, isObsolete: obsolete, parents: parents[term] ?? [],
                        altIds: alts[term] ?? []))
            }
            return records
        }
        return try CAFAOntology(records: records)
    }

    static func ontology(_ row: PostgresRow) throws -> OntologyRecord {
        let (id, version, format, data, terms, obsolete, edges, alts, namespaces, created) =
            try row.decode((UUID, String, String?, String?, Int, Int, Int, Int, String, Date).self)
        return OntologyRecord(
            id: id, version: version, formatVersion: format, dataVersion: data, terms: terms, obsolete: obsolete,
            edges: edges,
            altIDs: alts,
            namespaces: try JSONDecoder().decode([String: Int].self, from: Data(namespaces.utf8)), createdAt: created)
    }
}

/// PostgreSQL's COPY text format: tab-separated, `\N` for NULL, backslash escapes.
enum CopyText {
    static func appendRow(_ fields: [String?], to buffer: inout ByteBuffer) {
        for (i, field) in fields.enumerated() {
            if i > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
            guard let field else {
                buffer.writeStaticString("\\N")
                continue
            }
            appendEscaped(field, to: &buffer)
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// The field's bytes with COPY's escapes, written a run at a time between the bytes that need one.
    static func appendEscaped(_ field: String, to buffer: inout ByteBuffer) {
        var field = field
        field.withUTF8 { bytes in
            var start = 0
            for i in 0..<bytes.count {
                let escape: StaticString
                switch bytes[i] {
                case UInt8(ascii: "\\"): escape = "\\\\"
                case UInt8(ascii: "\t"): escape = "\\t"
                case UInt8(ascii: "\n"): escape = "\\n"
                case UInt8(ascii: "\r"): escape = "\\r"
                default: continue
                }
                buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<i])))
                buffer.writeStaticString(escape)
                start = i + 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start...])))
        }
    }

    /// A PostgreSQL array literal of numbers (`{0.5,1.0}`), each written as Swift's shortest text that reads back
    /// as the same double.
    static func arrayLiteral(_ values: [Double]) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(values.count * 8 + 2)
        for (i, value) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: value.description.utf8)
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A PostgreSQL array literal of quoted elements (`{"a","b"}`), for a COPY text field.
    static func arrayLiteral(_ elements: [String]) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(elements.reduce(2) { $0 + $1.utf8.count + 3 })
        for (i, element) in elements.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "\""))
            for byte in element.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}
