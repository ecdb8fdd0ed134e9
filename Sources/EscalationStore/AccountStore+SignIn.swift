import EscalationCore
public import Foundation
public import Logging
import PostgresNIO

/// Signing in: throttled, timed the same for every email, and a new session when it succeeds.
extension AccountStore {
    public enum SignInError: Error, Sendable, Equatable {
        /// The email is unknown, the password is wrong, or no password is set yet (one answer for all).
        case invalidCredentials
        /// Too many failures for this email or from this address: try again at `retryAt`.
        case throttled(retryAt: Date)
        /// The password is right but the account is disabled.
        case disabled
    }

    /// Checks an email and password and starts a session; returns it with its secret (the cookie
    /// value, shown once).
    ///
    /// Each attempt is first counted as a failure (per email as typed, known or not, and per client
    /// `address`), under a lock per email and per address, so that attempts made at the same time
    /// on any replica are held to the limits together; a success then removes the email's failures.
    /// An unknown email is compared against a dummy hash of the same cost, so the time taken does
    /// not tell whether the account exists. The password is never logged.
    public func signIn(email: String, password: String, address: String, logger: Logger) async throws -> (session: SessionStore.Session, secret: String) {
        let key = String(email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased().prefix(254))
        let clientAddress = String(address.prefix(100))
        let attemptID: Int64
        switch try await countAttempt(emailKey: key, address: clientAddress, logger: logger) {
        case .allow(let id): attemptID = id
        case .refuse(let retryAt): throw SignInError.throttled(retryAt: retryAt)
        }

        let rows = try await client.query(
            "SELECT id, password_hash, disabled_at IS NOT NULL FROM escalated.accounts WHERE lower(email) = lower(\(key))", logger: logger
        ).decode((Int64, String?, Bool).self)
        let found = try await rows.first { _ in true }
        // A password the policy could never have accepted is compared as an empty one, against the
        // dummy: it is wrong, and it takes the same time.
        let candidate = password.precomposedStringWithCanonicalMapping
        let usable = candidate.utf8.count <= PasswordPolicy.bcryptMaximumBytes && !candidate.unicodeScalars.contains("\u{0}")
        let matches = try await PasswordHasher(cost: settings.passwordCost).verify(usable ? candidate : "", hash: usable ? found?.1 : nil)

        guard let (accountID, _, disabled) = found, matches else {
            logger.notice("sign-in failed", metadata: ["account.id": "\(found.map { "\($0.0)" } ?? "none")", "client.address": "\(clientAddress)"])
            throw SignInError.invalidCredentials
        }
        // The password was right: this attempt, and the email's earlier failures, do not count.
        try await client.query("""
            DELETE FROM escalated.sign_in_failures WHERE id = \(attemptID) OR email_key = \(key)
            """, logger: logger)
        guard !disabled, let started = try await SessionStore(client: client, policy: settings.session).start(accountID: accountID, address: clientAddress, logger: logger) else {
            logger.notice("sign-in refused: account disabled", metadata: ["account.id": "\(accountID)"])
            throw SignInError.disabled
        }
        logger.info("signed in", metadata: ["account.id": "\(accountID)", "session.id": "\(started.session.id)"])
        return started
    }

    enum Attempt: Equatable {
        /// Counted, provisionally as a failure, with this row id.
        case allow(Int64)
        case refuse(retryAt: Date)
    }

    /// Decides whether an attempt may be made now and, when it may, records it as a failure, in one
    /// transaction holding the email's and the address's locks (taken in that order, in two key
    /// spaces, so two attempts never wait on each other in a cycle). Failures older than the window
    /// are deleted on the way.
    func countAttempt(emailKey: String, address: String, logger: Logger) async throws -> Attempt {
        let throttle = settings.throttle
        let window = throttle.window.timeInterval
        return try await client.inTransaction(logger: logger) { connection in
            try await connection.query("""
                SELECT pg_advisory_xact_lock(hashtext('escalated.sign_in.email'), hashtext(\(emailKey))),
                       pg_advisory_xact_lock(hashtext('escalated.sign_in.address'), hashtext(\(address)))
                """, logger: logger)
            var now = Date()
            var byEmail: [Date] = []
            var byAddress: [Date] = []
            for try await (isEmail, at, serverNow) in try await connection.query("""
                (SELECT true, at, now() FROM escalated.sign_in_failures
                  WHERE email_key = \(emailKey) AND at > now() - make_interval(secs => \(window)) ORDER BY at DESC LIMIT \(throttle.perAccount))
                UNION ALL
                (SELECT false, at, now() FROM escalated.sign_in_failures
                  WHERE address = \(address) AND at > now() - make_interval(secs => \(window)) ORDER BY at DESC LIMIT \(throttle.perAddress))
                UNION ALL
                SELECT NULL, now(), now()
                """, logger: logger).decode((Bool?, Date, Date).self) {
                now = serverNow
                if isEmail == true { byEmail.append(at) } else if isEmail == false { byAddress.append(at) }
            }
            if case .refuse(let retryAt) = throttle.decide(accountFailures: byEmail, addressFailures: byAddress, now: now) {
                logger.notice("sign-in throttled", metadata: ["client.address": "\(address)", "retry.at": "\(retryAt.timeIntervalSince1970)"])
                return .refuse(retryAt: retryAt)
            }
            try await connection.query(
                "DELETE FROM escalated.sign_in_failures WHERE at <= now() - make_interval(secs => \(window))", logger: logger)
            let rows = try await connection.query("""
                INSERT INTO escalated.sign_in_failures (email_key, address) VALUES (\(emailKey), \(address)) RETURNING id
                """, logger: logger).decode(Int64.self)
            guard let id = try await rows.first(where: { _ in true }) else { throw DirectoryJSON.Corrupt(description: "INSERT INTO sign_in_failures returned no row") }
            return .allow(id)
        }
    }
}
