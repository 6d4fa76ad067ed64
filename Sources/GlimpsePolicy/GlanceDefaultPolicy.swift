/// Glance 33's policy defaults (`glance/policies/*.py`: base, image, tasks, metadef, cache,
/// discovery), as oslo.policy enforces them with `enforce_new_defaults` and `enforce_scope` on:
/// the secure-RBAC check strings, not the deprecated `rule:default` ones.
///
/// Every rule in Glance is `scope_types=['project']`. Glimpse principals are always
/// project-scoped, so the scope check oslo.policy makes before a rule can never fail here and
/// is not modelled.
///
/// The personas are Keystone's default roles: `admin`, `member` and `reader` (each implying the
/// next), plus `service` for Nova, Cinder and Ironic. The rules read these target keys:
///
/// | key | meaning (Glance's `ImageTarget` and API-layer dicts) |
/// |---|---|
/// | `project_id` | the image's owner (for a proposed image, the requested owner or the caller's project; for collection calls, the caller's project) |
/// | `owner` | the image's owner |
/// | `member_id` | the caller's project when the caller reached a shared image through membership, else absent |
/// | `visibility` | `public`, `community`, `shared` or `private` (for metadef namespaces: `public` or `private`) |
///
/// `PolicyTarget` builds these dicts. Glance defines no rules named `admin` or
/// `member_or_owner…`; operators who reference such names in their files get `false` for them
/// unless they define them.
public enum GlanceDefaultPolicy {
    // The building blocks of glance/policies/base.py, spelled as Glance spells them.
    static let projectMember = "role:member and project_id:%(project_id)s"
    static let projectReader = "role:reader and project_id:%(project_id)s"
    /// The caller's project is the member the target names (`ImageTarget` maps `member_id`).
    static let imageMemberCheck = "project_id:%(member_id)s"
    static let communityVisibility = "'community':%(visibility)s"
    static let publicVisibility = "'public':%(visibility)s"
    static let sharedVisibility = "'shared':%(visibility)s"

    static let projectMemberOrImageMemberOrCommunityOrPublicOrShared =
        "role:member and (project_id:%(project_id)s or \(imageMemberCheck) "
        + "or \(communityVisibility) or \(publicVisibility) "
        + "or \(sharedVisibility))"
    static let projectReaderOrImageMemberOrCommunityOrPublicOrShared =
        "role:reader and (project_id:%(project_id)s or \(imageMemberCheck) "
        + "or \(communityVisibility) or \(publicVisibility) "
        + "or \(sharedVisibility))"
    static let projectReaderOrPublicNamespace =
        "role:reader and (project_id:%(project_id)s or \(publicVisibility))"

    static let admin = "rule:context_is_admin"
    static let `default` = "rule:default"
    static let adminOrProjectMember = "\(admin) or (\(projectMember))"
    static let adminOrProjectReader = "\(admin) or (\(projectReader))"
    static let adminOrProjectReaderGetImage = "\(admin) or (\(projectReaderOrImageMemberOrCommunityOrPublicOrShared))"
    static let adminOrProjectMemberDownloadImage =
        "\(admin) or (\(projectMemberOrImageMemberOrCommunityOrPublicOrShared))"
    static let adminOrProjectMemberCreateImage = "\(admin) or (\(projectMember) and project_id:%(owner)s)"
    static let adminOrProjectReaderGetNamespace = "\(admin) or (\(projectReaderOrPublicNamespace))"
    static let adminOrSharedMember = "\(admin) or (role:member and \(imageMemberCheck))"
    /// Unparenthesised in Glance; `and` binds tighter than `or`, so it reads as intended.
    static let adminOrProjectReaderOrSharedMember =
        "\(admin) or role:reader and (project_id:%(project_id)s or \(imageMemberCheck))"
    static let serviceOrProjectMember = "rule:service_api or (\(projectMember) and project_id:%(owner)s)"
    static let service = "rule:service_api"
    static let adminOrServiceRole = "\(admin) or \(service)"

    static let metadefAdmin = "rule:metadef_admin"

    /// Every default rule, by name (67 rules).
    public static let rules: [String: String] = [
        // base.py
        "default": "",
        "context_is_admin": "role:admin",
        // Glance keeps admin here for services that do not send a service token (until 2026.2).
        "service_api": "role:service or role:admin",

        // image.py
        "add_image": adminOrProjectMemberCreateImage,
        "delete_image": adminOrProjectMember,
        "get_image": adminOrProjectReaderGetImage,
        "get_images": adminOrProjectReader,
        "modify_image": adminOrProjectMember,
        "publicize_image": admin,
        "communitize_image": adminOrProjectMember,
        "download_image": adminOrProjectMemberDownloadImage,
        "download_from_store": adminOrProjectMemberDownloadImage,
        "upload_image": adminOrProjectMember,
        "delete_image_location": admin,
        "get_image_location": adminOrProjectReader,
        "set_image_location": adminOrProjectMember,
        "add_image_location": serviceOrProjectMember,
        "fetch_image_location": service,
        "add_member": adminOrProjectMember,
        "delete_member": adminOrProjectMember,
        "get_member": adminOrProjectReaderOrSharedMember,
        "get_members": adminOrProjectReaderOrSharedMember,
        "modify_member": adminOrSharedMember,
        "manage_image_cache": admin,
        "deactivate": adminOrProjectMember,
        "reactivate": adminOrProjectMember,
        "copy_image": admin,
        "list_cached_nodes": admin,

        // tasks.py: the task rules pass everyone; `tasks_api_access` is what guards the API.
        "get_task": `default`,
        "get_tasks": `default`,
        "add_task": `default`,
        "modify_task": `default`,
        "tasks_api_access": admin,

        // metadef.py
        "metadef_default": "",
        "metadef_admin": admin,
        "get_metadef_namespace": adminOrProjectReaderGetNamespace,
        "get_metadef_namespaces": adminOrProjectReader,
        "modify_metadef_namespace": metadefAdmin,
        "add_metadef_namespace": metadefAdmin,
        "delete_metadef_namespace": metadefAdmin,
        "get_metadef_object": adminOrProjectReaderGetNamespace,
        "get_metadef_objects": adminOrProjectReaderGetNamespace,
        "modify_metadef_object": metadefAdmin,
        "add_metadef_object": metadefAdmin,
        "delete_metadef_object": metadefAdmin,
        "list_metadef_resource_types": adminOrProjectReaderGetNamespace,
        "get_metadef_resource_type": adminOrProjectReaderGetNamespace,
        "add_metadef_resource_type_association": metadefAdmin,
        "remove_metadef_resource_type_association": metadefAdmin,
        "get_metadef_property": adminOrProjectReaderGetNamespace,
        "get_metadef_properties": adminOrProjectReaderGetNamespace,
        "modify_metadef_property": metadefAdmin,
        "add_metadef_property": metadefAdmin,
        "remove_metadef_property": metadefAdmin,
        "get_metadef_tag": adminOrProjectReaderGetNamespace,
        "get_metadef_tags": adminOrProjectReaderGetNamespace,
        "modify_metadef_tag": metadefAdmin,
        "add_metadef_tag": metadefAdmin,
        "add_metadef_tags": metadefAdmin,
        "delete_metadef_tag": metadefAdmin,
        "delete_metadef_tags": metadefAdmin,

        // cache.py
        "cache_image": admin,
        "cache_list": admin,
        "cache_delete": admin,
        "cache_clean": admin,
        "cache_prune": admin,

        // discovery.py
        "stores_info_detail": adminOrServiceRole,
    ]
}
