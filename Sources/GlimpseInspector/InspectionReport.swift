/// One safety check and its outcome. `reason` says why it failed (nil when it passed); it
/// never quotes strings from the image beyond short, sanitised identifiers.
public struct SafetyCheckResult: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var passed: Bool
    public var reason: String?

    public init(_ name: String, passed: Bool, reason: String? = nil) {
        self.name = name
        self.passed = passed
        self.reason = reason
    }

    static func pass(_ name: String) -> SafetyCheckResult { .init(name, passed: true) }
    static func fail(_ name: String, _ reason: String) -> SafetyCheckResult { .init(name, passed: false, reason: reason) }
    static func check(_ name: String, _ ok: Bool, _ reason: @autoclosure () -> String) -> SafetyCheckResult {
        ok ? .pass(name) : .fail(name, reason())
    }

    public var description: String { passed ? "\(name): pass" : "\(name): FAIL (\(reason ?? "failed"))" }
}

/// What the inspector found once the stream ended.
public struct InspectionReport: Sendable, Equatable {
    /// Glance's name of the detected format (`raw`, `qcow2`, `vmdk`, `vhd`, `vhdx`, `vdi`, `iso`,
    /// `qed`, `luks`, `gpt`); `raw` when nothing specific matched. For an ambiguous stream
    /// (`formatError` set) it is the first match.
    public var format: String
    /// Every format whose signature matched (`["iso", "gpt"]` for a hybrid ISO).
    public var matches: [String]
    /// Variant, when the format has several: `v2`/`v3` (qcow2), the VMDK `createType`,
    /// `fixed`/`dynamic` (vhd), `iso9660`/`udf`, `mbr`/`gpt`, `luks1`.
    public var subformat: String?
    /// The disk's virtual size in bytes; nil when unknown (a refused subformat, an overflowing
    /// or truncated header).
    public var virtualSize: Int64?
    /// Bytes of the stream.
    public var actualSize: Int64
    /// The detected format's safety checks, in a fixed order.
    public var checks: [SafetyCheckResult]
    /// Set when the stream cannot be given one format (several matched).
    public var formatError: String?

    public init(format: String, matches: [String], subformat: String?, virtualSize: Int64?, actualSize: Int64,
                checks: [SafetyCheckResult], formatError: String?) {
        self.format = format
        self.matches = matches
        self.subformat = subformat
        self.virtualSize = virtualSize
        self.actualSize = actualSize
        self.checks = checks
        self.formatError = formatError
    }

    /// The failed checks.
    public var failures: [SafetyCheckResult] { checks.filter { !$0.passed } }
    /// Whether the stream has one format and every check passed.
    public var safe: Bool { formatError == nil && failures.isEmpty }

    /// Formats the inspector understands (Glance's `format_inspector.ALL_FORMATS`). A claimed
    /// `disk_format` outside this set (`ami`, `ari`, `aki`, `ploop`) cannot be checked, so
    /// unrecognised data is allowed for it.
    public static let inspectableFormats: Set<String> = ["raw", "qcow2", "vhd", "vhdx", "vmdk", "vdi", "qed", "iso", "gpt", "luks"]

    /// Whether data of the detected format may be stored as `disk_format=raw`: a partitioned
    /// disk (gpt/mbr), an ISO, or a fixed VHD (raw data with a trailing footer) are raw disks
    /// to every consumer, since qemu's probing does not see them as anything else. A format
    /// qemu would probe (qcow2, vmdk, vdi, vhdx, dynamic vhd, qed, luks) is not.
    public var isRawCompatible: Bool {
        format == "raw" || format == "gpt" || format == "iso" || (format == "vhd" && subformat == "fixed")
    }

    /// Decides an upload of this data as the image's `disk_format`/`container_format`, as Glance's
    /// `ImageProxy.set_data` does:
    /// - only `container_format=bare` is inspected (anything else: `.notInspected`);
    /// - an ambiguous stream is refused when `require_image_format_match` is on;
    /// - the detected format must be the claimed one; unrecognised (raw) data is allowed for
    ///   `disk_format`s the inspector cannot check; `disk_format=raw` accepts raw-compatible data
    ///   (see `isRawCompatible`) and, departing from Glance (which only warns), refuses a
    ///   recognised image format when `require_image_format_match` is on, since a qcow2 or vmdk
    ///   stored as raw is an image some consumer may later probe and open as that format;
    /// - the detected format's safety checks must pass (gpt checks named in
    ///   `gpt_safety_checks_nonfatal` only warn).
    public func verdict(diskFormat: String?, containerFormat: String?, options: InspectorOptions) -> InspectionVerdict {
        guard containerFormat == "bare" else { return .notInspected }
        if let formatError {
            return options.requireImageFormatMatch ? .refuse("Image format inspection failed: \(formatError).") : .accept(virtualSize: nil)
        }
        let claimed = diskFormat ?? ""
        var virtual: Int64?
        if format == claimed {
            virtual = virtualSize
        } else if format == "raw", !Self.inspectableFormats.contains(claimed) {
            virtual = nil
        } else if claimed == "raw" {
            if !isRawCompatible, options.requireImageFormatMatch {
                return .refuse("Image disk_format raw does not match stream data \(format).")
            }
            virtual = actualSize
        } else if options.requireImageFormatMatch {
            return .refuse("Image disk_format \(claimed) does not match stream data \(format).")
        } else {
            // Glance: a mismatch with the check off is logged; no virtual size, no safety checks.
            return .accept(virtualSize: nil)
        }
        let failed = failures
        if !failed.isEmpty {
            let nonfatal = Set(options.gptSafetyChecksNonfatal)
            if !(format == "gpt" && failed.allSatisfy { nonfatal.contains($0.name) }) {
                let what = failed.map { "\($0.name) (\($0.reason ?? "failed"))" }.joined(separator: ", ")
                return .refuse("Image failed safety checks: \(format) \(what).")
            }
        }
        return .accept(virtualSize: virtual)
    }
}

/// The outcome of `InspectionReport.verdict`.
public enum InspectionVerdict: Sendable, Equatable {
    /// Store the data; `virtualSize` is the image's `virtual_size` (nil: leave it unset).
    case accept(virtualSize: Int64?)
    /// Refuse the data (Glance answers 415); the message says why, for the client.
    case refuse(String)
    /// The container format is not `bare`: Glance does not inspect it.
    case notInspected
}
