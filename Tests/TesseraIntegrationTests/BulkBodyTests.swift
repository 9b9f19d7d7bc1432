import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import TesseraCore
@testable import TesseraGateway

/// Bulk bodies parsed in memory (ontologies, term sets, batches of results, CAFA evaluations) are admitted a
/// bounded number at a time in the process and per org, before a byte of them is read; row imports (spooled to
/// disk) and everything else pass.
@Suite struct BulkBodyTests {
    static let logger = TestDatabase.logger

    /// What a large bulk body held is given back to the system after it (glibc keeps freed heap per thread
    /// otherwise): the C library's `malloc_trim` is found, and a trim frees memory this test allocated and freed.
    @Test func theHeapIsTrimmedAfterALargeBulkBody() throws {
        #expect(HeapTrim.available)
        func resident() throws -> Int {
            let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
            let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
            return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        }
        // Many small blocks (below mmap's threshold: they come from the heap), touched, then freed but the last.
        var blocks = (0..<50_000).map { _ in [UInt8](repeating: 1, count: 4000) }
        let kept = blocks.removeLast()
        let held = try resident()
        blocks = []
        HeapTrim.releaseFreedMemory()  // what afterBulkBody does, at most once a second
        let after = try resident()
        #expect(held - after > 100_000, "VmRSS \(held) kB before the trim, \(after) kB after")  // of ~200 MB freed
        #expect(kept.count == 4000)
    }

    @Test func bulkBodiesInMemoryAreAdmittedABoundedNumberAtATime() async throws {
        let oneAtATime: (inout Settings) -> Void = {
            $0.work.bulkBodies = 1
            $0.work.bulkBodiesPerOrg = 1
            $0.work.heavyQueuedPerOrg = 1
            $0.work.heavyWaitSeconds = 8
        }
        try await TenantEnv.with(configure: oneAtATime) { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let a = try await env.provisioned("bulk-a")
            let b = try await env.provisioned("bulk-b")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let upload = Upload(port: port, key: platform)
                let callsB = OrgCalls(client: client, org: b, key: platform)
                let obo = CAFATests.obo
                let firstLine = obo.prefix { $0 != "\n" } + "\n"

                // Org A's ontology: its first line, then nothing until the test sends the rest.
                let (stream, feed) = AsyncStream.makeStream(of: ByteBuffer.self)
                feed.yield(ByteBuffer(string: String(firstLine)))
                let held = Task { try await upload.ontology(org: a, body: .stream(stream, length: .unknown)) }
                // Time for it to reach the gate: on a loaded CI machine 700 ms was once not enough (org B's upload
                // then took the free slot). Nothing outside the gateway can see the gate, so the test waits.
                try await Task.sleep(for: .seconds(3))

                // The one slot is A's: org B's upload waits the whole wait, then 503. (The wait is long enough for the
                // queued upload below to outlast the held one's parse and writes on a loaded CI machine.)
                let started = ContinuousClock.now
                let refused = try await upload.ontology(org: b, body: .bytes(ByteBuffer(string: obo)))
                #expect(refused.status == 503, "\(refused.body)")
                #expect(refused.body.contains("busy receiving bulk uploads"))
                #expect(ContinuousClock.now - started >= .seconds(8))

                // Reads and spooled row imports are not bulk bodies held in memory: they pass (were they admitted
                // by the gate, they would wait out its 8 s and be answered 503).
                #expect(try await callsB.get("/ontologies").status == .ok)
                let dataset = try await callsB.create("/datasets", #"{"name":"d","fields":["text"]}"#)
                let rows = try await callsB.post(
                    "/datasets/\(dataset)/rows", #"{"content":{"text":"a"},"expected_prediction":"yes"}"# + "\n",
                    contentType: "application/x-ndjson")
                #expect(rows.status == .ok, "\(String(buffer: rows.body))")

                // Org A may have one more waiting; a third is refused at once.
                let queued = Task { try await upload.ontology(org: a, body: .bytes(ByteBuffer(string: obo))) }
                try await Task.sleep(for: .milliseconds(1_500))
                let flooding = try await upload.ontology(org: a, body: .bytes(ByteBuffer(string: obo)))
                #expect(flooding.status == 429, "\(flooding.body)")

                // The held upload completes; the one waiting takes the slot (the same snapshot again: 200).
                feed.yield(ByteBuffer(string: String(obo.dropFirst(firstLine.count))))
                feed.finish()
                let first = try await held.value
                #expect(first.status == 201, "\(first.body)")
                let second = try await queued.value
                #expect(second.status == 200, "\(second.body)")
                #expect(try await upload.ontology(org: b, body: .bytes(ByteBuffer(string: obo))).status == 201)
            }
        }
    }

    /// A sender admitted with a bulk body that then sends nothing more keeps its slot only until the body deadline:
    /// it is answered 408, and the upload waiting for the one slot is served. (Before, it held the slot while it kept
    /// its connection open, and the other org's upload waited out `heavy_wait_seconds` and got 503.)
    @Test func aSlowSenderGivesItsSlotBackAtTheBodyDeadline() async throws {
        let oneSlot: (inout Settings) -> Void = {
            $0.work.bulkBodies = 1
            $0.work.bulkBodiesPerOrg = 1
            $0.work.heavyWaitSeconds = 30
            $0.work.bulkBodySeconds = 2
        }
        try await TenantEnv.with(configure: oneSlot) { env in
            let platform = try await AccessFixture.platformKey(env.settings)
            let a = try await env.provisioned("slow-a")
            let b = try await env.provisioned("slow-b")
            let app = try buildApplication(settings: env.settings, logger: Self.logger)
            try await app.test(.live) { client in
                let upload = Upload(port: try #require(client.port), key: platform)
                let obo = CAFATests.obo
                let (stream, feed) = AsyncStream.makeStream(of: ByteBuffer.self)
                feed.yield(ByteBuffer(string: String(obo.prefix { $0 != "\n" } + "\n")))
                let slow = Task { try await upload.ontology(org: a, body: .stream(stream, length: .unknown)) }
                try await Task.sleep(for: .seconds(1))  // for the slow upload to take the slot (see above)
                let started = ContinuousClock.now
                let served = try await upload.ontology(org: b, body: .bytes(ByteBuffer(string: obo)))
                let waited = ContinuousClock.now - started
                #expect(served.status == 201, "\(served.body)")
                #expect(waited < .seconds(20), "org B waited \(waited)")
                let refused = try await slow.value
                #expect(refused.status == 408, "\(refused.body)")
                #expect(refused.body.contains("request-timeout") && refused.body.contains("did not arrive within 2"))
                feed.finish()
            }
        }
    }

    /// Ontology uploads through AsyncHTTPClient, whose body may be a stream the test holds open.
    struct Upload {
        let port: Int
        let key: APIKey

        func ontology(org: UUID, body: HTTPClientRequest.Body) async throws -> (status: Int, body: String) {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/orgs/\(org)/ontologies")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(key.plaintext)")
            request.headers.add(name: "Content-Type", value: "text/plain")
            request.body = body
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), String(buffer: bytes))
        }
    }
}
