import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Sends a response body from a file with sendfile(2) (NIO's `FileRegion`): the zero-copy
/// path of whole-image downloads from the file store.
///
/// Hummingbird's body writer takes only ByteBuffers, so this handler sits in the HTTP/1
/// pipeline after the HTTPTypes codec and a route arms it with a region of an open file just
/// before it ends its body. When that response's `.end` part arrives, the handler first writes
/// the region through the HTTP/1 encoder, so head, file bytes and end leave in order and NIO
/// applies its usual back-pressure to the region. From arming on the handler owns the file and
/// closes it once the region is written, has failed, or the channel goes away.
public final class FileRegionResponder: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    struct Armed {
        let file: NIOFileHandle
        let region: FileRegion
        let sent: EventLoopPromise<Void>
    }

    var armed: Armed?
    /// The HTTPTypes ↔ HTTP/1 codec: the region is written from its position, into the encoder.
    var codec: ChannelHandlerContext?

    /// Counts the regions this responder sent (tests check that the zero-copy path was taken).
    let sentCount: NIOLockedValueBox<Int>?

    public init(sentCount: NIOLockedValueBox<Int>? = nil) {
        self.sentCount = sentCount
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        codec = try? context.pipeline.syncOperations.context(handlerType: HTTP1ToHTTPServerCodec.self)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        disarm(ChannelError.ioOnClosedChannel)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let a = armed, case .end = unwrapOutboundIn(data), let codec else {
            return context.write(data, promise: promise)
        }
        armed = nil
        sentCount?.withLockedValue { $0 += 1 }
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { _ in try? a.file.close() }
        written.futureResult.cascade(to: a.sent)
        codec.write(NIOAny(HTTPServerResponsePart.body(.fileRegion(a.region))), promise: written)
        context.write(data, promise: promise)
    }

    /// Drops an armed region that was not sent (its file closed, its promise failed).
    func disarm(_ error: any Error, only sent: EventLoopFuture<Void>? = nil) {
        guard let a = armed, sent == nil || a.sent.futureResult === sent else { return }
        armed = nil
        try? a.file.close()
        a.sent.fail(error)
    }

    /// Arms the responder of `channel` with the first `length` bytes of `file`; the response's
    /// `.end` part then sends them. Returns a future that completes when they are written, or
    /// nil when the channel has no responder (or an unsent region already waits), in which case
    /// the file remains the caller's.
    static func arm(_ channel: any Channel, file: NIOFileHandle, length: Int) async -> EventLoopFuture<Void>? {
        let loop = channel.eventLoop
        let region = FileRegion(fileHandle: file, readerIndex: 0, endIndex: length)
        return try? await loop.submit { () -> EventLoopFuture<Void>? in
            guard let handler = try? channel.pipeline.syncOperations.handler(type: FileRegionResponder.self),
                handler.codec != nil, handler.armed == nil
            else { return nil }
            let sent = loop.makePromise(of: Void.self)
            handler.armed = Armed(file: file, region: region, sent: sent)
            return sent.futureResult
        }.get()
    }

    /// Undoes `arm` when the body could not be ended (the region is then never sent).
    static func disarm(_ channel: any Channel, sent: EventLoopFuture<Void>, error: any Error) {
        channel.eventLoop.execute {
            (try? channel.pipeline.syncOperations.handler(type: FileRegionResponder.self))?.disarm(error, only: sent)
        }
    }
}
