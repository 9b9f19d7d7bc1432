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

/// The connection under the work failed or could not be had (server gone, network cut, pool closed): the
/// database is unreachable, not the request at fault.
public func isConnectionFailure(_ error: any Error) -> Bool {
    if let tx = error as? PostgresTransactionError {
        return [tx.closureError, tx.beginError, tx.commitError, tx.rollbackError].contains {
            $0.map(isConnectionFailure) ?? false
        }
    }
    // PostgresClient's pool gave up (circuit breaker open, pool shut down); its error type is not public.
    if String(describing: type(of: error)) == "ConnectionPoolError" { return true }
    guard let psql = error as? PSQLError else { return false }
    if psql.code == .server, let state = psql.serverInfo?[.sqlState] {
        // 08…: connection exceptions; 57P01–57P03: the server is shutting down, crashed or starting up.
        return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
    }
    return [.connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed].contains(
        psql.code)
}
