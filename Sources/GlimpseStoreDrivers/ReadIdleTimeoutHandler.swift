import NIOCore

/// Fails a connection that waits longer than `timeout` for bytes it asked for.
///
/// Placed next to the socket, it starts its timer when a `read` passes (demand: the back-pressured
/// consumer wants more) once the request is flushed, and stops it when bytes arrive. Unlike NIO's `IdleStateHandler`, time the
/// consumer spends holding reads back (a slow sink) never counts. On expiry it fires
/// `ReadIdleTimeout` and closes the channel.
final class ReadIdleTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    struct ReadIdleTimeout: Error {}

    let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// A read was asked for and no bytes have come since.
    private var waiting = false
    /// The request has been flushed: time before it (connecting, a busy task pool) is not the source's.
    private var started = false

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func read(context: ChannelHandlerContext) {
        waiting = true
        arm(context)
        context.read()
    }

    func flush(context: ChannelHandlerContext) {
        started = true
        arm(context)
        context.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        waiting = false
        stop()
        context.fireChannelRead(data)
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard started, waiting, timer == nil else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, self.timer != nil else { return }
            self.timer = nil
            context.fireErrorCaught(ReadIdleTimeout())
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    private func stop() {
        timer?.cancel()
        timer = nil
    }
}
