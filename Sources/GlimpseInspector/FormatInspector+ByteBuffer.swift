import NIOCore

/// The `ByteBuffer` face of the inspector (the only file that needs NIOCore, so the fuzzer can
/// build the rest on its own).
extension FormatInspector {
    /// Presents the next chunk of the stream: its readable bytes, in stream order.
    public mutating func feed(_ chunk: ByteBuffer) {
        chunk.withUnsafeReadableBytes { feed(raw: $0) }
    }

    /// Inspects a whole stream of chunks (an upload, a staged file, a converted image).
    public static func inspect<Chunks: AsyncSequence>(_ chunks: Chunks, options: InspectorOptions = InspectorOptions())
        async throws -> InspectionReport where Chunks.Element == ByteBuffer
    {
        var inspector = FormatInspector(options: options)
        for try await chunk in chunks { inspector.feed(chunk) }
        return inspector.finish()
    }
}
