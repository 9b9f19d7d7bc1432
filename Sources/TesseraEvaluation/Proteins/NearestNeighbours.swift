import CVectors
import Dispatch

/// How neighbours are measured: cosine distance (1 − cosine similarity, vectors compared by direction) or
/// Euclidean distance.
public enum VectorMetric: String, Sendable, CaseIterable {
    case cosine
    case l2

    /// The similarity a neighbour at `distance` votes with: the cosine similarity (at least 0), or 1 / (1 + d).
    public func similarity(_ distance: Float) -> Double {
        switch self {
        case .cosine: max(0, 1 - Double(distance))
        case .l2: 1 / (1 + Double(distance))
        }
    }
}

/// One neighbour found: the reference's row and its distance.
public struct Neighbour: Sendable, Equatable {
    public let row: Int
    public let distance: Float

    public init(row: Int, distance: Float) {
        (self.row, self.distance) = (row, distance)
    }
}

/// Vectors of one dimension, row after row, each padded with zeros to a multiple of 16 floats (the kernel's width).
public struct VectorRows: Sendable {
    public let dimension: Int
    let stride: Int
    var storage: [Float]
    public private(set) var count = 0

    public init(dimension: Int, capacity: Int = 0) {
        precondition(dimension > 0)
        self.dimension = dimension
        self.stride = (dimension + 15) / 16 * 16
        self.storage = []
        storage.reserveCapacity(capacity * stride)
    }

    public mutating func append(_ vector: some Collection<Float>) {
        precondition(vector.count == dimension)
        storage.append(contentsOf: vector)
        storage.append(contentsOf: repeatElement(0, count: stride - dimension))
        count += 1
    }

    public subscript(row: Int) -> ArraySlice<Float> { storage[row * stride..<row * stride + dimension] }

    /// Every row scaled to unit length (a zero row stays zero): cosine similarity is then a dot product.
    func normalised() -> VectorRows {
        var copy = self
        for row in 0..<count {
            let base = row * stride
            var norm: Float = 0
            for i in base..<base + dimension { norm += copy.storage[i] * copy.storage[i] }
            guard norm > 0 else { continue }
            let scale = 1 / norm.squareRoot()
            for i in base..<base + dimension { copy.storage[i] *= scale }
        }
        return copy
    }

    func squaredNorms() -> [Float] {
        (0..<count).map { row in
            storage[row * stride..<row * stride + dimension].reduce(0) { $0 + $1 * $1 }
        }
    }
}

/// Exact k-nearest-neighbour search over stored vectors: inner products by blocks (a tile of references stays in
/// cache while a block of queries passes over it; a C kernel built for AVX-512, AVX2 and plain x86-64), the k best
/// of each query kept in a bounded heap, queries split across the cores. Every reference is compared with every
/// query: the neighbours are exact, ties broken by the lower row.
public struct ExactNeighbourSearch: Sendable {
    public let metric: VectorMetric
    let references: VectorRows
    let norms: [Float]

    static let queryBlock = 64
    static let referenceTile = 256

    public init(references: VectorRows, metric: VectorMetric) {
        self.metric = metric
        switch metric {
        case .cosine:
            self.references = references.normalised()
            self.norms = []
        case .l2:
            self.references = references
            self.norms = references.squaredNorms()
        }
    }

    public var count: Int { references.count }

    /// The k nearest references of each query, nearest first, none farther than `maxDistance` when given.
    public func search(_ queries: VectorRows, k: Int, maxDistance: Float? = nil, threads: Int = 2) -> [[Neighbour]] {
        precondition(queries.dimension == references.dimension)
        guard k > 0, queries.count > 0, references.count > 0 else {
            return Array(repeating: [], count: queries.count)
        }
        let prepared = metric == .cosine ? queries.normalised() : queries
        let queryNorms = metric == .l2 ? prepared.squaredNorms() : []
        let blocks = (prepared.count + Self.queryBlock - 1) / Self.queryBlock
        let results = ResultSlots(count: prepared.count)
        let workers = max(1, min(threads, blocks))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var scores = [Float](repeating: 0, count: Self.queryBlock * Self.referenceTile)
            var block = worker
            while block < blocks {
                let first = block * Self.queryBlock
                let rows = min(Self.queryBlock, prepared.count - first)
                var heaps = (0..<rows).map { _ in NeighbourHeap(k: k) }
                var tile = 0
                while tile < references.count {
                    let width = min(Self.referenceTile, references.count - tile)
                    prepared.storage.withUnsafeBufferPointer { q in
                        references.storage.withUnsafeBufferPointer { r in
                            scores.withUnsafeMutableBufferPointer { out in
                                tessera_inner_products(
                                    q.baseAddress! + first * prepared.stride, rows,
                                    r.baseAddress! + tile * references.stride, width, references.stride,
                                    out.baseAddress!, Self.referenceTile)
                            }
                        }
                    }
                    for i in 0..<rows {
                        let line = i * Self.referenceTile
                        // Most references lose to the k held: compared with the worst held before anything else.
                        var bound = min(heaps[i].bound, maxDistance ?? .infinity)
                        let queryNorm = metric == .l2 ? queryNorms[first + i] : 0
                        for j in 0..<width {
                            let distance =
                                metric == .cosine
                                ? 1 - scores[line + j]
                                : max(0, queryNorm + norms[tile + j] - 2 * scores[line + j]).squareRoot()
                            guard distance <= bound else { continue }
                            heaps[i].offer(Neighbour(row: tile + j, distance: distance))
                            bound = min(heaps[i].bound, maxDistance ?? .infinity)
                        }
                    }
                    tile += width
                }
                for i in 0..<rows { results.set(first + i, heaps[i].sorted()) }
                block += workers
            }
        }
        return results.values
    }
}

/// Each query's slot written by exactly one worker.
private final class ResultSlots: @unchecked Sendable {
    private var slots: UnsafeMutableBufferPointer<[Neighbour]>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: [])
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    func set(_ index: Int, _ value: [Neighbour]) { slots[index] = value }

    var values: [[Neighbour]] { Array(slots) }
}

/// The k best neighbours seen so far: a max-heap on (distance, row), whose top is the one to beat.
struct NeighbourHeap {
    let k: Int
    private(set) var items: [Neighbour] = []

    init(k: Int) {
        self.k = k
        items.reserveCapacity(k)
    }

    /// The distance a newcomer must not exceed to be offered: the worst held once k are held.
    var bound: Float { items.count < k ? .infinity : items[0].distance }

    static func worse(_ a: Neighbour, _ b: Neighbour) -> Bool {
        a.distance != b.distance ? a.distance > b.distance : a.row > b.row
    }

    mutating func offer(_ n: Neighbour) {
        if items.count < k {
            items.append(n)
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard Self.worse(items[child], items[parent]) else { break }
                items.swapAt(child, parent)
                child = parent
            }
            return
        }
        guard Self.worse(items[0], n) else { return }
        items[0] = n
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < items.count else { break }
            var worst = left
            if left + 1 < items.count, Self.worse(items[left + 1], items[left]) { worst = left + 1 }
            guard Self.worse(items[worst], items[parent]) else { break }
            items.swapAt(worst, parent)
            parent = worst
        }
    }

    func sorted() -> [Neighbour] { items.sorted { Self.worse($1, $0) } }
}
