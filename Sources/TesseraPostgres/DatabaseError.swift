import PostgresNIO

/// The server's message for a failed statement or transaction, without the driver's noise
/// (PSQLError's description hides the server message on purpose; the operator needs it).
public func describeDatabaseError(_ error: any Error) -> String {
    if let tx = error as? PostgresTransactionError {
        guard let cause = tx.closureError ?? tx.commitError ?? tx.beginError ?? tx.rollbackError else {
            return "transaction failed"
        }
        return describeDatabaseError(cause)
    }
    if let psql = error as? PSQLError {
        if let message = psql.serverInfo?[.message] {
            let state = psql.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return message + state
        }
        return "\(psql.code)"
    }
    return String(describing: error)
}
