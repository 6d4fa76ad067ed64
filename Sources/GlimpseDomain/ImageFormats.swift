/// The disk and container formats an operator allows (`[image_format] disk_formats`,
/// `container_formats`); the defaults are Glance 33's.
public struct ImageFormats: Sendable, Equatable {
    public var diskFormats: [String]
    public var containerFormats: [String]

    public static let defaultDiskFormats = ["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]
    public static let defaultContainerFormats = ["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]

    public init(diskFormats: [String] = ImageFormats.defaultDiskFormats,
                containerFormats: [String] = ImageFormats.defaultContainerFormats) {
        self.diskFormats = diskFormats
        self.containerFormats = containerFormats
    }
}
