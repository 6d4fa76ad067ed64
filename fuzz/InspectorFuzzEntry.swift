// libFuzzer entry point for the format inspector (built by scripts/fuzz-inspector.sh with the
// inspector's sources, minus its ByteBuffer wrapper, into one module).
//
// Input: byte 0 picks the chunk sizes, the rest is the stream. Each input is inspected twice,
// in chunks and in one piece; the two reports must be equal (a chunk-boundary bug is a crash),
// and the verdicts for every disk_format are computed too.

@_cdecl("LLVMFuzzerTestOneInput")
public func inspectorFuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let selector = Int(data[0])
    let stream = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let sizes = [1, 2, 3, 7, 64, 511, 512, 513, 4096, 65535, 65536, 65537]
    var step = sizes[selector % sizes.count]
    let options = InspectorOptions(vmdkAllowedTypes: selector & 0x80 == 0 ? ["streamOptimized", "monolithicSparse"] : [])

    var chunked = FormatInspector(options: options)
    var offset = 0
    while offset < stream.count {
        // Tiny steps where boundaries matter (headers, the end of the 64 KiB head); elsewhere
        // they only cost time.
        let tiny = offset < 4096 || (60 * 1024..<70 * 1024).contains(offset)
        let n = min(tiny ? step : offset < 80 * 1024 ? max(step, 509) : max(step, 4099), stream.count - offset)
        chunked.feed(raw: UnsafeRawBufferPointer(rebasing: stream[offset..<(offset + n)]))
        offset += n
        if selector & 0x40 != 0 { step = step % 13 + 1 }  // vary the sizes within one input
    }
    var whole = FormatInspector(options: options)
    whole.feed(raw: stream)
    let a = chunked.finish(), b = whole.finish()
    if a != b { fatalError("chunked and whole reports differ:\n\(a)\n\(b)") }
    if chunked.retainedBytes > 3 << 20 { fatalError("the inspector holds \(chunked.retainedBytes) bytes") }
    for format in ["raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso", "ami", "qed"] {
        _ = a.verdict(diskFormat: format, containerFormat: "bare", options: options)
    }
    return 0
}
