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
    if let tx = error as? PostgresTransactionError { return causes(of: tx).contains(where: isConnectionFailure) }
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

/// A failure that may pass on its own, worth taking the work again a little later: the connection
/// (`isConnectionFailure`), the server out of connections for now (53300), a conflict with concurrent work
/// (40001 serialization, 40P01 deadlock, 55006 object in use, 55P03 lock not available), a statement cancelled
/// (57014), or a deadline passed.
public func isTransientFailure(_ error: any Error) -> Bool {
    if isConnectionFailure(error) || error is DeadlineExceeded { return true }
    if let tx = error as? PostgresTransactionError { return causes(of: tx).contains(where: isTransientFailure) }
    guard let psql = error as? PSQLError, psql.code == .server, let state = psql.serverInfo?[.sqlState] else {
        return false
    }
    return ["53300", "40001", "40P01", "55006", "55P03", "57014"].contains(state)
}

/// The errors a failed transaction is made of (its body's, and its BEGIN's, COMMIT's or ROLLBACK's).
private func causes(of tx: PostgresTransactionError) -> [any Error] {
    [tx.closureError, tx.beginError, tx.commitError, tx.rollbackError].compactMap { $0 }
}
