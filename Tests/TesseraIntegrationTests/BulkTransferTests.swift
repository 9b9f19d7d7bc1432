import Logging
import NIOCore
import PostgresNIO
import Testing

@testable import TesseraPostgres

/// The bulk paths of the CAFA sets, against a real PostgreSQL: rows copied in (streamed, escaped) come back as they
/// were sent, and the arrays and columns read back without PostgresNIO's generic decoding equal what the server sent.
@Suite struct BulkTransferTests {
    let logger = TestDatabase.logger

    @Test func copiedRowsComeBackAsTheyWereSentAcrossChunks() async throws {
        try await TestDatabase.withFresh { settings in
            try await settings.database.withConnection(as: .admin, logger: logger) { connection in
                try await connection.query(
                    "CREATE TABLE copied (n integer PRIMARY KEY, label text, terms text[], scores float8[])",
                    logger: logger)
                // Every byte COPY's text format escapes, quotes and braces inside array elements, non-ASCII,
                // NULL, and enough rows (~2.6 MiB) that the rows go in several chunks while more are made.
                let labels = ["tab\there", "line\nbreak", "back\\slash", "cr\rhere", "plain", "é✓", "", "\\N"]
                let terms = ["GO:1", "with \"quotes\"", "a,b", "{braced}", "back\\slash", "tab\there"]
                let scores = [0.1, 1e-05, 1, 0.30000000000000004, 2.2250738585072014e-308]
                let rows = 40_000
                try await CAFARepository.copy(
                    table: "copied", columns: ["n", "label", "terms", "scores"], on: connection, logger: logger
                ) { line in
                    for n in 0..<rows {
                        line([
                            String(n), n % 9 == 8 ? nil : labels[n % 9], CopyText.arrayLiteral(terms),
                            CopyText.arrayLiteral(scores),
                        ])
                    }
                }
                var seen = 0
                for try await row in try await connection.query(
                    "SELECT n, label, terms, scores FROM copied ORDER BY n", logger: logger)
                {
                    let (n, label, readTerms, readScores) = try row.decode((Int, String?, [String], [Double]).self)
                    #expect(n == seen)
                    #expect(label == (n % 9 == 8 ? nil : labels[n % 9]), "row \(n)")
                    #expect(readTerms == terms && readScores == scores, "row \(n)")
                    seen += 1
                }
                #expect(seen == rows)
            }
        }
    }

    @Test func arraysAndColumnsReadFromTheirBytesEqualWhatTheServerSent() async throws {
        try await TestDatabase.withFresh { settings in
            try await settings.database.withConnection(as: .admin, logger: logger) { connection in
                let row = try await connection.query(
                    """
                    SELECT ARRAY['a', 'back\\slash', 'é✓', '', 'with "quotes"']::text[],
                           '{0.1,1e-05,1,0.30000000000000004,-0}'::float8[],
                           '{}'::text[], '{}'::float8[], 'x'::text, NULL::text, true, false
                    """, logger: logger
                ).collect()[0]
                var columns = RowReader(row)
                #expect(try BinaryArray.strings(columns.bytes()) == ["a", "back\\slash", "é✓", "", "with \"quotes\""])
                let doubles = try BinaryArray.doubles(columns.bytes())
                #expect(doubles == [0.1, 1e-05, 1, 0.30000000000000004, 0] && doubles[4].sign == .minus)
                #expect(try BinaryArray.strings(columns.bytes()).isEmpty)
                #expect(try BinaryArray.doubles(columns.bytes()).isEmpty)
                #expect(try columns.text() == "x")
                #expect(try columns.optionalText() == nil)
                #expect(try columns.bool() == true)
                #expect(try columns.bool() == false)
                #expect(throws: RowReader.Unexpected.self) { try columns.text() }

                // What these readers do not read is refused, never misread: a NULL element, two dimensions,
                // another element type, a NULL where text must be, a number where text is asked for.
                let odd = try await connection.query(
                    """
                    SELECT ARRAY['a', NULL]::text[], ARRAY[[1.0, 2.0], [3.0, 4.0]]::float8[], ARRAY[1, 2]::int4[],
                           NULL::text, 7::int4
                    """, logger: logger
                ).collect()[0]
                var oddColumns = RowReader(odd)
                #expect(throws: BinaryArray.Malformed.self) { try BinaryArray.strings(oddColumns.bytes()) }
                #expect(throws: BinaryArray.Malformed.self) { try BinaryArray.doubles(oddColumns.bytes()) }
                #expect(throws: BinaryArray.Malformed.self) { try BinaryArray.doubles(oddColumns.bytes()) }
                #expect(throws: RowReader.Unexpected.self) { try oddColumns.text() }
                #expect(throws: RowReader.Unexpected.self) { try oddColumns.text() }
            }
        }
    }
}
