import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TesseraTestSupport
import Testing

@testable import TesseraCore
@testable import TesseraGateway

/// The example docking service (`examples/docking`, AutoDock Vina with RDKit and Meeko) run by the engine end to
/// end: a receptor molecule in, ligands from SMILES prepared and docked, docking results and pose artifacts out,
/// and the same job again answered from the cache.
@Suite struct DockingTests {
    static let logger = TestDatabase.logger

    struct Pose: Decodable {
        let ligand: String
        let pose_rank: Int
        let affinity: Double
        let rmsd: Double?
        let pose_artifact_id: String?
        let molecule_id: String?
    }

    @Test func aPrepareAndDockPipelineRunsEndToEnd() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("docking-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let receptorPath = folder.appendingPathComponent("receptor.pdbqt").path
        let box = try await Self.buildReceptor(receptorPath)
        let spec = try String(contentsOfFile: "\(TestDatabase.root)/examples/docking/interface.json", encoding: .utf8)

        try await ScriptServer.with("examples/docking/service.py", ["--port", "0", "--exit-on-stdin-close"]) { port in
            try await JobEngineTests.withGateway { _, calls in
                let service = "http://127.0.0.1:\(port)"
                try await JobEngineTests.definition(
                    calls, "prepare-ligands", config: #"{"operation":"prepareLigands","timeout_seconds":120}"#,
                    service: service, spec: spec)
                try await JobEngineTests.definition(
                    calls, "dock", config: #"{"operation":"dock","timeout_seconds":600}"#, service: service, spec: spec)
                let version = try await JobEngineTests.pipeline(
                    calls, "dock-ligands", [("prepare", "prepare-ligands", []), ("dock", "dock", ["prepare"])])

                // The receptor: an artifact, registered as a molecule.
                let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: receptorPath)))
                let receptorArtifact = try JSONDecoder().decode(
                    ArtifactTests.Artifact.self,
                    from: Data(
                        buffer: try await ArtifactTests.upload(
                            calls.client, calls, bytes, name: "receptor.pdbqt", contentType: "chemical/x-pdbqt"
                        ).body)
                ).id
                let molecule = try await calls.create(
                    "/molecules", #"{"name":"GWKFYHWDEL","format":"pdbqt","artifact_id":"\#(receptorArtifact)"}"#)
                let registered = String(buffer: try await calls.get("/molecules?format=pdbqt").body)
                #expect(registered.contains(molecule) && registered.contains(#""checksum":""#))

                let job =
                    #"{"pipeline_version_id":"\#(version)","inputs":[{"name":"receptor","artifact_id":"\#(receptorArtifact)"}],"params":{"ligands":[{"name":"phenol","smiles":"c1ccccc1O"},{"name":"ethanol","smiles":"CCO"}],"center":\#(box.center),"box":[20,20,20],"exhaustiveness":2,"poses":3}}"#
                let first = try await calls.post("/jobs", job)
                #expect(first.status == .created, "\(String(buffer: first.body))")
                let id = try JSONDecoder().decode(JobEngineTests.Job.self, from: Data(buffer: first.body)).id
                let done = try await JobEngineTests.finished(calls, id, within: 240)
                let events = String(buffer: try await calls.get("/jobs/\(id)/events?limit=100").body)
                #expect(done.status == "COMPLETED", "\(done) \(events)")

                // Poses, best affinity first; each pose's file is an artifact whose VINA RESULT line agrees.
                let page = try JSONDecoder().decode(
                    JobEngineTests.Page<Pose>.self,
                    from: Data(buffer: try await calls.get("/jobs/\(id)/docking-results").body))
                let poses = page.items
                #expect(Set(poses.map(\.ligand)) == ["phenol", "ethanol"])
                #expect((2...6).contains(poses.count), "\(poses)")
                #expect(poses.map(\.affinity) == poses.map(\.affinity).sorted())
                #expect(poses.allSatisfy { $0.affinity < 0 && $0.affinity > -15 }, "\(poses.map(\.affinity))")
                let best = try #require(poses.first)
                let file = String(
                    buffer: try await calls.get("/artifacts/\(try #require(best.pose_artifact_id))").body)
                let remark = try #require(file.split(separator: "\n").first { $0.contains("VINA RESULT") })
                let written = try #require(Double(remark.split(separator: " ", omittingEmptySubsequences: true)[3]))
                #expect(abs(written - best.affinity) < 0.001, "\(remark) vs \(best.affinity)")
                // Filters: each ligand's best pose; an affinity bound; one ligand.
                let bestOnly = try JSONDecoder().decode(
                    JobEngineTests.Page<Pose>.self,
                    from: Data(buffer: try await calls.get("/jobs/\(id)/docking-results?best_only=true").body)
                ).items
                #expect(bestOnly.count == 2 && bestOnly.allSatisfy { $0.pose_rank == 1 })
                let bound = best.affinity
                let strong = try JSONDecoder().decode(
                    JobEngineTests.Page<Pose>.self,
                    from: Data(buffer: try await calls.get("/jobs/\(id)/docking-results?max_affinity=\(bound)").body)
                ).items
                #expect(strong.allSatisfy { $0.affinity <= bound } && !strong.isEmpty)
                let ethanol = try JSONDecoder().decode(
                    JobEngineTests.Page<Pose>.self,
                    from: Data(buffer: try await calls.get("/jobs/\(id)/docking-results?ligand=ethanol&limit=1").body)
                )
                #expect(ethanol.items.count == 1 && ethanol.items[0].ligand == "ethanol")
                // Paged two at a time, the same poses in the same order.
                struct PosePage: Decodable {
                    let items: [Pose]
                    let next_cursor: String?
                }
                var paged: [Pose] = []
                var cursor: String?
                repeat {
                    let page = try JSONDecoder().decode(
                        PosePage.self,
                        from: Data(
                            buffer: try await calls.get(
                                "/jobs/\(id)/docking-results?limit=2\(cursor.map { "&cursor=\($0)" } ?? "")"
                            ).body))
                    paged += page.items
                    cursor = page.next_cursor
                } while cursor != nil && paged.count < 20
                #expect(paged.map(\.pose_artifact_id) == poses.map(\.pose_artifact_id))
                // Molecules page by name.
                let copy = try await calls.create(
                    "/molecules", #"{"name":"A copy","format":"pdbqt","artifact_id":"\#(receptorArtifact)"}"#)
                struct MoleculePage: Decodable {
                    struct Molecule: Decodable { let id: String }
                    let items: [Molecule]
                    let next_cursor: String?
                }
                let firstMolecules = try JSONDecoder().decode(
                    MoleculePage.self, from: Data(buffer: try await calls.get("/molecules?limit=1").body))
                let next = try #require(firstMolecules.next_cursor)
                let secondMolecules = try JSONDecoder().decode(
                    MoleculePage.self, from: Data(buffer: try await calls.get("/molecules?limit=1&cursor=\(next)").body)
                )
                #expect(firstMolecules.items.map(\.id) == [copy] && secondMolecules.items.map(\.id) == [molecule])
                #expect(secondMolecules.next_cursor == nil)

                // What poses and molecules hold cannot be deleted from under them.
                #expect(
                    try await calls.send(.delete, "/artifacts/\(try #require(best.pose_artifact_id))").status
                        == .conflict)
                #expect(try await calls.send(.delete, "/artifacts/\(receptorArtifact)").status == .conflict)

                // The same job again: answered from the cache, nothing docked again.
                let again = try await calls.post("/jobs", job)
                let cached = try JSONDecoder().decode(JobEngineTests.Job.self, from: Data(buffer: again.body))
                #expect(again.status == .ok && cached.cached && cached.id == id)
            }
        }
    }

    /// Runs the example's receptor builder; the box it prints.
    static func buildReceptor(_ path: String) async throws -> (center: String, size: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "\(TestDatabase.root)/examples/docking/build_receptor.py", path]
        let output = Pipe()
        process.standardOutput = output
        let exit = ProcessExit(process)
        try process.run()
        // Read on a thread of its own: a blocking read must not hold one of the cooperative pool's.
        let data = await withCheckedContinuation { (done: CheckedContinuation<Data, Never>) in
            Thread.detachNewThread { done.resume(returning: output.fileHandleForReading.readDataToEndOfFile()) }
        }
        #expect(await exit.status() == 0)
        struct Box: Decodable {
            let center: [Double]
            let size: [Double]
        }
        let box = try JSONDecoder().decode(Box.self, from: data)
        return ("\(box.center)", "\(box.size)")
    }
}
