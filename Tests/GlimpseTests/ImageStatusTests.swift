import GlimpseDomain
import Testing

@Suite struct ImageStatusTests {
    /// Glance's `valid_state_targets`, written out independently of the implementation's table.
    static let expected: [ImageStatus: [ImageStatus]] = [
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

    @Test(arguments: ImageStatus.allCases)
    func everyTransitionFrom(_ from: ImageStatus) {
        let allowed = Set(Self.expected[from] ?? [])
        for to in ImageStatus.allCases {
            #expect(from.canTransition(to: to) == allowed.contains(to), "\(from) → \(to)")
        }
    }

    @Test func tableCoversEveryStatus() {
        #expect(Set(ImageStatus.transitions.keys) == Set(ImageStatus.allCases))
        #expect(ImageStatus.deleted.canTransition(to: .active) == false)
    }

    @Test func rawValuesAreGlances() {
        #expect(ImageStatus.pendingDelete.rawValue == "pending_delete")
        #expect(ImageStatus(rawValue: "deactivated") == .deactivated)
        #expect(ImageStatus.allCases.count == 9)
    }
}
