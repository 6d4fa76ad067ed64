import GlimpseDomain
import NIOCore

/// Downloads image data from an http(s) URL a user gave (web-download, the legacy `import` task),
/// under `ImportFilteringOptions`.
///
/// Contract:
/// - `validate` refuses, without touching the network, what the options forbid (scheme, host and
///   port lists; literal addresses that are loopback, link-local, private, …; numeric host
///   spellings other than the canonical ones). It throws `GlimpseError.badRequest`.
/// - `fetch` repeats those checks, resolves the name once per connection, checks every address
///   it resolves to, and connects only to an allowed one (so a second lookup cannot change where
///   it goes). Redirects are checked the same way before they are followed.
/// - Bytes reach `sink` in order, each exactly once, and the next read waits for `sink`.
///   A dropped or stalled connection is resumed with a `Range` request when the source supports
///   ranges (guarded by `If-Range`, so a changed source is never spliced); otherwise, and when
///   the source's length is wrong, the fetch fails saying so.
/// - Errors are `GlimpseError`s with client-safe messages: `.badRequest` (refused URL, refused
///   redirect, a source whose answers are wrong), `.payloadTooLarge` (more than `limit` bytes),
///   `.unavailable` (cannot connect, timeouts, a source that broke off and cannot resume).
///   An error thrown by `sink` is rethrown unchanged and never retried.
public protocol WebFetching: Sendable {
    /// Throws `GlimpseError.badRequest` with a precise reason if `url` may not be fetched
    /// (the checks that need no network).
    func validate(_ url: String) throws

    /// Streams the body of `url` into `sink`, at most `limit` bytes, and returns the number of
    /// bytes delivered. `progress` is told the running byte count after each chunk.
    func fetch(
        _ url: String, limit: Int64, progress: @Sendable (Int64) async -> Void,
        into sink: (ByteBuffer) async throws -> Void
    ) async throws -> Int64
}
