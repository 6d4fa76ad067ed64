/// Glance's `[image_format]` options that govern inspection and the upload verdict.
public struct InspectorOptions: Sendable, Equatable {
    /// `vmdk_allowed_types`: VMDK `createType`s accepted (compared case-insensitively). Only
    /// single-file, sparse-header subformats are safe; an empty list refuses every VMDK.
    public var vmdkAllowedTypes: [String] = ["streamOptimized", "monolithicSparse"]
    /// `require_image_format_match`: refuse data whose detected format differs from `disk_format`.
    public var requireImageFormatMatch = true
    /// `gpt_safety_checks_nonfatal`: names of gpt checks (`mbr`, `gptmbr`) that only warn.
    public var gptSafetyChecksNonfatal: [String] = []

    public init(vmdkAllowedTypes: [String] = ["streamOptimized", "monolithicSparse"], requireImageFormatMatch: Bool = true,
                gptSafetyChecksNonfatal: [String] = []) {
        self.vmdkAllowedTypes = vmdkAllowedTypes
        self.requireImageFormatMatch = requireImageFormatMatch
        self.gptSafetyChecksNonfatal = gptSafetyChecksNonfatal
    }
}
