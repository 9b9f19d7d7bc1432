/// One step of a pipeline: a task definition (by `task_id` and version) run after the steps it depends on.
public struct PipelineStep: Sendable, Equatable {
    /// The step's name within its pipeline, matching `^[a-z0-9][a-z0-9_-]{0,62}$`.
    public let key: String
    /// The task definition's `task_id`.
    public let task: String
    /// The task definition's version.
    public let version: String
    /// The keys of the steps that must finish before this one starts.
    public let dependsOn: [String]
    /// Whether the job engine may answer this step from an earlier execution with the same request.
    public let cache: Bool

    public init(key: String, task: String, version: String, dependsOn: [String] = [], cache: Bool = true) {
        self.key = key
        self.task = task
        self.version = version
        self.dependsOn = dependsOn
        self.cache = cache
    }
}

/// Something wrong with a pipeline's steps, with the path of the offending field (e.g. "steps[2].depends_on[1]").
public enum PipelineProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// A step reuses the key of an earlier step; the path is the later step's key.
    case duplicateStep(path: String, key: String)
    /// A step key does not match `^[a-z0-9][a-z0-9_-]{0,62}$`.
    case invalidStepKey(path: String, key: String)
    /// A dependency names no step of the pipeline.
    case unknownDependency(path: String, key: String)
    /// A step depends on itself.
    case selfDependency(path: String, key: String)
    /// Steps depend on each other in a circle; `keys` follows the dependencies and repeats the first key at the end.
    case cycle(path: String, keys: [String])
    /// The pipeline has no steps at all.
    case noSteps(path: String)

    /// The path of the offending field.
    public var path: String {
        switch self {
        case .duplicateStep(let path, _), .invalidStepKey(let path, _), .unknownDependency(let path, _),
            .selfDependency(let path, _), .cycle(let path, _), .noSteps(let path):
            return path
        }
    }

    public var description: String {
        switch self {
        case .duplicateStep(let path, let key):
            return "\(path): the step key '\(key)' is already used by an earlier step"
        case .invalidStepKey(let path, let key):
            return "\(path): '\(key)' is not a step key (1 to 63 of a-z, 0-9, _ and -, starting with a letter or digit)"
        case .unknownDependency(let path, let key):
            return "\(path): there is no step '\(key)' to depend on"
        case .selfDependency(let path, let key):
            return "\(path): the step '\(key)' depends on itself"
        case .cycle(let path, let keys):
            return "\(path): the steps depend on each other in a cycle: \(keys.joined(separator: " -> "))"
        case .noSteps(let path):
            return "\(path): a pipeline needs at least one step"
        }
    }
}

/// Checks that a pipeline's steps form a valid dependency graph and orders them.
public enum PipelineGraph {
    /// Every problem found (not just the first), in a stable order: per step in order, then cycles.
    ///
    /// For each step: an invalid key, then a duplicate key, then each of its dependencies that names
    /// itself or no step. Cycles come last, each distinct set of steps once, in the order a depth-first
    /// search over the steps (in input order, dependencies in listed order) first meets them; each cycle
    /// starts at its earliest step in the input. Unknown and self dependencies take no part in cycle detection.
    public static func problems(_ steps: [PipelineStep]) -> [PipelineProblem] {
        guard !steps.isEmpty else { return [.noSteps(path: "steps")] }
        var problems: [PipelineProblem] = []
        var seen: Set<String> = []
        let keys = Set(steps.map(\.key))
        for (i, step) in steps.enumerated() {
            if !isValidKey(step.key) {
                problems.append(.invalidStepKey(path: "steps[\(i)].key", key: step.key))
            }
            if !seen.insert(step.key).inserted {
                problems.append(.duplicateStep(path: "steps[\(i)].key", key: step.key))
            }
            for (j, dependency) in step.dependsOn.enumerated() {
                if dependency == step.key {
                    problems.append(.selfDependency(path: "steps[\(i)].depends_on[\(j)]", key: dependency))
                } else if !keys.contains(dependency) {
                    problems.append(.unknownDependency(path: "steps[\(i)].depends_on[\(j)]", key: dependency))
                }
            }
        }
        let graph = Graph(steps)
        for cycle in graph.cycles() {
            let keys = cycle.map { graph.keys[$0] }
            problems.append(.cycle(path: "steps[\(graph.firstIndex[cycle[0]])].depends_on", keys: keys + [keys[0]]))
        }
        return problems
    }

    /// A topological order of the step keys (dependencies first; among the steps ready to run, the
    /// earliest in the input comes first); nil when `problems` finds any.
    public static func order(_ steps: [PipelineStep]) -> [String]? {
        guard problems(steps).isEmpty else { return nil }
        let graph = Graph(steps)
        var placed = [Bool](repeating: false, count: graph.keys.count)
        var order: [String] = []
        while order.count < graph.keys.count {
            guard
                let next = graph.keys.indices.first(where: { node in
                    !placed[node] && graph.edges[node].allSatisfy { placed[$0] }
                })
            else { return nil }  // unreachable without cycles
            placed[next] = true
            order.append(graph.keys[next])
        }
        return order
    }

    /// Whether `key` matches `^[a-z0-9][a-z0-9_-]{0,62}$`.
    static func isValidKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        for (n, byte) in bytes.enumerated() {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                continue
            case UInt8(ascii: "_") where n > 0, UInt8(ascii: "-") where n > 0:
                continue
            default:
                return false
            }
        }
        return true
    }

    /// The steps as nodes (one per distinct key, in order of first appearance) with edges to the
    /// nodes they depend on (known, not themselves, each once, in listed order).
    private struct Graph {
        var keys: [String] = []
        /// The index in the input of each node's first step.
        var firstIndex: [Int] = []
        var edges: [[Int]] = []

        init(_ steps: [PipelineStep]) {
            var node: [String: Int] = [:]
            for (i, step) in steps.enumerated() where node[step.key] == nil {
                node[step.key] = keys.count
                keys.append(step.key)
                firstIndex.append(i)
            }
            edges = Array(repeating: [], count: keys.count)
            for step in steps {
                let from = node[step.key]!
                for dependency in step.dependsOn {
                    guard let to = node[dependency], to != from, !edges[from].contains(to) else { continue }
                    edges[from].append(to)
                }
            }
        }

        /// The cycles met as back edges of a depth-first search, each as its nodes following the edges,
        /// starting at the node that comes first in the input; a set of nodes already reported is skipped.
        func cycles() -> [[Int]] {
            enum Colour { case white, grey, black }
            var colour = [Colour](repeating: .white, count: keys.count)
            var found: [[Int]] = []
            var reported: Set<Set<Int>> = []
            for root in keys.indices where colour[root] == .white {
                // Iterative DFS: the path of grey nodes, each with the position of its next edge to try.
                var path: [(node: Int, next: Int)] = [(root, 0)]
                colour[root] = .grey
                while let (node, next) = path.last {
                    guard next < edges[node].count else {
                        colour[node] = .black
                        path.removeLast()
                        continue
                    }
                    path[path.count - 1].next += 1
                    let target = edges[node][next]
                    switch colour[target] {
                    case .white:
                        colour[target] = .grey
                        path.append((target, 0))
                    case .grey:
                        let start = path.lastIndex(where: { $0.node == target })!
                        var cycle = path[start...].map(\.node)
                        if reported.insert(Set(cycle)).inserted {
                            let first = cycle.indices.min(by: { cycle[$0] < cycle[$1] })!
                            cycle = Array(cycle[first...] + cycle[..<first])
                            found.append(cycle)
                        }
                    case .black:
                        break
                    }
                }
            }
            return found
        }
    }
}
