import GlimpseCore
import GlimpseStore
import Hummingbird
import NIOCore

extension ResponseBody {
    /// The body of an image download (v1 and v2): `range` of the image, or all of it.
    ///
    /// A whole image whose first copy is a local file goes out with sendfile(2) when the
    /// connection has a `FileRegionResponder` (no byte passes through the process); everything
    /// else (ranges, object stores, no responder) streams through `Download.read` chunk by chunk,
    /// each written before the next is read. The file is opened only when the body is written, so
    /// a HEAD request or a body never sent opens nothing.
    static func imageData(_ download: Download, range: Range<Int64>?, channel: (any Channel)?) -> ResponseBody {
        let length = range.map { Int($0.count) } ?? Int(download.size)
        return ResponseBody(contentLength: length) { writer in
            if range == nil, let channel, let file = await download.openLocalFile() {
                if let sent = await FileRegionResponder.arm(channel, file: file.handle, length: length) {
                    do {
                        try await writer.finish(nil)
                    } catch {
                        FileRegionResponder.disarm(channel, sent: sent, error: error)
                        throw error
                    }
                    try await sent.get()
                    return
                }
                try? file.handle.close()
            }
            try await download.read(range: range) { try await writer.write($0) }
            try await writer.finish(nil)
        }
    }
}
