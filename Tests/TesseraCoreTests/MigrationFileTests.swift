import Testing

@testable import TesseraCore

@Suite struct MigrationFileTests {
    @Test(arguments: [
        ("0001_metadata_v1.sql", 1), ("0042_add_index.sql", 42),
    ])
    func wellFormedNames(name: String, number: Int) {
        #expect(MigrationFile.number(of: name) == number)
    }

    @Test(arguments: ["1_x.sql", "0001-x.sql", "0001_X.sql", "0001_x.txt", "0001_.sql", "abcd_x.sql", "0001_x y.sql"])
    func malformedNames(name: String) {
        #expect(MigrationFile.number(of: name) == nil)
        #expect(throws: MigrationFileError.badName(name)) { try MigrationFile(name: name, sql: "") }
    }

    @Test func orderedSortsAndRefusesDuplicates() throws {
        let a = try MigrationFile(name: "0002_b.sql", sql: "b")
        let b = try MigrationFile(name: "0001_a.sql", sql: "a")
        #expect(try MigrationFile.ordered([a, b]).map(\.name) == ["0001_a.sql", "0002_b.sql"])
        let c = try MigrationFile(name: "0002_c.sql", sql: "c")
        #expect(throws: MigrationFileError.duplicateNumber("0002_b.sql", "0002_c.sql")) {
            try MigrationFile.ordered([a, b, c])
        }
    }

    @Test func checksumIsSHA256OfTheText() throws {
        let file = try MigrationFile(name: "0001_a.sql", sql: "abc")
        #expect(file.checksum == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try MigrationFile(name: "0001_a.sql", sql: "abc ").checksum != file.checksum)
    }
}

@Suite struct SQLSplitterTests {
    @Test func splitsAtTopLevelSemicolons() {
        #expect(SQLSplitter.statements("SELECT 1; SELECT 2;\n\nSELECT 3") == ["SELECT 1", "SELECT 2", "SELECT 3"])
    }

    @Test func keepsSemicolonsInsideQuotesCommentsAndDollarBodies() {
        let script = """
            -- a comment; with a semicolon
            CREATE TABLE "odd;name" (note text DEFAULT 'it''s; fine');
            /* block; /* nested; */ still */
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'no; way';
                RETURN NEW;
            END
            $$;
            DO $body$ BEGIN PERFORM 1; END $body$;
            SELECT $1::text;
            """
        let statements = SQLSplitter.statements(script)
        #expect(statements.count == 4)
        #expect(statements[0].hasSuffix("DEFAULT 'it''s; fine')"))
        #expect(statements[1].hasPrefix("/* block"))
        #expect(statements[1].contains("RAISE EXCEPTION 'no; way';"))
        #expect(statements[2] == "DO $body$ BEGIN PERFORM 1; END $body$")
        #expect(statements[3] == "SELECT $1::text")
    }

    @Test func commentOnlyTailIsDropped() {
        #expect(SQLSplitter.statements("SELECT 1;\n-- the end\n") == ["SELECT 1"])
    }
}
