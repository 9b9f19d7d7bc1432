import Testing

@testable import TesseraCore

@Suite struct ByteRangeTests {
    @Test(arguments: [
        // header, size, expected
        ("bytes=0-9", 100, ByteRange.part(0..<10)),
        ("bytes=90-", 100, .part(90..<100)),
        ("bytes=90-500", 100, .part(90..<100)),  // the last position clipped to the end
        ("bytes=-10", 100, .part(90..<100)),
        ("bytes=-500", 100, .part(0..<100)),  // a suffix longer than the blob: all of it
        ("bytes=99-99", 100, .part(99..<100)),
        ("bytes=100-", 100, .unsatisfiable),
        ("bytes=100-200", 100, .unsatisfiable),
        ("bytes=-0", 100, .unsatisfiable),
        ("bytes=0-", 0, .unsatisfiable),
        ("bytes=-5", 0, .unsatisfiable),
        ("bytes=99999999999999999999-", 100, .unsatisfiable),
        ("bytes=-99999999999999999999", 100, .part(0..<100)),
        // Ignored: the whole representation.
        ("bytes=9-0", 100, .whole),
        ("bytes=0-1,5-6", 100, .whole),
        ("items=0-9", 100, .whole),
        ("bytes=a-9", 100, .whole),
        ("bytes=-", 100, .whole),
        ("bytes=0-9-", 100, .whole),
        ("bytes=+1-9", 100, .whole),
    ])
    func oneRangeIsServedAndAnythingElseIgnored(header: String, size: Int, expected: ByteRange) {
        #expect(ByteRange.parse(header, size: size) == expected, "\(header) of \(size)")
    }

    @Test func noHeaderIsTheWhole() {
        #expect(ByteRange.parse(nil, size: 10) == .whole)
    }
}
