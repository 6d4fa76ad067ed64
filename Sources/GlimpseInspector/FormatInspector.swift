/// A streaming disk-image format inspector (Glance's `oslo_utils.imageutils.format_inspector`,
/// rewritten for one pass over `ByteBuffer` chunks).
///
/// Feed it every chunk of a stream in order (`feed`), at any chunk size down to one byte, then
/// ask for the `finish()` report: the detected format, its virtual size and the result of each
/// safety check. It does no I/O and keeps only the regions formats need, never the image:
/// the first 64 KiB (every header and the ISO volume descriptors), the last 1.5 KiB (a fixed
/// VHD's footer, a streamOptimized VMDK's footer and end-of-stream marker), a VHDX region
/// table, metadata table and size item, a VMDK descriptor (at most 1 MiB), and a text file's
/// first MiB while the data is still all text (a standalone VMDK descriptor). That bounds its
/// memory to about 2.2 MiB whatever the input; after the first megabyte a chunk costs a
/// counter update and a copy of its last bytes.
public struct FormatInspector: Sendable {
    public let options: InspectorOptions

    /// Bytes of the stream so far.
    public private(set) var position: Int64 = 0
    /// The stream's first `headLimit` bytes.
    var head: [UInt8] = []
    /// The stream's last bytes: at least `tailLimit` of them once the stream is that long, at
    /// most twice that (they start at `position - tail.count`).
    var tail: [UInt8] = []
    /// Regions found from headers, captured as the stream passes them.
    var captures: [Capture] = []
    var pendingCaptures = 0
    /// Whether the head has been classified (magic numbers looked at, captures registered).
    var classified = false
    /// Text beyond the head, while every byte so far is text (a standalone VMDK descriptor).
    var text: [UInt8]?

    static let headLimit = 64 * 1024
    static let tailLimit = 1536
    static let textLimit = (1 << 20) - 1

    public init(options: InspectorOptions = InspectorOptions()) {
        self.options = options
        head.reserveCapacity(Self.headLimit)
        tail.reserveCapacity(Self.tailLimit * 2)
    }

    /// Bytes of the stream the inspector holds now (headers, tables, descriptors; never more
    /// than about 2.2 MiB).
    public var retainedBytes: Int {
        head.count + tail.count + (text?.count ?? 0) + captures.reduce(0) { $0 + $1.bytes.count }
    }

    /// Presents the next chunk of the stream (the `ByteBuffer` entry point is `feed(_:)`).
    mutating func feed(raw: UnsafeRawBufferPointer) {
        let n = raw.count
        guard n > 0 else { return }
        let chunkStart = position
        position += Int64(n)
        if head.count < Self.headLimit {
            head.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<min(n, Self.headLimit - head.count)]))
        }
        // The tail holds between tailLimit and 2 × tailLimit bytes, so small chunks cost an
        // append and, once per tailLimit bytes, one move.
        if n >= Self.tailLimit {
            tail.removeAll(keepingCapacity: true)
            tail.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[(n - Self.tailLimit)...]))
        } else {
            if tail.count + n > 2 * Self.tailLimit { tail.removeFirst(tail.count - Self.tailLimit) }
            tail.append(contentsOf: raw)
        }
        if text != nil { collectText(raw, chunkStart: chunkStart) }
        if !classified, head.count == Self.headLimit {
            classify(chunk: raw, chunkStart: chunkStart)
        } else if pendingCaptures > 0 {
            feedCaptures(raw, chunkStart: chunkStart)
        }
    }

    /// The report on everything fed so far, taken as the whole stream.
    public func finish() -> InspectionReport {
        var done = self
        if !done.classified { done.classify(chunk: nil, chunkStart: position) }
        return done.evaluate()
    }

    // MARK: - Regions

    /// A region of the stream a format needs, captured as the stream passes it.
    struct Capture: Sendable {
        enum ID: Sendable { case vhdxRegions, vhdxMetadata, vhdxSize, vmdkDescriptor }
        let id: ID
        let start: Int64
        let length: Int
        var bytes: [UInt8] = []
        /// The region started before the chunk that was current when it became known and could
        /// not be served from the bytes kept: it will never be complete.
        var missed = false
        var complete: Bool { bytes.count == length }
        var done: Bool { complete || missed }

        mutating func take(_ chunk: UnsafeRawBufferPointer, chunkStart: Int64) {
            guard !done else { return }
            let want = start + Int64(bytes.count)
            let chunkEnd = chunkStart + Int64(chunk.count)
            guard want < chunkEnd else { return }
            guard want >= chunkStart else { missed = true; return }
            let from = Int(want - chunkStart)
            let n = min(length - bytes.count, chunk.count - from)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[from..<(from + n)]))
        }
    }

    /// Starts capturing `length` bytes at `start`: from the bytes already kept where possible,
    /// then from `chunk` (the current one) and the chunks after it.
    mutating func register(_ id: Capture.ID, start: Int64, length: Int, chunk: UnsafeRawBufferPointer?, chunkStart: Int64) {
        // Offsets come from the image: far beyond any real stream (2^62) they are never reached.
        guard start >= 0, start < 1 << 62, length > 0, !captures.contains(where: { $0.id == id }) else { return }
        var capture = Capture(id: id, start: start, length: length)
        if start < Int64(head.count) {
            let from = Int(start)
            capture.bytes = Array(head[from..<min(head.count, from + length)])
        } else if let kept = bytes(at: start, count: length) {
            capture.bytes = kept
        }
        if !capture.complete {
            if let chunk {
                capture.take(chunk, chunkStart: chunkStart)
            } else if start + Int64(capture.bytes.count) < position {
                capture.missed = true
            }
        }
        captures.append(capture)
        if !capture.done { pendingCaptures += 1 }
        if capture.complete { captured(captures.count - 1, chunk: chunk, chunkStart: chunkStart) }
    }

    mutating func feedCaptures(_ chunk: UnsafeRawBufferPointer, chunkStart: Int64) {
        var i = 0
        while i < captures.count {  // captures registered meanwhile are fed this chunk too
            if !captures[i].done {
                captures[i].take(chunk, chunkStart: chunkStart)
                if captures[i].done {
                    pendingCaptures -= 1
                    if captures[i].complete { captured(i, chunk: chunk, chunkStart: chunkStart) }
                }
            }
            i += 1
        }
    }

    /// Bytes `offset ..< offset + count` if the head, the tail or a capture holds them all.
    func bytes(at offset: Int64, count: Int) -> [UInt8]? {
        guard offset >= 0, offset < 1 << 62, count >= 0 else { return nil }
        let end = offset + Int64(count)
        if end <= Int64(head.count) { return Array(head[Int(offset)..<Int(end)]) }
        let tailStart = position - Int64(tail.count)
        if offset >= tailStart, end <= position { return Array(tail[Int(offset - tailStart)..<Int(end - tailStart)]) }
        for c in captures where offset >= c.start && end <= c.start + Int64(c.bytes.count) {
            return Array(c.bytes[Int(offset - c.start)..<Int(end - c.start)])
        }
        return nil
    }

    func capture(_ id: Capture.ID) -> Capture? { captures.first { $0.id == id } }

    // MARK: - Classification

    /// Looks at the head's magic numbers once and registers the regions the matching formats
    /// need beyond it. `chunk` is the chunk that filled the head (nil at the end of the stream).
    mutating func classify(chunk: UnsafeRawBufferPointer?, chunkStart: Int64) {
        classified = true
        if head.has("vhdxfile") {
            register(.vhdxRegions, start: VHDX.regionTableOffset, length: VHDX.tableLength, chunk: chunk, chunkStart: chunkStart)
        }
        if head.has("KDMV"), let (offset, size) = VMDK.descriptorLocation(head), offset + Int64(size) > Int64(head.count) {
            register(.vmdkDescriptor, start: offset, length: size, chunk: chunk, chunkStart: chunkStart)
        }
        if chunk != nil, head.allSatisfy(isTextByte) {
            // Still text after 64 KiB: keep collecting (up to qemu's 1 MiB descriptor limit).
            text = []
            if let chunk, position > Int64(head.count) {
                collectText(UnsafeRawBufferPointer(rebasing: chunk[Int(Int64(head.count) - chunkStart)...]), chunkStart: Int64(head.count))
            }
        }
    }

    mutating func collectText(_ raw: UnsafeRawBufferPointer, chunkStart: Int64) {
        guard var t = text else { return }
        text = nil  // avoid a copy while appending
        let room = Self.textLimit - Self.headLimit - t.count
        let slice = raw.prefix(max(0, room))
        if slice.allSatisfy(isTextByte) {
            t.append(contentsOf: slice)
            text = t
        }
        // A non-text byte: this is not a descriptor file; drop what was kept.
    }

    /// A capture just completed: parse it and register what it points to.
    mutating func captured(_ index: Int, chunk: UnsafeRawBufferPointer?, chunkStart: Int64) {
        let c = captures[index]
        switch c.id {
        case .vhdxRegions:
            if case .success(let offset) = VHDX.metadataOffset(regionTable: c.bytes), let start = Int64(exactly: offset) {
                register(.vhdxMetadata, start: start, length: VHDX.tableLength, chunk: chunk, chunkStart: chunkStart)
            }
        case .vhdxMetadata:
            if case .success(let item) = VHDX.sizeItem(metadata: c.bytes) {
                register(.vhdxSize, start: c.start + Int64(item), length: 8, chunk: chunk, chunkStart: chunkStart)
            }
        case .vhdxSize, .vmdkDescriptor:
            break
        }
    }
}
