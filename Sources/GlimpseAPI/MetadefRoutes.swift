import Foundation
import GlimpseCore
import GlimpseDomain
import HTTPTypes
import Hummingbird
import NIOCore

/// The metadata definitions catalog (`/v2/metadefs/…`) and its schemas
/// (`/v2/schemas/metadefs/…`): decode the wire form, call one `MetadefService` operation,
/// encode the answer as Glance does.
struct MetadefRoutes: Sendable {
    let service: MetadefService
    let configuration: APIConfiguration

    static let ns = "/v2/metadefs/namespaces/:namespace"

    func register(on router: Router<GlimpseRequestContext>) {
        var methods: [(String, [HTTPRequest.Method])] = [
            ("/v2/metadefs/namespaces", [.get, .post]),
            (Self.ns, [.get, .put, .delete]),
            ("\(Self.ns)/objects", [.get, .post, .delete]),
            ("\(Self.ns)/objects/:object", [.get, .put, .delete]),
            ("\(Self.ns)/properties", [.get, .post, .delete]),
            ("\(Self.ns)/properties/:property", [.get, .put, .delete]),
            ("\(Self.ns)/tags", [.get, .post, .delete]),
            ("\(Self.ns)/tags/:tag", [.get, .post, .put, .delete]),
            ("/v2/metadefs/resource_types", [.get]),
            ("\(Self.ns)/resource_types", [.get, .post]),
            ("\(Self.ns)/resource_types/:resource_type", [.delete]),
        ]
        for (name, document) in MetadefSchemas.byName {
            methods.append(("/v2/schemas/metadefs/\(name)", [.get]))
            router.get(RouterPath("/v2/schemas/metadefs/\(name)")) { request, _ in
                try request.rejectBody()
                return Response.json(document)
            }
        }
        registerNamespaces(on: router)
        registerObjects(on: router)
        registerProperties(on: router)
        registerTags(on: router)
        registerResourceTypes(on: router)
        MethodNotAllowed.register(methods, on: router)
    }

    // MARK: namespaces

    func registerNamespaces(on router: Router<GlimpseRequestContext>) {
        router.get("/v2/metadefs/namespaces") { request, context in
            let params = ImageQueryParser.pairs(request.uri.query)
            let query = try Self.namespaceQuery(params, limitDefault: service.limitDefault, limitMax: service.limitMax)
            let page = try await service.listNamespaces(query, principal: context.principal)
            let withoutMarker = Self.lastValues(params.filter { $0.0 != "marker" })
            var o = JSONObject([("namespaces", .array(page.namespaces.map(MetadefJSON.namespace)))])
            o["schema"] = .string("/v2/schemas/metadefs/namespaces")
            o["first"] = .string("/v2/metadefs/namespaces" + (withoutMarker.isEmpty ? "" : "?" + MetadefJSON.urlencode(withoutMarker)))
            if let next = page.next {
                o["next"] = .string("/v2/metadefs/namespaces?" + MetadefJSON.urlencode(withoutMarker + [("marker", next)]))
            }
            return Response.json(.object(o))
        }
        router.post("/v2/metadefs/namespaces") { request, context in
            let body = try await Self.body(request, limit: configuration.maxJSONBodySize)
            let detail = try await service.createNamespace(body, principal: context.principal)
            var headers: HTTPFields = [:]
            headers[.location] = MetadefJSON.namespaceLink(detail.namespace.namespace)
            return Response.json(MetadefJSON.namespace(detail), status: .created, headers: headers)
        }
        router.get(RouterPath(Self.ns)) { request, context in
            try request.rejectBody()
            let resourceType = Self.value("resource_type", in: request)
            let detail = try await service.showNamespace(
                context.parameters.decoded("namespace"), resourceType: resourceType, principal: context.principal)
            return Response.json(MetadefJSON.namespace(detail))
        }
        router.put(RouterPath(Self.ns)) { request, context in
            let body = try await Self.body(request, limit: configuration.maxJSONBodySize)
            let namespace = try await service.updateNamespace(
                context.parameters.decoded("namespace"), body: body, principal: context.principal)
            return Response.json(MetadefJSON.namespace(.init(namespace: namespace)))
        }
        router.delete(RouterPath(Self.ns)) { request, context in
            try request.rejectBody()
            try await service.deleteNamespace(context.parameters.decoded("namespace"), principal: context.principal)
            return Response.noContent()
        }
    }

    // MARK: objects

    func registerObjects(on router: Router<GlimpseRequestContext>) {
        router.get(RouterPath("\(Self.ns)/objects")) { request, context in
            // Glance checks the paging parameters, then lists every object regardless.
            let params = ImageQueryParser.pairs(request.uri.query)
            _ = try Self.pagingQuery(params, sortKeys: nil, zeroLimitAllowed: false, visibilities: ["public", "private", "shared"])
            let namespace = context.parameters.decoded("namespace")
            let objects = try await service.listObjects(namespace, principal: context.principal)
            return Response.json(.object(JSONObject([
                ("objects", .array(objects.map { MetadefJSON.object($0, in: namespace, style: .stored) })),
                ("schema", .string("v2/schemas/metadefs/objects")),
            ])))
        }
        router.post(RouterPath("\(Self.ns)/objects")) { request, context in
            let body = try await Self.body(request, limit: configuration.maxJSONBodySize)
            let namespace = context.parameters.decoded("namespace")
            let object = try await service.createObject(namespace, body: body, principal: context.principal)
            return Response.json(MetadefJSON.object(object, in: namespace, style: .written), status: .created)
        }
        router.delete(RouterPath("\(Self.ns)/objects")) { _, context in
            try await service.deleteObjects(context.parameters.decoded("namespace"), principal: context.principal)
            return Response.noContent()
        }
        router.get(RouterPath("\(Self.ns)/objects/:object")) { request, context in
            try request.rejectBody()
            let namespace = context.parameters.decoded("namespace")
            let object = try await service.showObject(namespace, name: context.parameters.decoded("object"), principal: context.principal)
            return Response.json(MetadefJSON.object(object, in: namespace, style: .stored))
        }
        router.put(RouterPath("\(Self.ns)/objects/:object")) { request, context in
            let body = try await Self.body(request, limit: configuration.maxJSONBodySize)
            let namespace = context.parameters.decoded("namespace")
            let object = try await service.updateObject(
                namespace, name: context.parameters.decoded("object"), body: body, principal: context.principal)
            return Response.json(MetadefJSON.object(object, in: namespace, style: .written))
        }
        router.delete(RouterPath("\(Self.ns)/objects/:object")) { request, context in
            try request.rejectBody()
            try await service.deleteObject(
                context.parameters.decoded("namespace"), name: context.parameters.decoded("object"), principal: context.principal)
            return Response.noContent()
        }
    }

    // MARK: properties

    func registerProperties(on router: Router<GlimpseRequestContext>) {
        router.get(RouterPath("\(Self.ns)/properties")) { request, context in
            try request.rejectBody()
            let properties = try await service.listProperties(context.parameters.decoded("namespace"), principal: context.principal)
            return Response.json(.object(JSONObject([
                ("properties", .object(JSONObject(properties.map { ($0.0, .object($0.1)) }))),
            ])))
        }
        router.post(RouterPath("\(Self.ns)/properties")) { request, context in
            let body = try await Self.body(request, limit: configuration.maxJSONBodySize)
            let property = try await service.createProperty(
                context.parameters.decoded("namespace"), body: body, principal: context.principal)
            return Response.json(.object(property), status: .created)
        }
        router.delete(RouterPath("\(Self.ns)/properties")) { _, context in
            try await service.deleteProperties(context.parameters.decoded("namespace"), principal: context.principal)
            return Response.noContent()
        }
        router.get(RouterPath("\(Self.ns)/properties/:property")) { request, context in
            let property = try await service.showProperty(
                context.parameters.decoded("namespace"), name: context.parameters.decoded("property"),
                resourceType: Self.value("resource_type", in: request), principal: context.principal)
            return Response.json(.object(property))
        }
        router.put(RouterPath("\(Self.ns)/properties/:property")) { request, context in
            let body = try await Self.body(request, limit: configuration.maxJSONBodySize)
            let property = try await service.updateProperty(
                context.parameters.decoded("namespace"), name: context.parameters.decoded("property"), body: body,
                principal: context.principal)
            return Response.json(.object(property))
        }
        router.delete(RouterPath("\(Self.ns)/properties/:property")) { _, context in
            try await service.deleteProperty(
                context.parameters.decoded("namespace"), name: context.parameters.decoded("property"), principal: context.principal)
            return Response.noContent()
        }
    }

    // MARK: tags

    func registerTags(on router: Router<GlimpseRequestContext>) {
        router.get(RouterPath("\(Self.ns)/tags")) { request, context in
            let params = ImageQueryParser.pairs(request.uri.query)
            let query = try Self.pagingQuery(
                params, sortKeys: MetadefQuery.tagSortKeys, zeroLimitAllowed: true, visibilities: ["public", "private", "shared"])
            let tags = try await service.listTags(context.parameters.decoded("namespace"), query: query, principal: context.principal)
            return Response.json(Self.tagList(tags.map(\.name)))
        }
        router.post(RouterPath("\(Self.ns)/tags")) { request, context in
            let body = try await Self.body(request, limit: configuration.maxJSONBodySize)
            let append = Self.isTrue(request.headers[HTTPField.Name("X-Openstack-Append")!])
            let tags = try await service.createTags(
                context.parameters.decoded("namespace"), body: body, append: append, principal: context.principal)
            return Response.json(Self.tagList(tags), status: .created)
        }
        router.delete(RouterPath("\(Self.ns)/tags")) { _, context in
            try await service.deleteTags(context.parameters.decoded("namespace"), principal: context.principal)
            return Response.noContent()
        }
        router.get(RouterPath("\(Self.ns)/tags/:tag")) { request, context in
            try request.rejectBody()
            let tag = try await service.showTag(
                context.parameters.decoded("namespace"), name: context.parameters.decoded("tag"), principal: context.principal)
            return Response.json(MetadefJSON.tag(tag))
        }
        router.post(RouterPath("\(Self.ns)/tags/:tag")) { request, context in
            try request.rejectBody()
            let tag = try await service.createTag(
                context.parameters.decoded("namespace"), name: context.parameters.decoded("tag"), principal: context.principal)
            return Response.json(MetadefJSON.tag(tag), status: .created)
        }
        router.put(RouterPath("\(Self.ns)/tags/:tag")) { request, context in
            let body = try await Self.body(request, limit: configuration.maxJSONBodySize)
            let tag = try await service.updateTag(
                context.parameters.decoded("namespace"), name: context.parameters.decoded("tag"), body: body,
                principal: context.principal)
            return Response.json(MetadefJSON.tag(tag))
        }
        router.delete(RouterPath("\(Self.ns)/tags/:tag")) { request, context in
            try request.rejectBody()
            try await service.deleteTag(
                context.parameters.decoded("namespace"), name: context.parameters.decoded("tag"), principal: context.principal)
            return Response.noContent()
        }
    }

    static func tagList(_ names: [String]) -> JSONValue {
        .object(JSONObject([("tags", .array(names.map { .object(JSONObject([("name", .string($0))])) }))]))
    }

    // MARK: resource types

    func registerResourceTypes(on router: Router<GlimpseRequestContext>) {
        router.get("/v2/metadefs/resource_types") { request, context in
            try request.rejectBody()
            let types = try await service.listResourceTypes(principal: context.principal)
            return Response.json(.object(JSONObject([("resource_types", .array(types.map(MetadefJSON.resourceType)))])))
        }
        router.get(RouterPath("\(Self.ns)/resource_types")) { request, context in
            try request.rejectBody()
            let associations = try await service.listAssociations(context.parameters.decoded("namespace"), principal: context.principal)
            return Response.json(.object(JSONObject([
                ("resource_type_associations", .array(associations.map { MetadefJSON.association($0) })),
            ])))
        }
        router.post(RouterPath("\(Self.ns)/resource_types")) { request, context in
            let body = try await Self.body(request, limit: configuration.maxJSONBodySize)
            let association = try await service.createAssociation(
                context.parameters.decoded("namespace"), body: body, principal: context.principal)
            return Response.json(MetadefJSON.association(association), status: .created)
        }
        router.delete(RouterPath("\(Self.ns)/resource_types/:resource_type")) { request, context in
            try request.rejectBody()
            try await service.deleteAssociation(
                context.parameters.decoded("namespace"), name: context.parameters.decoded("resource_type"),
                principal: context.principal)
            return Response.noContent()
        }
    }

    // MARK: request decoding

    /// A JSON body; none at all is Glance's "Body expected in request." (400).
    static func body(_ request: Request, limit: Int) async throws -> JSONValue {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch let e as HTTPError where e.status == .contentTooLarge {
            throw GlimpseError.tooLarge("Request body is larger than \(limit) bytes.")
        } catch is NIOTooManyBytesError {
            throw GlimpseError.tooLarge("Request body is larger than \(limit) bytes.")
        }
        guard buffer.readableBytes > 0 else { throw GlimpseError.badRequest("Body expected in request.") }
        return try JSONValue.parse(Array(buffer.readableBytesView))
    }

    /// The first value of a query parameter.
    static func value(_ name: String, in request: Request) -> String? {
        ImageQueryParser.pairs(request.uri.query).first { $0.0 == name }?.1
    }

    /// Parameters as Python's `dict(request.params)` keeps them: each name once, at its first
    /// place, with its last value.
    static func lastValues(_ params: [(String, String)]) -> [(String, String)] {
        var out: [(String, String)] = []
        for (key, value) in params {
            if let i = out.firstIndex(where: { $0.0 == key }) { out[i].1 = value } else { out.append((key, value)) }
        }
        return out
    }

    /// oslo.strutils' `bool_from_string` (`true`, `yes`, `on`, `1`, … ; anything else is false).
    static func isTrue(_ value: String?) -> Bool {
        guard let value else { return false }
        return ["1", "t", "true", "on", "y", "yes"].contains(value.trimmingCharacters(in: .whitespaces).lowercased())
    }

    /// The namespace list's parameters (Glance's `RequestDeserializer.index`).
    static func namespaceQuery(_ params: [(String, String)], limitDefault: Int, limitMax: Int) throws -> MetadefQuery {
        var query = try pagingQuery(params, sortKeys: MetadefQuery.namespaceSortKeys, zeroLimitAllowed: true,
                                    visibilities: ["public", "private"])
        query.limit = min(limitMax, query.limit ?? limitDefault)
        if let visibility = params.first(where: { $0.0 == "visibility" })?.1, !visibility.isEmpty {
            query.visibility = visibility
        }
        if let types = params.first(where: { $0.0 == "resource_types" })?.1 {
            query.resourceTypes = types.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        return query
    }

    /// `limit`, `marker`, `sort_key`, `sort_dir` and the `visibility` check shared by the
    /// metadef lists. `sortKeys` `nil` accepts any key (the list ignores it).
    static func pagingQuery(_ params: [(String, String)], sortKeys: Set<String>?, zeroLimitAllowed: Bool, visibilities: Set<String>)
        throws -> MetadefQuery
    {
        var query = MetadefQuery()
        for (key, value) in params {
            switch key {
            case "limit":
                guard query.limit == nil else { continue }
                guard let n = Int(value) else { throw GlimpseError.badRequest("limit param must be an integer") }
                guard n > 0 || (zeroLimitAllowed && n == 0) else { throw GlimpseError.badRequest("limit param must be positive") }
                query.limit = n
            case "marker":
                if query.marker == nil, !value.isEmpty { query.marker = value }
            case "sort_dir":
                guard let dir = MetadefQuery.SortDirection(rawValue: value) else {
                    throw GlimpseError.badRequest("Invalid sort direction: \(value)")
                }
                query.sortDir = dir
            case "sort_key":
                if let sortKeys, !sortKeys.contains(value) { throw GlimpseError.badRequest("Invalid sort key: \(value)") }
                query.sortKey = value
            case "visibility":
                if !value.isEmpty, !visibilities.contains(value) {
                    throw GlimpseError.badRequest("Invalid visibility value: \(value)")
                }
            default:
                break
            }
        }
        return query
    }
}
