import GlimpseCatalog
import GlimpseDomain

/// The operations only Image API v1 has: whole-header metadata updates and membership lists.
extension ImageService {
    /// `PUT /v1/images/{id}` metadata: sets `fields` (v2 names and value types) and, when
    /// `properties` is given, the additional properties (all others removed if `purge`).
    public func updateV1(
        _ id: String, fields: JSONObject, properties: [String: String], purge: Bool, principal: Principal
    ) async throws -> Image {
        try await readModifyWrite { try await updateV1Once(id, fields: fields, properties: properties, purge: purge, principal: principal) }
    }

    func updateV1Once(
        _ id: String, fields: JSONObject, properties: [String: String], purge: Bool, principal: Principal
    ) async throws -> Image {
        let image = try await visibleImage(id, principal: principal)
        guard policy.allows("modify_image", image, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to modify image \(id).")
        }
        var changed = image
        if purge {
            // Properties the caller may not delete (property protections) survive the purge.
            changed.properties = changed.properties.filter { key, _ in
                key.hasPrefix("os_glance") || (try? attributes.checkProperty(.delete, key, principal)) == nil
            }
        }
        for (key, value) in fields.pairs {
            try attributes.set(key, to: value, on: &changed, principal: principal)
        }
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            try attributes.set(key, to: .string(value), on: &changed, principal: principal)
        }
        if changed == image { return image }
        return try await catalog.updateImage(changed, expecting: image.status, unchangedSince: image.updatedAt)
    }

    /// `PUT /v1/images/{id}/members`: the membership list becomes exactly `members`.
    public func replaceMembers(_ id: String, members: [(String, Bool)], principal: Principal) async throws {
        let image = try await sharedImage(id, principal: principal)
        guard policy.allows("modify_image", image, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to share image \(id).")
        }
        guard members.count <= configuration.memberQuota else {
            throw GlimpseError.tooLarge("Maximum number of image members exceeded (\(configuration.memberQuota)).")
        }
        let existing = try await catalog.members(imageID: id)
        for old in existing where !members.contains(where: { $0.0 == old.memberID }) {
            try await catalog.removeMember(imageID: id, memberID: old.memberID)
        }
        for (memberID, canShare) in members {
            try await setMember(id, memberID: memberID, canShare: canShare, principal: principal)
        }
    }

    /// `PUT /v1/images/{id}/members/{member}`: adds the member, or updates its `can_share`.
    public func setMember(_ id: String, memberID: String, canShare: Bool, principal: Principal) async throws {
        if var existing = try await catalog.member(imageID: id, memberID: memberID) {
            let image = try await sharedImage(id, principal: principal)
            guard policy.allows("modify_image", image, principal: principal) else {
                throw GlimpseError.forbidden("You are not authorized to share image \(id).")
            }
            existing.canShare = canShare
            existing.updatedAt = now()
            try await catalog.updateMember(existing)
        } else {
            var member = try await addMember(id, memberID: memberID, principal: principal)
            if canShare {
                member.canShare = true
                try await catalog.updateMember(member)
            }
        }
    }

    /// `GET /v1/shared-images/{member}`: images other projects share with `memberID`.
    public func sharedImages(memberID: String, principal: Principal) async throws -> [(Image, ImageMember)] {
        guard principal.isAdmin || principal.projectID == memberID else {
            throw GlimpseError.forbidden("You may only list the images shared with your own project.")
        }
        var query = ImageQuery()
        query.visibility = .only(.shared)
        query.memberStatus = .all
        query.osHidden = nil
        query.limit = configuration.limitMax
        let asMember = Principal(projectID: memberID, userID: nil, roles: ["member"])
        var result: [(Image, ImageMember)] = []
        for image in try await catalog.listImages(query, for: asMember) where image.owner != memberID {
            if let m = try await catalog.member(imageID: image.id, memberID: memberID) { result.append((image, m)) }
        }
        return result
    }
}
