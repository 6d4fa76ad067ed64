import Foundation
import GlimpseDomain

/// Glance 33's catalog schema at its migration head (alembic `2024_1_contract01`), so that a
/// database made by Glance is served in place and the other way round. Column names, types,
/// nullability, defaults and constraints follow Glance; the DDL here is portable between SQLite
/// and PostgreSQL except where `SQLDialect` says otherwise.
enum GlanceSchema {
    static let alembicHead = "2024_1_contract01"

    static func statements(_ dialect: SQLDialect = .sqlite) -> [String] {
        let B = "BOOLEAN"
        // SQLAlchemy's DateTime: DATETIME text in SQLite, `timestamp without time zone` in PostgreSQL.
        let T = dialect == .postgres ? "TIMESTAMP WITHOUT TIME ZONE" : "DATETIME"
        // Integer primary keys autoincrement: SQLite's rowid alias, PostgreSQL's SERIAL.
        let ID = dialect == .postgres ? "id SERIAL NOT NULL PRIMARY KEY" : "id INTEGER NOT NULL PRIMARY KEY"
        let softDelete = "created_at \(T) NOT NULL, updated_at \(T), deleted_at \(T), deleted \(B) NOT NULL"
        // images.visibility: SQLAlchemy's Enum is the native enum type `image_visibility` in
        // PostgreSQL, a VARCHAR(9) elsewhere.
        let visibility = dialect == .postgres ? "image_visibility DEFAULT 'shared'" : "VARCHAR(9) DEFAULT 'shared'"
        let types = dialect == .postgres ? [
            """
            DO $$ BEGIN
              IF to_regtype('image_visibility') IS NULL THEN
                CREATE TYPE image_visibility AS ENUM ('private', 'public', 'shared', 'community');
              END IF;
            END $$
            """,
        ] : []
        return types + [
            "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))",
            """
            CREATE TABLE IF NOT EXISTS images (
              id VARCHAR(36) NOT NULL PRIMARY KEY, name VARCHAR(255), size BIGINT, status VARCHAR(30) NOT NULL,
              \(softDelete),
              disk_format VARCHAR(20), container_format VARCHAR(20), checksum VARCHAR(32), owner VARCHAR(255),
              min_disk INTEGER NOT NULL, min_ram INTEGER NOT NULL, protected \(B) DEFAULT FALSE NOT NULL,
              virtual_size BIGINT, visibility \(visibility) NOT NULL, os_hidden \(B) DEFAULT FALSE NOT NULL,
              os_hash_algo VARCHAR(64), os_hash_value VARCHAR(128))
            """,
            "CREATE INDEX IF NOT EXISTS checksum_image_idx ON images (checksum)",
            "CREATE INDEX IF NOT EXISTS created_at_image_idx ON images (created_at)",
            "CREATE INDEX IF NOT EXISTS updated_at_image_idx ON images (updated_at)",
            "CREATE INDEX IF NOT EXISTS ix_images_deleted ON images (deleted)",
            "CREATE INDEX IF NOT EXISTS os_hash_value_image_idx ON images (os_hash_value)",
            "CREATE INDEX IF NOT EXISTS os_hidden_image_idx ON images (os_hidden)",
            "CREATE INDEX IF NOT EXISTS owner_image_idx ON images (owner)",
            "CREATE INDEX IF NOT EXISTS visibility_image_idx ON images (visibility)",
            // Glimpse's own (Glance has none such): the default list order, newest first, walked
            // in the index instead of sorting every live row for each page (57 ms → ~1 ms for a
            // page of 25 at 100,000 images). Glance ignores it; its migrations do not touch it.
            "CREATE INDEX IF NOT EXISTS glimpse_images_live_created_idx ON images (deleted, created_at, id)",
            // Glimpse's own: the writes nodes are streaming into stores (`WriteLeaseCatalog`).
            """
            CREATE TABLE IF NOT EXISTS glimpse_write_leases (
              id VARCHAR(36) NOT NULL PRIMARY KEY, image_id VARCHAR(36) NOT NULL, store VARCHAR(255) NOT NULL,
              leftovers TEXT, image_status VARCHAR(30), holder VARCHAR(64) NOT NULL, heartbeat_at \(T) NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS glimpse_write_leases_heartbeat_idx ON glimpse_write_leases (heartbeat_at)",
        ] + sortIndexes(dialect) + [
            """
            CREATE TABLE IF NOT EXISTS image_properties (
              \(ID), image_id VARCHAR(36) NOT NULL REFERENCES images (id),
              name VARCHAR(255) NOT NULL, value TEXT, \(softDelete),
              CONSTRAINT ix_image_properties_image_id_name UNIQUE (image_id, name))
            """,
            "CREATE INDEX IF NOT EXISTS ix_image_properties_deleted ON image_properties (deleted)",
            "CREATE INDEX IF NOT EXISTS ix_image_properties_image_id ON image_properties (image_id)",
            """
            CREATE TABLE IF NOT EXISTS image_locations (
              \(ID), image_id VARCHAR(36) NOT NULL REFERENCES images (id),
              value TEXT NOT NULL, \(softDelete), meta_data TEXT, status VARCHAR(30) DEFAULT 'active' NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS ix_image_locations_deleted ON image_locations (deleted)",
            "CREATE INDEX IF NOT EXISTS ix_image_locations_image_id ON image_locations (image_id)",
            """
            CREATE TABLE IF NOT EXISTS image_members (
              \(ID), image_id VARCHAR(36) NOT NULL REFERENCES images (id),
              member VARCHAR(255) NOT NULL, can_share \(B) NOT NULL, \(softDelete),
              status VARCHAR(20) DEFAULT 'pending' NOT NULL,
              CONSTRAINT image_members_image_id_member_deleted_at_key UNIQUE (image_id, member, deleted_at))
            """,
            "CREATE INDEX IF NOT EXISTS ix_image_members_deleted ON image_members (deleted)",
            "CREATE INDEX IF NOT EXISTS ix_image_members_image_id ON image_members (image_id)",
            "CREATE INDEX IF NOT EXISTS ix_image_members_image_id_member ON image_members (image_id, member)",
            """
            CREATE TABLE IF NOT EXISTS image_tags (
              \(ID), image_id VARCHAR(36) NOT NULL REFERENCES images (id),
              value VARCHAR(255) NOT NULL, \(softDelete))
            """,
            "CREATE INDEX IF NOT EXISTS ix_image_tags_image_id ON image_tags (image_id)",
            "CREATE INDEX IF NOT EXISTS ix_image_tags_image_id_tag_value ON image_tags (image_id, value)",
            """
            CREATE TABLE IF NOT EXISTS tasks (
              id VARCHAR(36) NOT NULL PRIMARY KEY, type VARCHAR(30) NOT NULL, status VARCHAR(30) NOT NULL,
              owner VARCHAR(255) NOT NULL, expires_at \(T), \(softDelete),
              image_id VARCHAR(36), request_id VARCHAR(64), user_id VARCHAR(64))
            """,
            "CREATE INDEX IF NOT EXISTS ix_tasks_deleted ON tasks (deleted)",
            "CREATE INDEX IF NOT EXISTS ix_tasks_image_id ON tasks (image_id)",
            "CREATE INDEX IF NOT EXISTS ix_tasks_owner ON tasks (owner)",
            "CREATE INDEX IF NOT EXISTS ix_tasks_status ON tasks (status)",
            "CREATE INDEX IF NOT EXISTS ix_tasks_type ON tasks (type)",
            "CREATE INDEX IF NOT EXISTS ix_tasks_updated_at ON tasks (updated_at)",
            """
            CREATE TABLE IF NOT EXISTS task_info (
              task_id VARCHAR(36) NOT NULL PRIMARY KEY REFERENCES tasks (id), input TEXT, result TEXT, message TEXT)
            """,
            """
            CREATE TABLE IF NOT EXISTS metadef_namespaces (
              \(ID), namespace VARCHAR(80) NOT NULL, display_name VARCHAR(80),
              description TEXT, visibility VARCHAR(32), protected \(B), owner VARCHAR(255) NOT NULL,
              created_at \(T) NOT NULL, updated_at \(T), CONSTRAINT uq_metadef_namespaces_namespace UNIQUE (namespace))
            """,
            "CREATE INDEX IF NOT EXISTS ix_metadef_namespaces_owner ON metadef_namespaces (owner)",
            """
            CREATE TABLE IF NOT EXISTS metadef_resource_types (
              \(ID), name VARCHAR(80) NOT NULL, protected \(B) NOT NULL,
              created_at \(T) NOT NULL, updated_at \(T), CONSTRAINT uq_metadef_resource_types_name UNIQUE (name))
            """,
            """
            CREATE TABLE IF NOT EXISTS metadef_namespace_resource_types (
              resource_type_id INTEGER NOT NULL REFERENCES metadef_resource_types (id),
              namespace_id INTEGER NOT NULL REFERENCES metadef_namespaces (id),
              properties_target VARCHAR(80), prefix VARCHAR(80), created_at \(T) NOT NULL, updated_at \(T),
              PRIMARY KEY (resource_type_id, namespace_id))
            """,
            "CREATE INDEX IF NOT EXISTS ix_metadef_ns_res_types_namespace_id ON metadef_namespace_resource_types (namespace_id)",
            """
            CREATE TABLE IF NOT EXISTS metadef_objects (
              \(ID), namespace_id INTEGER NOT NULL REFERENCES metadef_namespaces (id),
              name VARCHAR(80) NOT NULL, description TEXT, required TEXT, json_schema TEXT NOT NULL,
              created_at \(T) NOT NULL, updated_at \(T), CONSTRAINT uq_metadef_objects_namespace_id_name UNIQUE (namespace_id, name))
            """,
            "CREATE INDEX IF NOT EXISTS ix_metadef_objects_name ON metadef_objects (name)",
            """
            CREATE TABLE IF NOT EXISTS metadef_properties (
              \(ID), namespace_id INTEGER NOT NULL REFERENCES metadef_namespaces (id),
              name VARCHAR(80) NOT NULL, json_schema TEXT NOT NULL, created_at \(T) NOT NULL, updated_at \(T),
              CONSTRAINT uq_metadef_properties_namespace_id_name UNIQUE (namespace_id, name))
            """,
            "CREATE INDEX IF NOT EXISTS ix_metadef_properties_name ON metadef_properties (name)",
            """
            CREATE TABLE IF NOT EXISTS metadef_tags (
              \(ID), namespace_id INTEGER NOT NULL REFERENCES metadef_namespaces (id),
              name VARCHAR(80) NOT NULL, created_at \(T) NOT NULL, updated_at \(T),
              CONSTRAINT uq_metadef_tags_namespace_id_name UNIQUE (namespace_id, name))
            """,
            "CREATE INDEX IF NOT EXISTS ix_metadef_tags_name ON metadef_tags (name)",
            """
            CREATE TABLE IF NOT EXISTS node_reference (
              node_reference_\(ID), node_reference_url VARCHAR(255) NOT NULL,
              CONSTRAINT uq_node_reference_node_reference_url UNIQUE (node_reference_url))
            """,
            """
            CREATE TABLE IF NOT EXISTS cached_images (
              \(ID), image_id VARCHAR(36) NOT NULL, last_accessed \(T) NOT NULL,
              last_modified \(T) NOT NULL, size BIGINT NOT NULL, hits INTEGER NOT NULL, checksum VARCHAR(32),
              node_reference_id INTEGER NOT NULL REFERENCES node_reference (node_reference_id),
              CONSTRAINT ix_cached_images_image_id_node_reference_id UNIQUE (image_id, node_reference_id))
            """,
        ]
    }

    /// Sort keys a list may be ordered by, each with an index of Glimpse's own over exactly the
    /// ORDER BY `SQLCatalog.sortTerms` writes for a sort on that key alone (the key, then
    /// `created_at` and `id` in the same direction, as Glance orders), so a page walks the
    /// index forwards or backwards and stops at its limit instead of sorting every match.
    static let indexedSortKeys: [(ImageQuery.SortKey, String)] = [
        (.name, "name"), (.size, "size"), (.updatedAt, "updated_at"), (.status, "status"),
        (.diskFormat, "disk_format"), (.containerFormat, "container_format"),
    ]

    static func sortIndexes(_ dialect: SQLDialect) -> [String] {
        indexedSortKeys.map { key, name in
            let terms = SQLCatalog.sortTerms([(key, .asc)], dialect).map(\.expression)
                .map { $0.replacingOccurrences(of: "images.", with: "") }
            return "CREATE INDEX IF NOT EXISTS glimpse_images_live_\(name)_idx ON images (deleted, \(terms.joined(separator: ", ")), created_at, id)"
        }
    }
}
