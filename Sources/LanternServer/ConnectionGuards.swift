import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// The API's one-line JSON error as HTTP parts, for the channel handlers below, which answer
/// before any route (and so before `JSONErrorMiddleware`) can.
enum ChannelErrorResponse {
    static func write(_ status: HTTPResponse.Status, _ message: String, context: ChannelHandlerContext) {
        let body = (try? JSONSerialization.data(withJSONObject: ["error": message], options: [.sortedKeys])) ?? Data("{\"error\":\"error\"}".utf8)
        let head = HTTPResponse(status: status, headerFields: [
            .contentType: "application/json; charset=utf-8", .cacheControl: "no-store", .connection: "close",
            .contentLength: "\(body.count)",
        ])
        context.write(NIOAny(HTTPResponsePart.head(head)), promise: nil)
        context.write(NIOAny(HTTPResponsePart.body(context.channel.allocator.buffer(bytes: body))), promise: nil)
        context.writeAndFlush(NIOAny(HTTPResponsePart.end(nil)), promise: nil)
    }

    /// Writes the answer, then ends the connection without resetting it: the output is closed
    /// at once and the client's remaining bytes are read and dropped (by the handler that calls
    /// this) until it closes, or for two seconds. Closing outright with its request still
    /// unread would send a reset, and a client may lose the answer to it.
    static func answerAndClose(_ status: HTTPResponse.Status, _ message: String, context: ChannelHandlerContext) {
        write(status, message, context: context)
        let channel = context.channel
        channel.close(mode: .output, promise: nil)
        channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
    }
}

/// Requests the HTTP parser refuses (a header block over the decoder's limit, a request line
/// that is not HTTP) get the API's JSON error — 431 or 400 — instead of the framework's empty 400.
/// It sits after the HTTP codec and catches the parser's error before the framework sees it. A
/// parser error in the middle of a response (a pipelined request after one being answered) is
/// passed on unchanged: a second head cannot be written into a response under way.
final class ParserErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var responding = false
    /// The error has been answered: what follows (the decoder's "data received in error state")
    /// is dropped.
    private var answered = false

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if answered { return }
        guard let parserError = error as? HTTPParserError, !responding else {
            context.fireErrorCaught(error)
            return
        }
        answered = true
        if parserError == .headerOverflow {
            ChannelErrorResponse.answerAndClose(.init(code: 431, reasonPhrase: "Request Header Fields Too Large"),
                                                "the request's header fields are larger than the server accepts", context: context)
        } else {
            ChannelErrorResponse.answerAndClose(.badRequest, "the request is not valid HTTP/1.1 (\(parserError))", context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case let .head(head) where head.status.kind != .informational: responding = true
        case .end: responding = false
        default: break
        }
        context.write(data, promise: promise)
    }
}

/// Open connections past `limit` are answered at once with a 503 JSON error and closed, rather
/// than left in the listen backlog with no answer. The framework's own cap stays above this one
/// (`limit` + `ConnectionGate.answering` connections) so that a flood still waits in the backlog
/// instead of spending file descriptors: a refused connection holds one only for the moment
/// its answer takes.
final class ConnectionGate: @unchecked Sendable {
    /// Connections beyond `limit` that may be open at once to be told 503.
    static let answering = 32
    let limit: Int
    /// Guarded by `lock`; changed from the event loops of every connection.
    private var open = 0
    private let lock = NSLock()

    init(limit: Int) { self.limit = limit }

    /// Takes a place, or says there is none.
    func enter() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard open < limit else { return false }
        open += 1
        return true
    }

    func leave() {
        lock.lock()
        open -= 1
        lock.unlock()
    }

    func handler() -> ConnectionCapHandler { ConnectionCapHandler(gate: self) }
}

final class ConnectionCapHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let gate: ConnectionGate
    private var admitted = false
    private var refused = false

    init(gate: ConnectionGate) { self.gate = gate }

    func handlerAdded(context: ChannelHandlerContext) {
        admitted = gate.enter()
        if !admitted, context.channel.isActive { refuse(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if admitted { gate.leave() }
        admitted = false
    }

    func channelActive(context: ChannelHandlerContext) {
        if !admitted { refuse(context: context) }
        context.fireChannelActive()
    }

    /// Answers without waiting for the request (the client reads the answer when it reads its
    /// response); its request is read and dropped meanwhile.
    private func refuse(context: ChannelHandlerContext) {
        guard !refused else { return }
        refused = true
        ChannelErrorResponse.answerAndClose(.serviceUnavailable,
                                            "the server has \(gate.limit) connections open, its limit: try again when one closes", context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        context.fireChannelRead(data)
    }
}
