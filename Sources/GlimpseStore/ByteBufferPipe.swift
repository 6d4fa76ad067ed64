import NIOConcurrencyHelpers
import NIOCore

/// A backpressured hand-off of byte chunks from the task that uploads an image to the task that
/// sends them somewhere (an HTTP request body to Swift or S3).
///
/// One producer calls `send`, which suspends while `capacity` chunks are waiting, so memory
/// stays bounded whatever the image size. One consumer iterates. `finish()` ends the sequence;
/// `close(error)` ends it from either side with an error, waking whoever is waiting.
public final class ByteBufferPipe: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    struct State {
        var chunks: CircularBuffer<ByteBuffer> = []
        var finished = false
        var error: (any Error)?
        var producer: CheckedContinuation<Void, any Error>?
        var consumer: CheckedContinuation<ByteBuffer?, any Error>?
    }

    let state = NIOLockedValueBox(State())
    let capacity: Int

    public init(capacity: Int = 2) {
        self.capacity = Swift.max(1, capacity)
    }

    /// Hands `buffer` to the consumer; waits while the pipe is full. Throws the error the pipe
    /// was closed with, or `CancellationError` if it was finished.
    public func send(_ buffer: ByteBuffer) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let (resumeConsumer, outcome): (CheckedContinuation<ByteBuffer?, any Error>?, Result<Void, any Error>?) =
                state.withLockedValue { s in
                    if let error = s.error { return (nil, .failure(error)) }
                    if s.finished { return (nil, .failure(CancellationError())) }
                    if let consumer = s.consumer {
                        s.consumer = nil
                        return (consumer, .success(()))
                    }
                    s.chunks.append(buffer)
                    if s.chunks.count < capacity { return (nil, .success(())) }
                    s.producer = continuation
                    return (nil, nil)
                }
            resumeConsumer?.resume(returning: buffer)
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    /// Ends the sequence after the chunks already sent.
    public func finish() {
        let consumer = state.withLockedValue { s -> CheckedContinuation<ByteBuffer?, any Error>? in
            s.finished = true
            defer { s.consumer = nil }
            return s.consumer
        }
        consumer?.resume(returning: nil)
    }

    /// Ends the pipe with `error` for both sides; chunks not yet taken are dropped.
    public func close(_ error: any Error) {
        let (producer, consumer) = state.withLockedValue { s in
            if s.error == nil { s.error = error }
            s.chunks.removeAll()
            defer { s.producer = nil; s.consumer = nil }
            return (s.producer, s.consumer)
        }
        producer?.resume(throwing: error)
        consumer?.resume(throwing: error)
    }

    func next() async throws -> ByteBuffer? {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
            let (producer, outcome): (CheckedContinuation<Void, any Error>?, Result<ByteBuffer?, any Error>?) =
                state.withLockedValue { s in
                    if let error = s.error { return (nil, .failure(error)) }
                    if let chunk = s.chunks.popFirst() {
                        defer { s.producer = nil }
                        return (s.producer, .success(chunk))
                    }
                    if s.finished { return (nil, .success(nil)) }
                    s.consumer = continuation
                    return (nil, nil)
                }
            producer?.resume()
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let pipe: ByteBufferPipe
        public mutating func next() async throws -> ByteBuffer? { try await pipe.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pipe: self) }
}
