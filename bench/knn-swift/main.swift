// bench/knn's Swift side: Tessera's exact nearest-neighbour search (TesseraEvaluation's ExactNeighbourSearch, the
// code the knn-transfers route runs) over vectors bench/knn wrote, timed without the file reading.
//
//   bench-knn REFS QUERIES DIM K METRIC THREADS OUT
//
// REFS and QUERIES hold float32 rows of DIM values (little-endian, row after row); OUT receives each query's K
// neighbours as int32 rows, nearest first. Prints `seconds <search time>`.
import Foundation
import TesseraEvaluation

let arguments = CommandLine.arguments
guard arguments.count == 8, let dimension = Int(arguments[3]), let k = Int(arguments[4]),
    let metric = VectorMetric(rawValue: arguments[5]), let threads = Int(arguments[6])
else {
    FileHandle.standardError.write(Data("usage: bench-knn REFS QUERIES DIM K cosine|l2 THREADS OUT\n".utf8))
    exit(2)
}

func rows(_ path: String) throws -> VectorRows {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let count = data.count / 4 / dimension
    var rows = VectorRows(dimension: dimension, capacity: count)
    data.withUnsafeBytes { raw in
        let floats = raw.bindMemory(to: Float.self)
        for row in 0..<count { rows.append(floats[row * dimension..<(row + 1) * dimension]) }
    }
    return rows
}

let references = try rows(arguments[1])
let queries = try rows(arguments[2])
let started = ContinuousClock.now
let search = ExactNeighbourSearch(references: references, metric: metric)
let found = search.search(queries, k: k, threads: threads)
let elapsed = ContinuousClock.now - started
var out = Data(capacity: found.count * k * 4)
for neighbours in found {
    for i in 0..<k {
        var row = Int32(i < neighbours.count ? neighbours[i].row : -1).littleEndian
        withUnsafeBytes(of: &row) { out.append(contentsOf: $0) }
    }
}
try out.write(to: URL(fileURLWithPath: arguments[7]))
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print("seconds \(seconds)")
