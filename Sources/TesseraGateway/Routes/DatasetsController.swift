import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

#if canImport(Glibc)
    import Glibc
#endif

/// `/v1/orgs/{org}/datasets`: served from the org's own database through a repository made for that org.
struct DatasetsController: HeavyController {
    let client: PostgresClient
    let tenants: TenantDatabases
    let heavy: HeavyWork
    let baseLogger: Logger

    func listDatasets(_ input: Operations.listDatasets.Input) async throws -> Operations.listDatasets.Output {
        let limit = try Self.pageLimit(input.query.limit)
        let records = try await datasets().list(after: try Self.cursor(input.query.cursor), limit: limit + 1)
        let page = Array(records.prefix(limit))
        return .ok(
            .init(
                body: .json(
                    .init(
                        items: page.map(Self.schema),
                        next_cursor: records.count > limit ? page.last.map { Self.id($0.id) } : nil))))
    }

    func createDataset(_ input: Operations.createDataset.Input) async throws -> Operations.createDataset.Output {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(name.count) else { throw TesseraError.unprocessable("name must be 1–200 characters") }
        let fields = body.fields ?? []
        for field in fields where field.range(of: "^[A-Za-z_][A-Za-z0-9_]{0,62}$", options: .regularExpression) == nil {
            throw TesseraError.unprocessable("field '\(field)' must be a letter or _ followed by letters, digits or _")
        }
        guard Set(fields).count == fields.count else { throw TesseraError.unprocessable("fields must not repeat") }
        let creator = Self.currentUserID
        let repository = try datasets()
        guard
            let record = try await repository.create(
                name: name, description: body.description, fields: fields, createdBy: creator,
                by: auditActor())
        else {
            throw TesseraError.conflict("the org has a dataset named '\(name)'")
        }
        return .created(.init(body: .json(Self.schema(record))))
    }

    func getDataset(_ input: Operations.getDataset.Input) async throws -> Operations.getDataset.Output {
        guard let dataset = try await datasets().get(try Self.objectID(input.path.id)) else {
            throw TesseraError.notFound("no such dataset")
        }
        return .ok(.init(body: .json(Self.schema(dataset))))
    }

    func listRows(_ input: Operations.listRows.Input) async throws -> Operations.listRows.Output {
        let limit = try Self.pageLimit(input.query.limit)
        let after = try input.query.cursor.map { try Int($0).orBadRequest("cursor is not one this server gave") }
        guard
            let rows = try await datasets().rows(
                of: try Self.objectID(input.path.id), after: after, limit: limit + 1)
        else { throw TesseraError.notFound("no such dataset") }
        let (page, next) = Self.page(rows, limit: limit) { String($0.position) }
        return .ok(
            .init(
                body: .json(
                    .init(
                        items: try page.map { row in
                            .init(
                                id: Self.id(row.id), position: row.position, content: try Self.jsonValue(row.content),
                                expected_prediction: row.expected, created_at: row.createdAt)
                        }, next_cursor: next))))
    }

    func deleteDataset(_ input: Operations.deleteDataset.Input) async throws -> Operations.deleteDataset.Output {
        try await Self.delete(.dataset, try Self.objectID(input.path.id), in: try predictions(), by: auditActor())
        return .noContent(.init())
    }

    static func schema(_ dataset: DatasetRecord) -> Components.Schemas.Dataset {
        .init(
            id: id(dataset.id), name: dataset.name, description: dataset.description, row_count: dataset.rowCount,
            fields: dataset.fields, created_at: dataset.createdAt)
    }
}

/// `POST /v1/orgs/{org}/datasets/{id}/rows`: bulk import, all or nothing, in bounded memory. The body (NDJSON;
/// a JSON array arrives as NDJSON too, split by `RowsArrayMiddleware`) is written to a spool file as it arrives —
/// no heavy-work slot is held while a slow sender sends — then read back under a slot a few MiB at a time,
/// parsed on the heavy-work threads and inserted batch by batch in one transaction.
extension DatasetsController {
    func importRows(_ input: Operations.importRows.Input) async throws -> Operations.importRows.Output {
        guard case .application_x_hyphen_ndjson(let body) = input.body else {
            throw TesseraError.badRequest("expected a JSON array or NDJSON")
        }
        let spool = try SpoolFile()
        do {
            for try await chunk in body { try spool.write(chunk) }
        } catch let problem as RowImport.Problem {
            throw Self.refusal(problem)
        }
        return try await heavily { [spool] compute in
            try await importRows(input, from: spool, compute: compute)
        }
    }

    func importRows(_ input: Operations.importRows.Input, from spool: SpoolFile, compute: HeavyWork.Compute)
        async throws -> Operations.importRows.Output
    {
        let repository = try datasets()
        let id = try Self.objectID(input.path.id)
        guard let dataset = try await repository.get(id) else { throw TesseraError.notFound("no such dataset") }
        let rows = try SpooledRows(spool: spool, requiredFields: dataset.fields)
        // A bad row ends the transaction with a 400 (thrown as such from inside it: the driver wraps errors).
        let imported = try await repository.importRows(
            dataset: id, quotas: try await orgQuotas(client), by: auditActor()
        ) {
            do {
                return try await compute { try rows.next() }
            } catch let problem as RowImport.Problem {
                throw Self.refusal(problem)
            }
        }
        guard let imported else { throw TesseraError.notFound("no such dataset") }
        guard imported.imported > 0 else { throw TesseraError.badRequest("no rows in the body") }
        guard let updated = try await repository.get(id) else { throw TesseraError.notFound("no such dataset") }
        return .ok(.init(body: .json(Self.schema(updated))))
    }
}

extension DatasetsController {
    /// The 400 for the first bad row (or a body of the wrong shape): nothing was imported.
    static func refusal(_ problem: RowImport.Problem) -> TesseraError {
        .badRequest(problem.row == 0 ? problem.reason : "\(problem); nothing was imported")
    }
}

/// A request body kept on disk while it arrives: an unlinked temporary file (nothing is left behind, whatever
/// happens to the process), read back once from the start.
final class SpoolFile: @unchecked Sendable {
    private let handle: FileHandle

    init() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-spool-\(UUID())").path
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TesseraError.unavailable("cannot keep the request body: \(errno)") }
        unlink(path)
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    func write(_ bytes: some Collection<UInt8>) throws {
        do {
            try handle.write(contentsOf: Data(bytes))
        } catch {
            throw TesseraError.unavailable("cannot keep the request body (the disk may be full)")
        }
    }

    func rewind() throws { try handle.seek(toOffset: 0) }

    /// Up to `count` bytes; empty at the end.
    func read(upTo count: Int) throws -> Data { try handle.read(upToCount: count) ?? Data() }
}

/// A spool file's bytes from its start, a chunk (1 MiB) at a time: a received body handed on without being held.
struct SpoolChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let spool: SpoolFile

    struct AsyncIterator: AsyncIteratorProtocol {
        let spool: SpoolFile
        var started = false

        mutating func next() async throws -> ByteBuffer? {
            if !started {
                try spool.rewind()
                started = true
            }
            let data = try spool.read(upTo: 1 << 20)
            return data.isEmpty ? nil : ByteBuffer(bytes: data)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(spool: spool) }
}

/// The rows of a spooled NDJSON body from its start, a batch at a time (called one after another, never at once).
final class SpooledRows: @unchecked Sendable {
    let spool: SpoolFile
    var reader: RowImport.LineReader
    var ended = false
    static let chunkBytes = 4 << 20

    init(spool: SpoolFile, requiredFields: [String]) throws {
        try spool.rewind()
        self.spool = spool
        self.reader = RowImport.LineReader(requiredFields: requiredFields)
    }

    /// The rows of the next few MiB of the body; nil once it is all read.
    func next() throws -> [ImportedRow]? {
        if ended { return nil }
        let chunk = try spool.read(upTo: Self.chunkBytes)
        if chunk.isEmpty {
            ended = true
            return try reader.finish()
        }
        return try reader.rows(in: chunk)
    }
}
