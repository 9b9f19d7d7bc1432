import Foundation
import TesseraCore

/// The helpers every route family shares: ids, paging and cursors, JSON text, 400s for missing values.
extension APIHandler {
    static func id(_ uuid: UUID) -> String { uuid.uuidString.lowercased() }

    static func pageLimit(_ limit: Int?) throws -> Int {
        let limit = limit ?? 100
        guard (1...1000).contains(limit) else { throw TesseraError.badRequest("limit must be 1–1000") }
        return limit
    }

    /// The first `limit` of `records` (fetched as limit + 1) and the cursor of the next page, if there is one.
    static func page<T>(_ records: [T], limit: Int, cursor: (T) -> String) -> ([T], String?) {
        let page = Array(records.prefix(limit))
        return (page, records.count > limit ? page.last.map(cursor) : nil)
    }

    static func cursor(_ raw: String?) throws -> UUID? {
        try raw.map { raw in
            guard let id = UUID(uuidString: raw) else {
                throw TesseraError.badRequest("cursor is not one this server gave")
            }
            return id
        }
    }

    /// An id from the path; one that is not a UUID names nothing here.
    static func objectID(_ raw: String) throws -> UUID {
        guard let id = UUID(uuidString: raw) else { throw TesseraError.notFound("no such object") }
        return id
    }

    /// A (created_at, id) keyset cursor: microseconds since 1970, an underscore, the id.
    static func timeCursor(_ date: Date, _ id: UUID) -> String {
        "\(Int64((date.timeIntervalSince1970 * 1_000_000).rounded()))_\(Self.id(id))"
    }

    static func timeCursor(_ raw: String) throws -> (Date, UUID) {
        let parts = raw.split(separator: "_")
        guard parts.count == 2, let micros = Int64(parts[0]), let id = UUID(uuidString: String(parts[1])) else {
            throw TesseraError.badRequest("cursor is not one this server gave")
        }
        // Half a microsecond more: PostgresNIO truncates a Date to whole microseconds, and the Double may sit
        // just below the cursor's microsecond, which would give the last row of the page again.
        return (Date(timeIntervalSince1970: (Double(micros) + 0.5) / 1_000_000), id)
    }

    /// Any JSON value of the contract as compact JSON text.
    static func jsonText(_ value: some Encodable) throws -> String { try JSONText.encode(value) }

    /// JSON text as a value of the contract.
    static func jsonValue<T: Decodable>(_ text: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}

extension Optional {
    /// The value, or a 400 saying what was wrong.
    func orBadRequest(_ detail: String) throws -> Wrapped {
        guard let self else { throw TesseraError.badRequest(detail) }
        return self
    }
}
