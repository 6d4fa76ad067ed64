import GlimpseDomain
import GlimpsePolicy

/// Glance's policy for images, evaluated in one place (reference §4.9): each operation asks
/// one named rule of the operator's `PolicyEnforcer` (Glance 33's secure-RBAC defaults plus
/// `policy.yaml`), with Glance's target for the image.
///
/// Visibility failures are reported as 404 (Glance hides what you may not see), permission
/// failures on visible images as 403.
public struct ImagePolicy: Sendable {
    public let enforcer: PolicyEnforcer

    /// Glance's defaults, parsed once.
    public static let glanceDefaults: PolicyEnforcer = {
        do { return try PolicyEnforcer() } catch { fatalError("Glance's default policy does not parse: \(error)") }
    }()

    public init(enforcer: PolicyEnforcer = ImagePolicy.glanceDefaults) {
        self.enforcer = enforcer
    }

    /// Glance's image target; `member_id` only when the caller reached a shared image it does
    /// not own through its membership.
    func target(_ image: Image, principal: Principal, membership: ImageMember? = nil) -> PolicyTarget.ImageValues {
        PolicyTarget.image(image, memberID: membership?.memberID, memberStatus: membership?.status.rawValue)
    }

    /// Whether `rule` allows `principal` to act on `image`.
    public func allows(_ rule: String, _ image: Image, principal: Principal, membership: ImageMember? = nil) -> Bool {
        enforcer.enforce(rule, target: target(image, principal: principal, membership: membership), principal: principal)
    }

    /// Whether `rule` allows `principal` where no image is involved (`get_images`, tasks).
    public func allows(_ rule: String, principal: Principal) -> Bool {
        enforcer.enforce(rule, target: PolicyTarget.project(of: principal), principal: principal)
    }

    /// `get_image`, on top of the visibility the catalog enforces: admins see all; others their
    /// project's images, public and community ones, and shared ones they are members of.
    public func canSee(_ image: Image, principal: Principal, membership: ImageMember?) -> Bool {
        let visible: Bool
        if principal.isAdmin {
            visible = true
        } else {
            switch image.visibility {
            case .public, .community: visible = true
            case .private: visible = principal.owns(image)
            case .shared: visible = principal.owns(image) || membership != nil
            }
        }
        return visible && allows("get_image", image, principal: principal, membership: membership)
    }

    /// `add_image` for an image owned by `owner`.
    public func canCreate(owner: String?, visibility: Visibility?, principal: Principal) -> Bool {
        enforcer.enforce("add_image", target: PolicyTarget.newImage(owner: owner, visibility: visibility, principal: principal),
                         principal: principal)
    }

    /// `publicize_image` / `communitize_image` when an image becomes public or community.
    public func canSetVisibility(_ visibility: Visibility, on image: Image, principal: Principal) -> Bool {
        switch visibility {
        case .public: allows("publicize_image", image, principal: principal)
        case .community: allows("communitize_image", image, principal: principal)
        default: true
        }
    }

    /// `download_image`; deactivated images only for admins (Glance's API-layer check).
    public func canDownload(_ image: Image, principal: Principal, membership: ImageMember? = nil) -> Bool {
        guard image.status != .deactivated || enforcer.enforce("context_is_admin", target: [:], principal: principal) else {
            return false
        }
        return allows("download_image", image, principal: principal, membership: membership)
    }

    /// `modify_member`: the member project itself changes its own status.
    public func canChangeMemberStatus(_ image: Image, memberID: String, principal: Principal) -> Bool {
        var t = target(image, principal: principal)
        t.memberID = memberID
        return enforcer.enforce("modify_member", target: t, principal: principal)
    }

    /// v1 `x-image-meta-location` and `x-glance-api-copy-from` make the server fetch a URL, so
    /// they need `context_is_admin` (Juno let anyone; that was an SSRF door) besides
    /// `set_image_location`.
    public func canSetExternalData(_ image: Image, principal: Principal) -> Bool {
        enforcer.enforce("context_is_admin", target: [:], principal: principal)
            && allows("set_image_location", image, principal: principal)
    }
}
