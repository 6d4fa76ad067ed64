import GlimpseCatalog
import GlimpseDomain

extension ImageService {
    /// Members exist only on shared images (Glance: 403 otherwise).
    func sharedImage(_ id: String, principal: Principal) async throws -> Image {
        let image = try await visibleImage(id, principal: principal)
        guard image.visibility == .shared else {
            throw GlimpseError.forbidden("Only shared images have members.")
        }
        return image
    }

    /// Owners and admins see every member; a member project sees only itself.
    public func members(_ id: String, principal: Principal) async throws -> [ImageMember] {
        let image = try await sharedImage(id, principal: principal)
        let all = try await catalog.members(imageID: id)
        if principal.isAdmin || principal.owns(image) { return all }
        return all.filter { $0.memberID == principal.projectID }
    }

    public func member(_ id: String, memberID: String, principal: Principal) async throws -> ImageMember {
        let image = try await sharedImage(id, principal: principal)
        let visible = principal.isAdmin || principal.owns(image) || principal.projectID == memberID
        guard visible, let member = try await catalog.member(imageID: id, memberID: memberID) else {
            throw GlimpseError.notFound("Member \(memberID) not found for image \(id).")
        }
        return member
    }

    public func addMember(_ id: String, memberID: String, principal: Principal) async throws -> ImageMember {
        let image = try await visibleImage(id, principal: principal)
        guard policy.allows("add_member", image, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to share image \(id).")
        }
        guard image.visibility == .shared else {
            throw GlimpseError.forbidden("Only shared images have members.")
        }
        guard !memberID.isEmpty, memberID.count <= 255 else {
            throw GlimpseError.badRequest("Member id must be between 1 and 255 characters long.")
        }
        let existing = try await catalog.members(imageID: id)
        if existing.contains(where: { $0.memberID == memberID }) {
            throw GlimpseError.conflict("Member \(memberID) already exists for image \(id).")
        }
        guard existing.count < configuration.memberQuota else {
            throw GlimpseError.tooLarge("Maximum number of image members exceeded (\(configuration.memberQuota)).")
        }
        let member = ImageMember(imageID: id, memberID: memberID, createdAt: now())
        try await catalog.addMember(member, limit: configuration.memberQuota)
        return member
    }

    public func updateMember(_ id: String, memberID: String, status: String, principal: Principal) async throws -> ImageMember {
        let image = try await sharedImage(id, principal: principal)
        guard var member = try await catalog.member(imageID: id, memberID: memberID) else {
            throw GlimpseError.notFound("Member \(memberID) not found for image \(id).")
        }
        guard policy.canChangeMemberStatus(image, memberID: memberID, principal: principal) else {
            throw GlimpseError.forbidden("Only the shared member can update its status.")
        }
        guard let newStatus = MemberStatus(rawValue: status) else {
            throw GlimpseError.badRequest("Invalid status: \(status); it must be pending, accepted or rejected.")
        }
        member.status = newStatus
        member.updatedAt = now()
        try await catalog.updateMember(member)
        return member
    }

    public func removeMember(_ id: String, memberID: String, principal: Principal) async throws {
        let image = try await sharedImage(id, principal: principal)
        guard policy.allows("delete_member", image, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to remove members of image \(id).")
        }
        try await catalog.removeMember(imageID: id, memberID: memberID)
    }
}
