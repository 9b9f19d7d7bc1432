import Foundation
import Logging
import PostgresNIO
import TesseraCore
import TesseraPostgres

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

    static func schema(_ dataset: DatasetRecord) -> Components.Schemas.Dataset {
        .init(
            id: id(dataset.id), name: dataset.name, description: dataset.description, row_count: dataset.rowCount,
            fields: dataset.fields, created_at: dataset.createdAt)
    }
}

/// `POST /v1/orgs/{org}/datasets/{id}/rows`: bulk import, all or nothing.
extension DatasetsController {
    /// An NDJSON body is received whole before a heavy-work slot is taken: a slow sender holds none.
    func importRows(_ input: Operations.importRows.Input) async throws -> Operations.importRows.Output {
        var ndjson = Data()
        if case .application_x_hyphen_ndjson(let body) = input.body {
            ndjson = try await Data(collecting: body, upTo: .max)
        }
        return try await heavily { [ndjson] in try await importRows(input, ndjson: ndjson, compute: $0) }
    }

    func importRows(_ input: Operations.importRows.Input, ndjson: Data, compute: HeavyWork.Compute) async throws
        -> Operations.importRows.Output
    {
        let repository = try datasets()
        let id = try Self.objectID(input.path.id)
        guard let dataset = try await repository.get(id) else { throw TesseraError.notFound("no such dataset") }
        let rows: [ImportedRow]
        do {
            switch input.body {
            case .json(let value):
                // The runtime has decoded the JSON; re-encoded, it is parsed row by row to name a bad one.
                rows = try await compute {
                    try RowImport.parse(
                        try JSONEncoder().encode(value), format: .jsonArray, requiredFields: dataset.fields)
                }
            case .application_x_hyphen_ndjson:
                rows = try await compute {
                    try RowImport.parse(ndjson, format: .ndjson, requiredFields: dataset.fields)
                }
            }
        } catch let problem as RowImport.Problem {
            throw TesseraError.badRequest(problem.row == 0 ? problem.reason : "\(problem); nothing was imported")
        }
        guard !rows.isEmpty else { throw TesseraError.badRequest("no rows in the body") }
        guard
            try await repository.importRows(
                dataset: id, rows: rows, quotas: try await orgQuotas(client), by: auditActor())
                != nil
        else {
            throw TesseraError.notFound("no such dataset")
        }
        guard let updated = try await repository.get(id) else { throw TesseraError.notFound("no such dataset") }
        return .ok(.init(body: .json(Self.schema(updated))))
    }
}
