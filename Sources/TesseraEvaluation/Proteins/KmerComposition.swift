/// The built-in embedding recipe, needing no model: a sequence's normalised k-mer composition over the 20 standard
/// amino acids. Each k-mer of standard residues (a window holding any other letter — X, B, Z, U, O — is skipped)
/// counts once; the counts are scaled to unit length (L2), so cosine similarity is a dot product. The vector's
/// dimension is 20^k, the k-mer's index its residues read as base-20 digits in the order of `alphabet`.
public struct KmerComposition: Sendable, Equatable {
    public static let alphabet = Array("ACDEFGHIKLMNPQRSTVWY".utf8)
    public static let allowedK = 1...3

    public let k: Int
    public var dimension: Int { Self.dimension(k: k) }

    public static func dimension(k: Int) -> Int {
        (0..<k).reduce(1) { product, _ in product * alphabet.count }
    }

    public init?(k: Int) {
        guard Self.allowedK.contains(k) else { return nil }
        self.k = k
    }

    private static let digit: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (i, letter) in alphabet.enumerated() { table[Int(letter)] = Int8(i) }
        return table
    }()

    /// The vector of `residues` (upper-case letters); all zeros when no window of k standard residues exists.
    public func vector(_ residues: some Collection<UInt8>) -> [Float] {
        var counts = [Float](repeating: 0, count: dimension)
        let modulus = dimension
        var index = 0
        var run = 0  // standard residues in a row, up to k
        for byte in residues {
            let d = Int(Self.digit[Int(byte)])
            guard d >= 0 else {
                run = 0
                index = 0
                continue
            }
            index = (index * 20 + d) % modulus
            run = min(run + 1, k)
            if run == k { counts[index] += 1 }
        }
        var norm: Float = 0
        for c in counts { norm += c * c }
        guard norm > 0 else { return counts }
        let scale = 1 / norm.squareRoot()
        for i in counts.indices { counts[i] *= scale }
        return counts
    }
}
