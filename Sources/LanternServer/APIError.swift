import Foundation
import Hummingbird
import Analyses
import Lantern

/// A request the server refuses, with the status and the one line the client gets as
/// `{"error": "..."}`.
public struct APIError: Error, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
    public var description: String { message }
}

/// Turns every error into a JSON body: the API's own (their status), a bad argument found deep in
/// the library (400: it came from the request), the framework's (404, 413, ...), anything else 500.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return JSONResponse.error(error.status, error.message)
        } catch let error as AnalysisError {
            let status: HTTPResponse.Status = switch error.kind {
            case .invalid: .badRequest
            case .notFound: .notFound
            case .forbidden: .forbidden
            case .tooLarge: .contentTooLarge
            case .cancelled: .serviceUnavailable
            }
            return JSONResponse.error(status, error.message)
        } catch let error as LanternError {
            return JSONResponse.error(.badRequest, String(describing: error))
        } catch let error as HTTPError {
            let message = error.body ?? (error.status == .notFound ? "no such endpoint: \(request.method) \(request.uri.path) (see /openapi.json)"
                                                                   : error.status.reasonPhrase)
            return JSONResponse.error(error.status, error.status == .contentTooLarge ? "the request body is larger than the server accepts" : message)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return JSONResponse.error(.internalServerError, String(describing: error))
        }
    }
}

/// Responses with a JSON body.
enum JSONResponse {
    static func data(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var response = data((try? JSONSerialization.data(withJSONObject: ["error": message], options: [.sortedKeys]))
                                ?? Data("{\"error\":\"error\"}".utf8), status: status)
        // A refused request may leave its body unread or its connection watched for hang-up:
        // the connection ends here, and the client is told so.
        response.headers[.connection] = "close"
        return response
    }

    /// JSON bytes of a value made of dictionaries, arrays, strings and numbers (keys sorted, as the
    /// CLI writes them). A NaN or ±∞ would make JSONSerialization fail: refused with one line.
    static func encode(_ value: Any) throws -> Data {
        guard JSONSerialization.isValidJSONObject(value) else {
            throw APIError(.internalServerError, "the result holds a value JSON cannot write (NaN or ±∞)")
        }
        return try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
    }
}
