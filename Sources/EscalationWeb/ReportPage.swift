import EscalationCore
import EscalationStore
import Foundation
import Logging
import HTTPTypes
import Hummingbird

/// The "new report" form of a commune or ward (the operator may file for any unit).
extension WebApp {
    func reportPage(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireViewer(request)
        guard viewer.actor.may(.create) else { return forbidden(viewer) }
        return try await renderReport(viewer: viewer, values: ["severity": "normal"], errors: [:], status: .ok)
    }

    func renderReport(viewer: Viewer, values form: [String: String], errors: [String: String], status: HTTPResponse.Status) async throws -> Response {
        let compiled = try await directory()
        let directory = compiled.directory
        let wording = compiled.wording(viewer.locale)
        let t = WebText.strings(viewer.locale)
        var values = layout(viewer, locale: viewer.locale, title: t["new_report"]!)
        values["v"] = form
        values["e"] = errors
        if !errors.isEmpty { values["error"] = t["fix_below"]! }
        values["sectors"] = directory.sectors.map { ["value": $0.code, "label": wording.names.sector($0.code, locale: viewer.locale), "selected": form["sector"] == $0.code] }
        values["severities"] = Severity.allCases.map { ["value": $0.rawValue, "label": wording.severity($0), "checked": (form["severity"] ?? "normal") == $0.rawValue] }
        if viewer.actor.kind == .unit {
            values["unit_name"] = wording.names.unit(viewer.actor.code ?? "")
        } else {
            values["choose_unit"] = true
            values["units"] = directory.units.map { ["value": $0.code, "label": $0.name, "selected": form["unit"] == $0.code] }
        }
        values["title_max"] = "\(NewIssue.maximumTitleLength)"
        return pages.render("report", values, status: status)
    }

    func report(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireViewer(request)
        guard viewer.actor.may(.create) else { return forbidden(viewer) }
        guard let fields = try await form(request, viewer: viewer) else { return csrfRefused(viewer) }
        var values = fields.values
        values["csrf"] = nil
        let unit = viewer.actor.kind == .unit ? (viewer.actor.code ?? "") : (fields.text("unit") ?? "")
        let directory = try await directory().directory
        var errors: [String: String] = [:]
        let t = WebText.strings(viewer.locale)
        if viewer.actor.kind != .unit, !directory.units.contains(where: { $0.code == unit }) { errors["unit"] = unit.isEmpty ? t["required"]! : t["invalid"]! }
        let sector = fields.text("sector") ?? ""
        if !directory.sectors.contains(where: { $0.code == sector }) { errors["sector"] = sector.isEmpty ? t["required"]! : t["invalid"]! }
        // Every field's problem at once: check, and when a field is refused put a valid stand-in in
        // its place and check the others again.
        var candidate = (unit: "u", sector: "s", severity: fields["severity"] ?? "normal", title: fields["title"] ?? "",
                         description: fields["description"] ?? "", reporter: fields.text("reporter"))
        var issue: NewIssue?
        for _ in 0..<6 {
            do {
                issue = try NewIssue.validated(unit: candidate.unit, sector: candidate.sector, severity: candidate.severity,
                                               title: candidate.title, description: candidate.description, reporter: candidate.reporter)
                break
            } catch {
                errors[error.field] = Self.fieldMessage(error, locale: viewer.locale)
                switch error.field {
                case "severity": candidate.severity = "normal"
                case "title": candidate.title = "x"
                case "description": candidate.description = ""
                case "reporter": candidate.reporter = nil
                default: candidate.unit = "u"; candidate.sector = "s"
                }
            }
        }
        guard errors.isEmpty, var issue else {
            return try await renderReport(viewer: viewer, values: values, errors: errors, status: .badRequest)
        }
        issue.unit = unit
        issue.sector = sector
        do {
            let created = try await issues.create(issue, origin: .web, reportedBy: viewer.actor.description, person: viewer.person, logger: logger)
            logger.info("web report filed", metadata: ["issue.id": "\(created.id)", "account.id": "\(viewer.account.id)"])
            return PageRenderer.redirect("/issues/\(created.id)?filed=1")
        } catch let error as IssueStore.CreateError {
            if case .unknown(let field, _) = error { errors[field] = t["invalid"]! }
            return try await renderReport(viewer: viewer, values: values, errors: errors, status: .badRequest)
        }
    }
}
