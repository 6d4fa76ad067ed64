/// Glance's metadef JSON-schema documents (`/v2/schemas/metadefs/*`), byte for byte as Glance 33
/// serves them, and the request schemas derived from them. Requests are validated against the
/// same documents clients read, as Glance does.
public enum MetadefSchemas {
    /// `/v2/schemas/metadefs/namespace`: also what namespace create and update bodies must match.
    public static let namespace = parse(namespaceDocument)
    /// `/v2/schemas/metadefs/object`: object create and update bodies.
    public static let object = parse(objectDocument)
    /// `/v2/schemas/metadefs/property`: property create and update bodies (`name` required).
    public static let property = parse(propertyDocument)
    /// `/v2/schemas/metadefs/tag`: tag update bodies and new tag names.
    public static let tag = parse(tagDocument)
    /// `/v2/schemas/metadefs/resource_type`: resource type association bodies.
    public static let resourceType = parse(resourceTypeDocument)

    public static let namespaces = collection("namespaces", of: namespace)
    public static let objects = collection("objects", of: object)
    public static let tags = collection("tags", of: tag)
    public static let resourceTypes = collection("resource_type_associations", of: resourceType)
    /// Properties are a dictionary by name, so the item schema does not require `name`.
    public static let properties: JSONValue = {
        var item = itemWithoutDefinitions(property)
        item["required"] = .array([.string("type"), .string("title")])
        return collectionDocument("properties", container: JSONObject([("type", .string("object")), ("additionalProperties", .object(item))]),
                                  definitions: property.objectValue?["definitions"])
    }()

    /// A property inside an object (object create checks each against it): `name` is the key.
    public static let objectProperty: JSONValue = {
        var o = property.objectValue ?? JSONObject()
        o["required"] = .array([.string("type"), .string("title")])
        return .object(o)
    }()

    /// The body of `POST /v2/metadefs/namespaces/{ns}/tags`: `{"tags": [{"name": …}, …]}`.
    public static let tagList: JSONValue = parse(#"""
        {"name": "tags", "properties": {"tags": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": false}}}, "additionalProperties": false}
        """#)

    /// The ten documents of `/v2/schemas/metadefs/{name}`.
    public static let byName: [String: JSONValue] = [
        "namespace": namespace, "namespaces": namespaces, "object": object, "objects": objects,
        "property": property, "properties": properties, "tag": tag, "tags": tags,
        "resource_type": resourceType, "resource_types": resourceTypes,
    ]

    static func parse(_ text: String) -> JSONValue {
        do { return try JSONValue.parse(Array(text.utf8)) } catch { fatalError("metadef schema does not parse: \(error)") }
    }

    /// The item schema without its definitions (a collection hoists them to the top).
    static func itemWithoutDefinitions(_ item: JSONValue) -> JSONObject {
        var o = item.objectValue ?? JSONObject()
        o["definitions"] = nil
        return o
    }

    /// glance.schema.CollectionSchema: an array of items plus the paging links.
    static func collection(_ name: String, of item: JSONValue) -> JSONValue {
        collectionDocument(name, container: JSONObject([("type", .string("array")), ("items", .object(itemWithoutDefinitions(item)))]),
                           definitions: item.objectValue?["definitions"])
    }

    static func collectionDocument(_ name: String, container: JSONObject, definitions: JSONValue?) -> JSONValue {
        var doc = JSONObject([
            ("name", .string(name)),
            ("properties", .object(JSONObject([
                (name, .object(container)),
                ("first", .object(JSONObject([("type", .string("string"))]))),
                ("next", .object(JSONObject([("type", .string("string"))]))),
                ("schema", .object(JSONObject([("type", .string("string"))]))),
            ]))),
            ("links", .array([
                .object(JSONObject([("rel", .string("first")), ("href", .string("{first}"))])),
                .object(JSONObject([("rel", .string("next")), ("href", .string("{next}"))])),
                .object(JSONObject([("rel", .string("describedby")), ("href", .string("{schema}"))])),
            ])),
        ])
        if let definitions { doc["definitions"] = definitions }
        return .object(doc)
    }

    static let namespaceDocument = #"""
{
 "name": "namespace",
 "properties": {
  "namespace": {
   "type": "string",
   "description": "The unique namespace text.",
   "maxLength": 80
  },
  "display_name": {
   "type": "string",
   "description": "The user friendly name for the namespace. Used by UI if available.",
   "maxLength": 80
  },
  "description": {
   "type": "string",
   "description": "Provides a user friendly description of the namespace.",
   "maxLength": 500
  },
  "visibility": {
   "type": "string",
   "description": "Scope of namespace accessibility.",
   "enum": [
    "public",
    "private"
   ]
  },
  "protected": {
   "type": "boolean",
   "description": "If true, namespace will not be deletable."
  },
  "owner": {
   "type": "string",
   "description": "Owner of the namespace.",
   "maxLength": 255
  },
  "created_at": {
   "type": "string",
   "readOnly": true,
   "description": "Date and time of namespace creation",
   "format": "date-time"
  },
  "updated_at": {
   "type": "string",
   "readOnly": true,
   "description": "Date and time of the last namespace modification",
   "format": "date-time"
  },
  "schema": {
   "readOnly": true,
   "type": "string"
  },
  "self": {
   "readOnly": true,
   "type": "string"
  },
  "resource_type_associations": {
   "type": "array",
   "items": {
    "type": "object",
    "properties": {
     "name": {
      "type": "string"
     },
     "prefix": {
      "type": "string"
     },
     "properties_target": {
      "type": "string"
     }
    }
   }
  },
  "properties": {
   "$ref": "#/definitions/property"
  },
  "objects": {
   "type": "array",
   "items": {
    "type": "object",
    "properties": {
     "name": {
      "type": "string"
     },
     "description": {
      "type": "string"
     },
     "required": {
      "$ref": "#/definitions/stringArray"
     },
     "properties": {
      "$ref": "#/definitions/property"
     }
    }
   }
  },
  "tags": {
   "type": "array",
   "items": {
    "type": "object",
    "properties": {
     "name": {
      "type": "string"
     }
    }
   }
  }
 },
 "additionalProperties": false,
 "definitions": {
  "positiveInteger": {
   "type": "integer",
   "minimum": 0
  },
  "positiveIntegerDefault0": {
   "allOf": [
    {
     "$ref": "#/definitions/positiveInteger"
    },
    {
     "default": 0
    }
   ]
  },
  "stringArray": {
   "type": "array",
   "items": {
    "type": "string"
   },
   "uniqueItems": true
  },
  "property": {
   "type": "object",
   "additionalProperties": {
    "type": "object",
    "required": [
     "title",
     "type"
    ],
    "properties": {
     "name": {
      "type": "string",
      "maxLength": 80
     },
     "title": {
      "type": "string"
     },
     "description": {
      "type": "string"
     },
     "operators": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "type": {
      "type": "string",
      "enum": [
       "array",
       "boolean",
       "integer",
       "number",
       "object",
       "string",
       null
      ]
     },
     "required": {
      "$ref": "#/definitions/stringArray"
     },
     "minimum": {
      "type": "number"
     },
     "maximum": {
      "type": "number"
     },
     "maxLength": {
      "$ref": "#/definitions/positiveInteger"
     },
     "minLength": {
      "$ref": "#/definitions/positiveIntegerDefault0"
     },
     "pattern": {
      "type": "string",
      "format": "regex"
     },
     "enum": {
      "type": "array"
     },
     "readonly": {
      "type": "boolean"
     },
     "default": {},
     "items": {
      "type": "object",
      "properties": {
       "type": {
        "type": "string",
        "enum": [
         "array",
         "boolean",
         "integer",
         "number",
         "object",
         "string",
         null
        ]
       },
       "enum": {
        "type": "array"
       }
      }
     },
     "maxItems": {
      "$ref": "#/definitions/positiveInteger"
     },
     "minItems": {
      "$ref": "#/definitions/positiveIntegerDefault0"
     },
     "uniqueItems": {
      "type": "boolean",
      "default": false
     },
     "additionalItems": {
      "type": "boolean"
     }
    }
   }
  }
 },
 "required": [
  "namespace"
 ]
}
"""#

    static let objectDocument = #"""
{
 "name": "object",
 "properties": {
  "name": {
   "type": "string",
   "maxLength": 80
  },
  "description": {
   "type": "string"
  },
  "required": {
   "$ref": "#/definitions/stringArray"
  },
  "properties": {
   "$ref": "#/definitions/property"
  },
  "schema": {
   "readOnly": true,
   "type": "string"
  },
  "self": {
   "readOnly": true,
   "type": "string"
  },
  "created_at": {
   "type": "string",
   "readOnly": true,
   "description": "Date and time of object creation",
   "format": "date-time"
  },
  "updated_at": {
   "type": "string",
   "readOnly": true,
   "description": "Date and time of the last object modification",
   "format": "date-time"
  }
 },
 "additionalProperties": false,
 "definitions": {
  "positiveInteger": {
   "type": "integer",
   "minimum": 0
  },
  "positiveIntegerDefault0": {
   "allOf": [
    {
     "$ref": "#/definitions/positiveInteger"
    },
    {
     "default": 0
    }
   ]
  },
  "stringArray": {
   "type": "array",
   "items": {
    "type": "string"
   },
   "uniqueItems": true
  },
  "property": {
   "type": "object",
   "additionalProperties": {
    "type": "object",
    "required": [
     "title",
     "type"
    ],
    "properties": {
     "name": {
      "type": "string",
      "maxLength": 80
     },
     "title": {
      "type": "string"
     },
     "description": {
      "type": "string"
     },
     "operators": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "type": {
      "type": "string",
      "enum": [
       "array",
       "boolean",
       "integer",
       "number",
       "object",
       "string",
       null
      ]
     },
     "required": {
      "$ref": "#/definitions/stringArray"
     },
     "minimum": {
      "type": "number"
     },
     "maximum": {
      "type": "number"
     },
     "maxLength": {
      "$ref": "#/definitions/positiveInteger"
     },
     "minLength": {
      "$ref": "#/definitions/positiveIntegerDefault0"
     },
     "pattern": {
      "type": "string",
      "format": "regex"
     },
     "enum": {
      "type": "array"
     },
     "readonly": {
      "type": "boolean"
     },
     "default": {},
     "items": {
      "type": "object",
      "properties": {
       "type": {
        "type": "string",
        "enum": [
         "array",
         "boolean",
         "integer",
         "number",
         "object",
         "string",
         null
        ]
       },
       "enum": {
        "type": "array"
       }
      }
     },
     "maxItems": {
      "$ref": "#/definitions/positiveInteger"
     },
     "minItems": {
      "$ref": "#/definitions/positiveIntegerDefault0"
     },
     "uniqueItems": {
      "type": "boolean",
      "default": false
     },
     "additionalItems": {
      "type": "boolean"
     }
    }
   }
  }
 },
 "required": [
  "name"
 ]
}
"""#

    static let propertyDocument = #"""
{
 "name": "property",
 "properties": {
  "name": {
   "type": "string",
   "maxLength": 80
  },
  "title": {
   "type": "string"
  },
  "description": {
   "type": "string"
  },
  "operators": {
   "type": "array",
   "items": {
    "type": "string"
   }
  },
  "type": {
   "type": "string",
   "enum": [
    "array",
    "boolean",
    "integer",
    "number",
    "object",
    "string",
    null
   ]
  },
  "required": {
   "$ref": "#/definitions/stringArray"
  },
  "minimum": {
   "type": "number"
  },
  "maximum": {
   "type": "number"
  },
  "maxLength": {
   "$ref": "#/definitions/positiveInteger"
  },
  "minLength": {
   "$ref": "#/definitions/positiveIntegerDefault0"
  },
  "pattern": {
   "type": "string",
   "format": "regex"
  },
  "enum": {
   "type": "array"
  },
  "readonly": {
   "type": "boolean"
  },
  "default": {},
  "items": {
   "type": "object",
   "properties": {
    "type": {
     "type": "string",
     "enum": [
      "array",
      "boolean",
      "integer",
      "number",
      "object",
      "string",
      null
     ]
    },
    "enum": {
     "type": "array"
    }
   }
  },
  "maxItems": {
   "$ref": "#/definitions/positiveInteger"
  },
  "minItems": {
   "$ref": "#/definitions/positiveIntegerDefault0"
  },
  "uniqueItems": {
   "type": "boolean",
   "default": false
  },
  "additionalItems": {
   "type": "boolean"
  }
 },
 "additionalProperties": false,
 "definitions": {
  "positiveInteger": {
   "type": "integer",
   "minimum": 0
  },
  "positiveIntegerDefault0": {
   "allOf": [
    {
     "$ref": "#/definitions/positiveInteger"
    },
    {
     "default": 0
    }
   ]
  },
  "stringArray": {
   "type": "array",
   "items": {
    "type": "string"
   },
   "minItems": 1,
   "uniqueItems": true
  }
 },
 "required": [
  "type",
  "title",
  "name"
 ]
}
"""#

    static let tagDocument = #"""
{
 "name": "tag",
 "properties": {
  "name": {
   "type": "string",
   "maxLength": 80
  },
  "created_at": {
   "type": "string",
   "readOnly": true,
   "description": "Date and time of tag creation",
   "format": "date-time"
  },
  "updated_at": {
   "type": "string",
   "readOnly": true,
   "description": "Date and time of the last tag modification",
   "format": "date-time"
  }
 },
 "additionalProperties": false,
 "required": [
  "name"
 ]
}
"""#

    static let resourceTypeDocument = #"""
{
 "name": "resource_type_association",
 "properties": {
  "name": {
   "type": "string",
   "description": "Resource type names should be aligned with Heat resource types whenever possible: https://docs.openstack.org/heat/latest/template_guide/openstack.html",
   "maxLength": 80
  },
  "prefix": {
   "type": "string",
   "description": "Specifies the prefix to use for the given resource type. Any properties in the namespace should be prefixed with this prefix when being applied to the specified resource type. Must include prefix separator (e.g. a colon :).",
   "maxLength": 80
  },
  "properties_target": {
   "type": "string",
   "description": "Some resource types allow more than one key / value pair per instance.  For example, Cinder allows user and image metadata on volumes. Only the image properties metadata is evaluated by Nova (scheduling or drivers). This property allows a namespace target to remove the ambiguity.",
   "maxLength": 80
  },
  "created_at": {
   "type": "string",
   "readOnly": true,
   "description": "Date and time of resource type association",
   "format": "date-time"
  },
  "updated_at": {
   "type": "string",
   "readOnly": true,
   "description": "Date and time of the last resource type association modification",
   "format": "date-time"
  }
 },
 "additionalProperties": false,
 "required": [
  "name"
 ]
}
"""#
}
