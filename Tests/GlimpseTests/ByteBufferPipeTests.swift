import GlimpseStore
import NIOConcurrencyHelpers
import NIOCore
import Testing

@Suite struct ByteBufferPipeTests {
    @Test func deliversInOrderAndHoldsAtMostCapacity() async throws {
        let pipe = ByteBufferPipe(capacity: 2)
        let sent = NIOLockedValueBox(0)
        let producer = Task {
            for i in 0..<100 {
                try await pipe.send(ByteBuffer(bytes: [UInt8(i)]))
                sent.withLockedValue { $0 += 1 }
            }
            pipe.finish()
        }
        // Nobody reads yet: the producer must stop once the pipe is full.
        try await Task.sleep(for: .milliseconds(100))
        #expect(sent.withLockedValue { $0 } <= 2)
        var received: [UInt8] = []
        for try await chunk in pipe { received += Array(chunk.readableBytesView) }
        try await producer.value
        #expect(received == (0..<100).map { UInt8($0) })
    }

    @Test func closeWakesAWaitingProducerWithTheError() async throws {
        struct Boom: Error {}
        let pipe = ByteBufferPipe(capacity: 1)
        let producer = Task { () -> Bool in
            do {
                for _ in 0..<10 { try await pipe.send(ByteBuffer(bytes: [1])) }
                return false
            } catch is Boom {
                return true
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        pipe.close(Boom())
        #expect(try await producer.value)
        await #expect(throws: Boom.self) { for try await _ in pipe {} }
    }
}
