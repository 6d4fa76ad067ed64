/// Image statuses and the transition table of Glance's `Image.valid_state_targets`
/// (reference §2.4). The table is plain data; `ImageStatusTests` walks all of it.
public enum ImageStatus: String, Sendable, CaseIterable, Codable {
    case queued, saving, active, killed, deleted, uploading, importing
    case pendingDelete = "pending_delete"
    case deactivated

    /// Every status this one may move to.
    public static let transitions: [ImageStatus: Set<ImageStatus>] = [
        .queued: [.saving, .uploading, .importing, .active, .deleted],
        .saving: [.active, .killed, .deleted, .queued],
        .uploading: [.importing, .queued, .deleted],
        .importing: [.active, .deleted, .queued],
        .active: [.pendingDelete, .deleted, .deactivated],
        .deactivated: [.active, .deleted],
        .pendingDelete: [.deleted, .active],
        .killed: [.deleted],
        .deleted: [],
    ]

    public func canTransition(to target: ImageStatus) -> Bool {
        Self.transitions[self, default: []].contains(target)
    }

    /// Leaving these for saving, active or importing needs both formats set (Glance: ValueError → 400).
    public var needsFormatsToLeave: Bool { self == .queued || self == .uploading }
}

public enum MemberStatus: String, Sendable, CaseIterable, Codable {
    case pending, accepted, rejected
}

public enum Visibility: String, Sendable, CaseIterable, Codable {
    case `public`, community, shared, `private`
}
