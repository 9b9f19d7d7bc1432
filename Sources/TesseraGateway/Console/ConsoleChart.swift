import Foundation

/// Precision–recall curves as SVG, drawn on the server: one line per series (recall on x, precision on y, both 0…1),
/// its best F point (Fmax) marked with a circle and named in a legend. Colours are presentation attributes, not
/// `style`: the console's Content-Security-Policy allows no inline CSS. Text is escaped (namespaces are data).
enum ConsoleChart {
    struct Series {
        let name: String
        let recall: [Double]
        let precision: [Double]
        /// Fmax and the point it is reached at.
        let best: (f: Double, recall: Double, precision: Double)?
    }

    static let colours = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2"]
    static let (width, height, margin) = (480.0, 360.0, 48.0)

    static func precisionRecall(_ series: [Series], title: String) -> String {
        let plotWidth = width - 2 * margin
        let plotHeight = height - 2 * margin
        func x(_ recall: Double) -> String { format(margin + min(max(recall, 0), 1) * plotWidth) }
        func y(_ precision: Double) -> String { format(height - margin - min(max(precision, 0), 1) * plotHeight) }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(format(width)) \(format(height))" \
            role="img" aria-labelledby="chart-title" class="chart">
            <title id="chart-title">\(escape(title))</title>
            <rect x="\(format(margin))" y="\(format(margin))" width="\(format(plotWidth))" \
            height="\(format(plotHeight))" fill="none" stroke="#8888"/>

            """
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            svg += """
                <text x="\(x(tick))" y="\(format(height - margin + 16))" text-anchor="middle" font-size="11" \
                fill="currentColor">\(format(tick))</text>
                <text x="\(format(margin - 6))" y="\(y(tick))" text-anchor="end" dominant-baseline="middle" \
                font-size="11" fill="currentColor">\(format(tick))</text>

                """
        }
        svg += """
            <text x="\(format(margin + plotWidth / 2))" y="\(format(height - 8))" text-anchor="middle" \
            font-size="12" fill="currentColor">recall</text>
            <text x="14" y="\(format(margin + plotHeight / 2))" text-anchor="middle" font-size="12" \
            fill="currentColor" transform="rotate(-90 14 \(format(margin + plotHeight / 2)))">precision</text>

            """
        for (index, line) in series.enumerated() {
            let colour = colours[index % colours.count]
            let points = zip(line.recall, line.precision).map { "\(x($0)),\(y($1))" }.joined(separator: " ")
            svg += """
                <polyline class="curve" data-series="\(escape(line.name))" points="\(points)" fill="none" \
                stroke="\(colour)" stroke-width="2"/>

                """
            if let best = line.best {
                svg += """
                    <circle class="fmax" data-series="\(escape(line.name))" cx="\(x(best.recall))" \
                    cy="\(y(best.precision))" r="5" fill="\(colour)" stroke="white" stroke-width="1.5">\
                    <title>\(escape(line.name)): Fmax \(format(best.f, digits: 3))</title></circle>

                    """
            }
            // The legend sits in the plot's lower left, where precision–recall curves seldom go.
            let legendY = format(height - margin - 14 - Double(series.count - 1 - index) * 18)
            let label = line.best.map { "\(line.name) (Fmax \(format($0.f, digits: 3)))" } ?? line.name
            svg += """
                <line x1="\(format(margin + 10))" y1="\(legendY)" x2="\(format(margin + 28))" \
                y2="\(legendY)" stroke="\(colour)" stroke-width="3"/>
                <text x="\(format(margin + 34))" y="\(legendY)" dominant-baseline="middle" font-size="11" \
                fill="currentColor">\(escape(label))</text>

                """
        }
        return svg + "</svg>"
    }

    /// A number with at most `digits` decimals, trailing zeros dropped ("0.25", "128").
    static func format(_ value: Double, digits: Int = 2) -> String {
        let scale = pow(10.0, Double(digits))
        let rounded = (value * scale).rounded() / scale
        if rounded == rounded.rounded() { return String(Int(rounded)) }
        var text = String(rounded)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
