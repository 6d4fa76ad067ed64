/// Glance's secure-RBAC defaults for images, evaluated in one place (reference §4.9).
///
/// Each rule answers for a principal and an image; operations call exactly one rule before
/// they act. Visibility failures are reported as 404 (Glance hides what you may not see),
/// permission failures on visible images as 403.
public struct ImagePolicy: Sendable {
    public init() {}

    /// `get_image`: admin, owner, public/community images, and members of shared images.
    public func canSee(_ image: Image, principal: Principal, membership: ImageMember?) -> Bool {
        if principal.isAdmin { return true }
        switch image.visibility {
        case .public, .community: return true
        case .private: return principal.owns(image)
        case .shared: return principal.owns(image) || membership != nil
        }
    }

    /// `modify_image`, `delete_image`, `add_member`, `deactivate`, `reactivate`, tags: admin, or a member of the owning project.
    public func canModify(_ image: Image, principal: Principal) -> Bool {
        principal.isAdmin || (principal.isMember && principal.owns(image))
    }

    /// `add_image`: admin, or a member creating in its own project.
    public func canCreate(owner: String?, principal: Principal) -> Bool {
        if principal.isAdmin { return true }
        return principal.isMember && owner != nil && owner == principal.projectID
    }

    /// `publicize_image`: admin only.
    public func canPublicize(principal: Principal) -> Bool { principal.isAdmin }

    /// `download_image`: anyone who sees it; deactivated images only for admins.
    public func canDownload(_ image: Image, principal: Principal) -> Bool {
        image.status != .deactivated || principal.isAdmin
    }

    /// `set_image_location` and v1's `copy_from`: pointing an image at an external URL makes
    /// the server fetch from it, so only admins may (Juno allowed anyone; that was an SSRF door).
    public func canSetExternalData(principal: Principal) -> Bool { principal.isAdmin }

    /// `modify_member`: the member project itself (or admin) changes its own status.
    public func canChangeMemberStatus(memberID: String, principal: Principal) -> Bool {
        principal.isAdmin || (principal.isMember && principal.projectID == memberID)
    }
}
