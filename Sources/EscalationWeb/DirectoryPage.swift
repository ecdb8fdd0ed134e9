import EscalationCore
import EscalationStore
import EscalationYAML
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MultipartKit
import NIOCore

/// The operator's directory page: what is loaded, the file to download, and an upload form that
/// checks a new file as the command line and the API do (every problem by line) before importing it.
extension WebApp {
    /// The largest directory file accepted (as the API's).
    static let maximumDirectorySize = 4 * 1024 * 1024

    func directoryPage(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireAdmin(request)
        return try await renderDirectory(viewer: viewer, problems: [], notice: nil, status: .ok)
    }

    func renderDirectory(viewer: Viewer, problems: [String], notice: String?, status: HTTPResponse.Status) async throws -> Response {
        let loaded = try await DirectoryStore(client: client).load(logger: logger)
        let d = loaded.directory
        let vi = viewer.locale == .vi
        var values = layout(viewer, locale: viewer.locale, title: vi ? "Danh mục" : "Directory")
        values["revision"] = "\(loaded.revision)"
        values["counts"] = [
            (vi ? "Đơn vị cấp xã" : "Units", d.units.count), (vi ? "Địa bàn" : "Areas", d.areas.count),
            (vi ? "Cơ quan" : "Agencies", d.agencies.count), (vi ? "Lĩnh vực" : "Sectors", d.sectors.count),
            (vi ? "Người" : "People", d.people.count), (vi ? "Quy tắc chuyển" : "Routing rules", d.rules.count),
            (vi ? "Chuỗi nâng mức" : "Chains", d.chains.count), (vi ? "Lịch làm việc" : "Calendars", d.calendars.count),
        ].map { ["label": $0.0, "count": "\($0.1)"] }
        values["problems"] = problems
        values["has_problems"] = !problems.isEmpty
        if !problems.isEmpty { values["error"] = vi ? "Tệp chưa được nhập: \(problems.count) lỗi bên dưới. Danh mục hiện tại giữ nguyên." : "The file was not imported: \(problems.count) problems below. The current directory is unchanged." }
        if let notice { values["notice"] = notice }
        return pages.render("directory", values, status: status)
    }

    func downloadDirectory(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        _ = try await requireAdmin(request)
        let loaded = try await DirectoryStore(client: client).load(logger: logger)
        let text = DirectoryFile.render(loaded.directory, header: "escalated directory, revision \(loaded.revision)")
        var headers: HTTPFields = [.contentType: "application/yaml; charset=utf-8", .cacheControl: "no-store",
                                   .contentDisposition: "attachment; filename=\"directory-\(loaded.revision).yaml\""]
        for (name, value) in PageRenderer.securityHeaders { headers[name] = value }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The upload form's fields (multipart/form-data).
    struct DirectoryUpload: Decodable {
        var csrf: String?
        var file: String?
    }

    func uploadDirectory(_ request: Request, _ context: some WebRequestContext) async throws -> Response {
        let viewer = try await requireAdmin(request)
        let vi = viewer.locale == .vi
        let type = request.headers[.contentType] ?? ""
        guard type.lowercased().hasPrefix("multipart/form-data"),
              let boundary = type.split(separator: ";").compactMap({ part -> String? in
                  let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                  return pair.count == 2 && pair[0].lowercased() == "boundary" ? pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) : nil
              }).first else {
            return try await renderDirectory(viewer: viewer, problems: [vi ? "Hãy gửi tệp bằng biểu mẫu trên trang này." : "Send the file with this page's form."], notice: nil, status: .badRequest)
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maximumDirectorySize + 64 * 1024)
        } catch is NIOTooManyBytesError {
            return try await renderDirectory(viewer: viewer, problems: [vi ? "Tệp lớn hơn 4 MB." : "The file is larger than 4 MB."], notice: nil, status: .contentTooLarge)
        }
        guard let upload = try? FormDataDecoder().decode(DirectoryUpload.self, from: body, boundary: boundary) else {
            return try await renderDirectory(viewer: viewer, problems: [vi ? "Không đọc được biểu mẫu." : "The form could not be read."], notice: nil, status: .badRequest)
        }
        guard viewer.session.verifyCSRF(upload.csrf ?? "") else { return csrfRefused(viewer) }
        guard let text = upload.file, !text.isEmpty else {
            return try await renderDirectory(viewer: viewer, problems: [vi ? "Chưa chọn tệp." : "No file was chosen."], notice: nil, status: .badRequest)
        }
        let parsed: Directory
        do {
            parsed = try DirectoryFile.parse(text, file: "directory.yaml")
        } catch {
            return try await renderDirectory(viewer: viewer, problems: Array(error.problems.prefix(200)), notice: nil, status: .badRequest)
        }
        // A file that would leave nothing to route to is a mistake, not an intent (as the API says).
        for (what, empty) in [("units", parsed.units.isEmpty), ("agencies", parsed.agencies.isEmpty), ("sectors", parsed.sectors.isEmpty)] where empty {
            return try await renderDirectory(viewer: viewer, problems: [vi ? "Tệp không có \(what); nhập vào sẽ xóa mọi mục đang dùng." : "The file has no \(what); importing it would remove every one in use."],
                                             notice: nil, status: .badRequest)
        }
        let result = try await DirectoryStore(client: client).importDirectory(parsed, logger: logger)
        logger.info("directory imported from the web", metadata: ["account.id": "\(viewer.account.id)", "directory.revision": "\(result.revision)"])
        let notice = result.changed ? (vi ? "Đã nhập danh mục: phiên bản \(result.revision)." : "Imported: revision \(result.revision).")
            : (vi ? "Tệp giống danh mục hiện tại; không có gì thay đổi." : "The file equals the current directory; nothing changed.")
        return try await renderDirectory(viewer: viewer, problems: [], notice: notice, status: .ok)
    }
}
