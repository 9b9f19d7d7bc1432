import TesseraCore

/// The threshold grid, bit-identical to numpy's `np.arange(step, 1, step)`.
public struct CAFATauGrid: Sendable, Hashable {
    /// Threshold values in ascending order.
    public let values: [Double]

    /// Builds `np.arange(step, 1, step)`: length `ceil((1 - step) / step)`, values `step + i * step`.
    public init(step: Double) {
        guard step > 0, step < 1, step.isFinite else {
            values = []
            return
        }
        let length = Int(((1.0 - step) / step).rounded(.up))
        // numpy fills buffer[0] = start, delta = (start + step) - start, buffer[i] = start + i * delta.
        let delta = (step + step) - step
        var v: [Double] = []
        v.reserveCapacity(max(length, 0))
        for i in 0..<max(length, 0) { v.append(i == 0 ? step : step + Double(i) * delta) }
        values = v
    }

    /// Number of taus `tau` with `tau <= score`, i.e. how many thresholds the score passes (`score >= tau`).
    @inline(__always) public func passCount(_ score: Double) -> Int {
        var lo = 0
        var hi = values.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if score >= values[mid] { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
