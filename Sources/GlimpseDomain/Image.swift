import Foundation

/// A location of image data, as glance_store names it (`file:///…`, `http://…`, `swift+http://…`).
public struct ImageLocation: Sendable, Equatable {
    public var url: String
    /// Glance keeps this as a JSON object string (`{"store": "fs"}`).
    public var metadataJSON: String
    public var status: String

    public init(url: String, metadataJSON: String = "{}", status: String = "active") {
        self.url = url
        self.metadataJSON = metadataJSON
        self.status = status
    }

    /// The store id glance_store keeps in the metadata (`{"store": "fs"}`), if any.
    public var storeID: String? {
        (try? JSONValue.parse(Array(metadataJSON.utf8)))?.objectValue?["store"]?.stringValue
    }

    /// A location written by store `storeID`, with glance_store's metadata.
    public static func stored(_ url: String, in storeID: String) -> ImageLocation {
        ImageLocation(url: url, metadataJSON: JSONValue.object(JSONObject([("store", .string(storeID))])).serialized())
    }
}

/// The image record: Glance's `images` row with its properties, tags and locations.
public struct Image: Sendable, Equatable {
    public var id: String
    public var name: String?
    public var status: ImageStatus
    public var visibility: Visibility
    public var protected: Bool
    public var osHidden: Bool
    public var checksum: String?
    public var osHashAlgo: String?
    public var osHashValue: String?
    public var owner: String?
    public var size: Int64?
    public var virtualSize: Int64?
    public var minDisk: Int
    public var minRam: Int
    public var containerFormat: String?
    public var diskFormat: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var deletedAt: Date?
    /// Additional properties (string to string), including Glance's internal `os_glance_*` ones.
    public var properties: [String: String]
    /// Tags as a set, kept in insertion order for stable output.
    public var tags: [String]
    public var locations: [ImageLocation]

    public init(
        id: String, name: String? = nil, status: ImageStatus = .queued, visibility: Visibility = .shared,
        protected: Bool = false, osHidden: Bool = false, owner: String? = nil, minDisk: Int = 0, minRam: Int = 0,
        containerFormat: String? = nil, diskFormat: String? = nil, createdAt: Date, updatedAt: Date? = nil,
        properties: [String: String] = [:], tags: [String] = []
    ) {
        self.id = id
        self.name = name
        self.status = status
        self.visibility = visibility
        self.protected = protected
        self.osHidden = osHidden
        self.owner = owner
        self.minDisk = minDisk
        self.minRam = minRam
        self.containerFormat = containerFormat
        self.diskFormat = diskFormat
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.properties = properties
        self.tags = tags
        self.locations = []
    }

    /// Data is there to download: Glance answers 204 when there is none.
    public var hasData: Bool { !locations.isEmpty }

    /// Clears everything an upload sets, as Glance does when an image returns to `queued`.
    public mutating func clearData() {
        size = nil
        virtualSize = nil
        checksum = nil
        osHashAlgo = nil
        osHashValue = nil
        locations = []
    }
}

/// A project an image is shared with.
public struct ImageMember: Sendable, Equatable {
    public var imageID: String
    public var memberID: String
    public var status: MemberStatus
    public var canShare: Bool
    public var createdAt: Date
    public var updatedAt: Date

    public init(imageID: String, memberID: String, status: MemberStatus = .pending, canShare: Bool = false,
                createdAt: Date, updatedAt: Date? = nil) {
        self.imageID = imageID
        self.memberID = memberID
        self.status = status
        self.canShare = canShare
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }
}
