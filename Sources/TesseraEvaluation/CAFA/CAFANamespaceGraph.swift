import TesseraCore

/// The DAG of one namespace, with cafaeval's term indexing (file order of kept terms).
public struct CAFANamespaceGraph: Sendable {
    /// The namespace name.
    public let namespace: String
    /// Canonical term identifiers by index.
    public let termIDs: [String]
    /// Canonical term identifier to index.
    public let index: [String: Int32]
    /// Alternative identifier to the canonical indexes it maps to (sorted, deduplicated).
    public let altIndex: [String: [Int32]]
    /// CSR offsets into `parentIndices` (count + 1 entries).
    public let parentOffsets: [Int32]
    /// Flattened direct parent indexes (same namespace only, deduplicated).
    public let parentIndices: [Int32]
    /// Topological order, leaves first (cafaeval's Kahn order starting from terms without children).
    public let topologicalOrder: [Int32]

    /// Number of terms in this namespace.
    public var count: Int { termIDs.count }

    /// Builds the graph; `parents[i]` lists parent identifiers of term `i` (unknown ones are dropped).
    init(namespace: String, termIDs: [String], parents: [[String]], altIds: [[String]]) throws {
        self.namespace = namespace
        self.termIDs = termIDs
        var index: [String: Int32] = [:]
        index.reserveCapacity(termIDs.count)
        for (i, id) in termIDs.enumerated() { index[id] = Int32(i) }
        self.index = index
        var alt: [String: [Int32]] = [:]
        for (i, ids) in altIds.enumerated() {
            for a in ids where !(alt[a]?.contains(Int32(i)) ?? false) { alt[a, default: []].append(Int32(i)) }
        }
        self.altIndex = alt.mapValues { $0.sorted() }
        var offsets: [Int32] = [0]
        offsets.reserveCapacity(termIDs.count + 1)
        var flat: [Int32] = []
        for i in 0..<termIDs.count {
            var seen: [Int32] = []
            for p in parents[i] {
                if let j = index[p], !seen.contains(j) { seen.append(j) }
            }
            flat.append(contentsOf: seen)
            offsets.append(Int32(flat.count))
        }
        self.parentOffsets = offsets
        self.parentIndices = flat
        self.topologicalOrder = try Self.topologicalSort(
            namespace: namespace, count: termIDs.count,
            offsets: offsets, parents: flat)
    }

    /// Kahn's algorithm as in cafaeval's `Graph.top_sort` (in-degree = number of children).
    static func topologicalSort(namespace: String, count: Int, offsets: [Int32], parents: [Int32]) throws -> [Int32] {
        var children = [Int32](repeating: 0, count: count)
        for p in parents { children[Int(p)] += 1 }
        var queue: [Int32] = []
        queue.reserveCapacity(count)
        for i in 0..<count where children[i] == 0 { queue.append(Int32(i)) }
        var head = 0
        while head < queue.count {
            let node = Int(queue[head])
            head += 1
            for k in Int(offsets[node])..<Int(offsets[node + 1]) {
                let p = Int(parents[k])
                children[p] -= 1
                if children[p] == 0 { queue.append(Int32(p)) }
            }
        }
        guard queue.count == count else { throw CAFAOntologyError.cycle(namespace: namespace) }
        return queue
    }

    /// Direct parent indexes of the term at `i`.
    public func parents(ofIndex i: Int) -> ArraySlice<Int32> {
        parentIndices[Int(parentOffsets[i])..<Int(parentOffsets[i + 1])]
    }

    /// True when the term at `i` has at least one parent in this namespace (cafaeval's non-orphan).
    public func hasParent(_ i: Int) -> Bool { parentOffsets[i + 1] > parentOffsets[i] }

    /// All transitive ancestor indexes of the term at `i` (excluding itself), sorted ascending.
    public func ancestors(ofIndex i: Int) -> [Int32] {
        var visited = Set<Int32>()
        var stack: [Int32] = Array(parents(ofIndex: i))
        while let t = stack.popLast() {
            if visited.insert(t).inserted { stack.append(contentsOf: parents(ofIndex: Int(t))) }
        }
        return visited.sorted()
    }
}
