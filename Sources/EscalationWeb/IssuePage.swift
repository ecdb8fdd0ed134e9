import EscalationCore
import EscalationStore
import Foundation
import Logging
import HTTPTypes
import Hummingbird

/// The issue page: what it is, who has it, its deadlines, its chain level by level, its history as
/// sentences, its messages, and a form for each action this viewer may take now. The actions are
/// posted to `/issues/ID/ACTION` with the version the page showed: a form from a stale page is
/// refused with the new state shown, and changes nothing.
extension WebApp {
    /// What a re-rendered form keeps: the action it was, the values typed, a message per field,
    /// and a notice above the page.
    struct FormState {
        var action: String?
        var values: [String: String] = [:]
        var errors: [String: String] = [:]
        var notice: String?
        var problem: String?
    }

    func issuePage(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireViewer(request)
        guard let id = context.parameters.get("id").flatMap(Int64.init) else { return notFound(locale: viewer.locale, viewer: viewer) }
        var state = FormState()
        if request.uri.queryParameters["done"] != nil { state.notice = WebText.strings(viewer.locale)["done"] }
        if request.uri.queryParameters["filed"] != nil { state.notice = WebText.strings(viewer.locale)["report_sent"] }
        return try await renderIssue(id, viewer: viewer, state: state, status: .ok)
    }

    func renderIssue(_ id: Int64, viewer: Viewer, state: FormState, status: HTTPResponse.Status) async throws -> Response {
        guard let issue = try await issues.get(id: id, scope: viewer.actor, logger: logger) else {
            return notFound(locale: viewer.locale, viewer: viewer)
        }
        let compiled = try await directory()
        let wording = compiled.wording(viewer.locale)
        let t = WebText.strings(viewer.locale)
        let now = Date()
        var values = layout(viewer, locale: viewer.locale, title: "#\(issue.id) \(issue.title)")
        values["live_scope"] = "issue"
        values["issue_id"] = "\(issue.id)"
        values["last_event"] = "\(issue.events?.last?.id ?? 0)"
        values["version"] = "\(issue.version)"
        let unit = compiled.directory.units.first { $0.code == issue.unit }
        let time = Self.timeText(issue, wording: wording, policy: compiled.policy, now: now)
        values["issue"] = [
            "id": "\(issue.id)", "title": issue.title, "description": issue.description,
            "unit": wording.names.unit(issue.unit), "area": unit.map { wording.names.area($0.area) } ?? "",
            "sector": wording.names.sector(issue.sector, locale: viewer.locale),
            "severity": wording.severity(issue.severity), "urgent": issue.severity == .urgent,
            "state": wording.state(issue.state), "state_code": issue.state.rawValue,
            "received": wording.dateTime(issue.createdAt), "reporter": issue.reporter.map { $0 as Any } ?? false,
            "time": time.text, "overdue": time.overdue,
        ] as [String: Any]
        let assignments = issue.assignments ?? []
        values["assignments"] = assignments.map { a -> [String: Any] in
            let role = switch a.role {
            case .agency: t["role_agency"]!
            case .member: t["role_member"]!
            case .watcher: t["role_watcher"]!
            }
            return ["role": role, "name": wording.names.target(kind: a.kind, code: a.code), "since": wording.dateTime(a.assignedAt)]
        }
        var deadlines: [[String: String]] = []
        if let at = issue.deadlines.acknowledgeDueAt { deadlines.append(["label": t["acknowledge_due"]!, "at": wording.dateTime(at)]) }
        if let at = issue.deadlines.acknowledgedAt { deadlines.append(["label": t["acknowledged_at"]!, "at": wording.dateTime(at)]) }
        if let at = issue.deadlines.resolveDueAt { deadlines.append(["label": t["resolve_due"]!, "at": wording.dateTime(at)]) }
        if let at = issue.deadlines.resolvedAt { deadlines.append(["label": t["resolved_at"]!, "at": wording.dateTime(at)]) }
        values["deadlines"] = deadlines
        values["no_deadline"] = deadlines.isEmpty
        values["chain"] = chainRows(issue, policy: compiled.policy, wording: wording)
        values["history"] = (issue.events ?? []).reversed().map { event -> [String: Any] in
            let words = EventWording(kind: event.kind, actor: event.actor, accountName: event.accountName, data: event.data, at: event.at)
            var row: [String: Any] = ["at": wording.dateTime(event.at), "sentence": wording.sentence(words), "kind": event.kind]
            if let detail = words.detail { row["detail"] = detail }
            if let kind = words.commentKind { row["comment_kind"] = wording.commentKind(kind) }
            return row
        }
        if viewer.actor.kind == .admin || viewer.actor.kind == .supervisor {
            let messages = try await deliveries.list(state: nil, before: nil, issue: issue.id, limit: 100, logger: logger)
            values["messages"] = messages.map { m -> [String: Any] in
                let parts = m.recipient.split(separator: ":", maxSplits: 1).map(String.init)
                let name = parts.count == 2 ? wording.names.target(kind: TargetKind(rawValue: parts[0]) ?? .agency, code: parts[1]) : m.recipient
                return ["kind": m.kind, "recipient": name, "channel": m.channel, "state": m.state, "dead": m.state == "dead",
                        "attempts": "\(m.attempts)", "at": wording.dateTime(m.sentAt ?? m.createdAt)]
            }
            values["show_messages"] = true
        }
        values["forms"] = actionForms(issue, viewer: viewer, policy: compiled.policy, directory: compiled.directory,
                                      wording: wording, state: state, now: now)
        if let notice = state.notice { values["notice"] = notice }
        if let problem = state.problem { values["error"] = problem }
        return pages.render("issue", values, status: status)
    }

    /// The chain level by level: who each level notifies, when it fired, which comes next and when.
    func chainRows(_ issue: IssueRecord, policy: EscalationPolicy, wording: Wording) -> [[String: Any]] {
        guard let code = issue.escalation.chain, let chain = policy.chain(code) else { return [] }
        let agency = issue.assignments?.first { $0.role == .agency && $0.kind == .agency }?.code
        let member = issue.assignments?.first { $0.role == .member }?.code
        var fired: [Int: Date] = [:]
        for event in issue.events ?? [] where event.kind == "escalated" {
            if case .object(let data) = event.data, case .number(let level)? = data["level"], fired[Int(level)] == nil {
                fired[Int(level)] = event.at
            }
        }
        return chain.levels.indices.map { index -> [String: Any] in
            let level = index + 1
            let names = policy.recipients(chain: code, level: level, agency: agency, member: member).map { wording.names.target(kind: $0.kind, code: $0.code) }
            var row: [String: Any] = ["level": "\(level)", "notifies": names.joined(separator: ", ")]
            if let at = fired[level] { row["fired"] = wording.dateTime(at) }
            if let next = issue.escalation.next, next.level == level {
                row["next"] = wording.dateTime(next.at)
                row["current"] = true
            }
            return row
        }
    }

    /// The forms of the actions this viewer may take on this issue now, as the core decides
    /// (each action tried on the issue as it stands; only those it allows get a form).
    func actionForms(_ issue: IssueRecord, viewer: Viewer, policy: EscalationPolicy, directory: Directory, wording: Wording,
                     state: FormState, now: Date) -> [[String: Any]] {
        let snapshot = Self.snapshot(issue)
        let otherAgency = directory.agencies.first { !snapshot.agencies.contains($0.code) }?.code
        func allowed(_ action: IssueAction) -> Bool {
            (try? IssueLifecycle.apply(action, to: snapshot, actor: viewer.actor, policy: policy, now: now)) != nil
        }
        let t = WebText.strings(viewer.locale)
        var forms: [[String: Any]] = []
        func form(_ name: String, _ extra: [String: Any] = [:]) {
            var values: [String: Any] = ["name": name, "label": t[name] ?? name, "is_\(name)": true, "version": "\(issue.version)",
                                         "action": "/issues/\(issue.id)/\(name)"]
            if state.action == name {
                values["v"] = state.values
                values["e"] = state.errors
            }
            values.merge(extra) { _, new in new }
            forms.append(values)
        }
        if allowed(.acknowledge) { form("acknowledge") }
        if allowed(.resolve(resolution: "x")) { form("resolve") }
        if let other = otherAgency, allowed(.reassign(agency: other, reason: "x")) {
            let chosen = state.action == "reassign" ? state.values["agency"] : nil
            form("reassign", ["agencies": directory.agencies.filter { !snapshot.agencies.contains($0.code) }.map {
                ["value": $0.code, "label": $0.name, "selected": chosen == $0.code]
            }])
        }
        let clocks = DeadlineClock.allCases.filter { allowed(.extend(deadline: $0, bySeconds: 3600, reason: "x")) }
        if !clocks.isEmpty {
            let chosen = state.action == "extend" ? state.values["deadline"] : nil
            form("extend", ["clocks": clocks.map { ["value": $0.rawValue, "label": wording.deadline($0), "selected": chosen == $0.rawValue] }])
        }
        if allowed(.reopen(reason: "x")) { form("reopen") }
        if allowed(.close) { form("close") }
        if allowed(.comment(kind: .note, text: "x")) {
            // The member in charge gives opinions and directions; an agency guidance.
            let kinds: [CommentKind] = switch viewer.actor.kind {
            case .member, .supervisor: [.direction, .opinion, .guidance, .note]
            case .agency: [.guidance, .note]
            case .unit, .admin: [.note]
            }
            let chosen = state.action == "comment" ? state.values["kind"] : nil
            form("comment", ["kinds": kinds.map { ["value": $0.rawValue, "label": wording.commentKind($0), "selected": chosen == $0.rawValue] }])
        }
        return forms
    }

    static func snapshot(_ issue: IssueRecord) -> IssueSnapshot {
        IssueSnapshot(
            state: issue.state, sector: issue.sector, severity: issue.severity, chain: issue.escalation.chain, level: issue.escalation.level,
            acknowledgeDue: issue.deadlines.acknowledgeDueAt, resolveDue: issue.deadlines.resolveDueAt, version: issue.version,
            agencies: (issue.assignments ?? []).filter { $0.kind == .agency && $0.role == .agency }.map(\.code),
            unit: issue.unit, member: issue.assignments?.first { $0.role == .member }?.code)
    }

    // MARK: Acting

    func act(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireViewer(request)
        guard let id = context.parameters.get("id").flatMap(Int64.init), let name = context.parameters.get("action") else {
            return notFound(locale: viewer.locale, viewer: viewer)
        }
        guard let fields = try await form(request, viewer: viewer) else { return csrfRefused(viewer) }
        let t = WebText.strings(viewer.locale)
        var state = FormState(action: name, values: fields.values)
        state.values["csrf"] = nil
        let vi = viewer.locale == .vi
        func text(_ field: String) -> String? {
            do {
                return try ActionText.reason(fields[field] ?? "", field: field)
            } catch {
                state.errors[field] = Self.fieldMessage(error, locale: viewer.locale)
                return nil
            }
        }
        let action: IssueAction?
        switch name {
        case "acknowledge": action = .acknowledge
        case "close": action = .close
        case "resolve": action = text("resolution").map { .resolve(resolution: $0) }
        case "reopen": action = text("reason").map { .reopen(reason: $0) }
        case "comment":
            let kind = CommentKind(rawValue: fields["kind"] ?? "")
            if kind == nil { state.errors["kind"] = t["invalid"]! }
            let body = text("text")
            action = kind.flatMap { kind in body.map { .comment(kind: kind, text: $0) } }
        case "reassign":
            let agency = fields.text("agency")
            if agency == nil { state.errors["agency"] = t["required"]! }
            let reason = text("reason")
            action = agency.flatMap { agency in reason.map { .reassign(agency: agency, reason: $0) } }
        case "extend":
            let clock = DeadlineClock(rawValue: fields["deadline"] ?? "")
            if clock == nil { state.errors["deadline"] = t["invalid"]! }
            let seconds = fields.text("by").flatMap(DurationText.seconds)
            if seconds == nil {
                state.errors["by"] = vi ? "Viết thời gian thêm dạng 4h, 2d hoặc 1h30m." : "Write the extension as 4h, 2d or 1h30m."
            }
            let reason = text("reason")
            action = clock.flatMap { clock in seconds.flatMap { seconds in reason.map { .extend(deadline: clock, bySeconds: seconds, reason: $0) } } }
        default:
            return notFound(locale: viewer.locale, viewer: viewer)
        }
        guard let version = fields.text("version").flatMap(Int.init) else {
            state.problem = t["stale"]
            return try await renderIssue(id, viewer: viewer, state: state, status: .conflict)
        }
        guard let action, state.errors.isEmpty else {
            state.problem = t["fix_below"]
            return try await renderIssue(id, viewer: viewer, state: state, status: .badRequest)
        }
        do {
            try await lifecycle.perform(action, issue: id, actor: viewer.actor, person: viewer.person, expectedVersion: version, logger: logger)
        } catch let error as IssueActionError {
            switch error {
            case .notFound:
                return notFound(locale: viewer.locale, viewer: viewer)
            case .forbidden:
                return forbidden(viewer)
            case .staleVersion, .conflict, .notResponsible:
                // The page was out of date: show the issue as it is now, with the values typed kept.
                var stale = FormState(action: name, values: state.values)
                stale.problem = t["stale"]
                return try await renderIssue(id, viewer: viewer, state: stale, status: .conflict)
            case .unknownAgency, .alreadyAssigned:
                state.errors["agency"] = t["invalid"]!
            case .noDeadline:
                state.errors["deadline"] = t["no_deadline"]!
            }
            state.problem = t["fix_below"]
            return try await renderIssue(id, viewer: viewer, state: state, status: .badRequest)
        }
        logger.info("web action", metadata: ["issue.id": "\(id)", "action": "\(name)", "account.id": "\(viewer.account.id)"])
        return PageRenderer.redirect("/issues/\(id)?done=1")
    }

    /// A field's problem in the viewer's language: the core says it in English for the API.
    static func fieldMessage(_ error: FieldError, locale: PersonLocale) -> String {
        let t = WebText.strings(locale)
        if error.message.hasPrefix("must not be empty") || error.message.hasPrefix("is required") { return t["required"]! }
        if error.message.contains("longer than") {
            return locale == .vi ? "\(t["too_long"]!) (\(error.message.replacingOccurrences(of: "is longer than", with: "tối đa").replacingOccurrences(of: "characters", with: "ký tự")))" : error.message.capitalizedFirst
        }
        return locale == .vi ? t["invalid"]! : error.message.capitalizedFirst
    }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
