use scim_protocol::discovery::{
    PaginationFeatures, RESOURCE_TYPE_URN, SCHEMA_URN, SERVICE_PROVIDER_CONFIG_URN,
    ServiceProviderFeatures, find_resource_type, find_schema, resource_type_document,
    resource_types_list, schema_document, schemas_list, service_provider_config,
};
use scim_protocol::schema::{
    ENTERPRISE_USER_URN, GROUP_RESOURCE, GROUP_URN, USER_RESOURCE, USER_SCHEMA, USER_URN,
};
use serde_json::{Value, json};

const BASE: &str = "https://scim.example.com/scim/v2/";

/// Every attribute (recursively) carries the RFC 7643 §7 characteristics.
fn check_attributes(attrs: &Value, depth: usize) -> usize {
    let attrs = attrs.as_array().expect("attributes is an array");
    assert!(!attrs.is_empty());
    let mut count = 0;
    for a in attrs {
        count += 1;
        for key in [
            "name",
            "type",
            "multiValued",
            "description",
            "required",
            "mutability",
            "returned",
            "uniqueness",
        ] {
            assert!(a.get(key).is_some(), "{} lacks {key}", a["name"]);
        }
        assert!(a["multiValued"].is_boolean() && a["required"].is_boolean());
        let kind = a["type"].as_str().unwrap();
        assert!(
            [
                "string",
                "boolean",
                "decimal",
                "integer",
                "dateTime",
                "binary",
                "reference",
                "complex"
            ]
            .contains(&kind)
        );
        assert!(
            ["readOnly", "readWrite", "immutable", "writeOnly"]
                .contains(&a["mutability"].as_str().unwrap())
        );
        assert!(
            ["always", "never", "default", "request"].contains(&a["returned"].as_str().unwrap())
        );
        assert!(["none", "server", "global"].contains(&a["uniqueness"].as_str().unwrap()));
        if kind == "complex" {
            assert_eq!(depth, 0, "complex attributes only at the top level");
            assert!(a.get("caseExact").is_none());
            count += check_attributes(&a["subAttributes"], depth + 1);
        } else {
            assert!(a["caseExact"].is_boolean(), "{}", a["name"]);
            assert!(a.get("subAttributes").is_none());
        }
        if kind == "reference" {
            assert!(!a["referenceTypes"].as_array().unwrap().is_empty());
        } else {
            assert!(a.get("referenceTypes").is_none());
        }
    }
    count
}

#[test]
fn schema_documents() {
    let list = schemas_list(BASE);
    let ids: Vec<&str> = list.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [USER_URN, ENTERPRISE_USER_URN, GROUP_URN]);
    for doc in &list {
        assert_eq!(doc["schemas"], json!([SCHEMA_URN]));
        assert!(doc["name"].is_string() && doc["description"].is_string());
        assert_eq!(doc["meta"]["resourceType"], json!("Schema"));
        assert_eq!(
            doc["meta"]["location"],
            json!(format!(
                "https://scim.example.com/scim/v2/Schemas/{}",
                doc["id"].as_str().unwrap()
            ))
        );
        check_attributes(&doc["attributes"], 0);
    }

    let user = schema_document(&USER_SCHEMA, "https://h/scim/v2");
    let attr = |name: &str| {
        user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .cloned()
            .unwrap()
    };
    let user_name = attr("userName");
    assert_eq!(user_name["required"], json!(true));
    assert_eq!(user_name["uniqueness"], json!("server"));
    assert_eq!(user_name["caseExact"], json!(false));
    let password = attr("password");
    assert_eq!(password["mutability"], json!("writeOnly"));
    assert_eq!(password["returned"], json!("never"));
    let emails = attr("emails");
    assert_eq!(emails["multiValued"], json!(true));
    let email_type = emails["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "type")
        .unwrap();
    assert_eq!(
        email_type["canonicalValues"],
        json!(["work", "home", "other"])
    );
    let groups = attr("groups");
    assert_eq!(groups["mutability"], json!("readOnly"));
    assert_eq!(groups["subAttributes"][1]["name"], json!("$ref"));
    assert_eq!(
        groups["subAttributes"][1]["referenceTypes"],
        json!(["User", "Group"])
    );
    assert_eq!(attr("profileUrl")["referenceTypes"], json!(["external"]));
    // Common attributes are not part of any schema (RFC 7643 §3.1).
    assert!(
        user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["name"] != "id")
    );

    assert!(find_schema("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:GROUP").is_some());
    assert!(find_schema("urn:nope").is_none());
}

#[test]
fn resource_type_documents() {
    let user = resource_type_document(&USER_RESOURCE, BASE);
    assert_eq!(
        user,
        json!({
            "schemas": [RESOURCE_TYPE_URN],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account",
            "schema": USER_URN,
            "schemaExtensions": [{"schema": ENTERPRISE_USER_URN, "required": false}],
            "meta": {
                "resourceType": "ResourceType",
                "location": "https://scim.example.com/scim/v2/ResourceTypes/User"
            }
        })
    );
    let group = resource_type_document(&GROUP_RESOURCE, "https://h");
    assert_eq!(group["endpoint"], json!("/Groups"));
    assert_eq!(group["schema"], json!(GROUP_URN));
    assert!(group.get("schemaExtensions").is_none());
    assert_eq!(
        group["meta"]["location"],
        json!("https://h/ResourceTypes/Group")
    );
    assert_eq!(resource_types_list(BASE).len(), 2);
    assert!(find_resource_type("group").is_some());
    assert!(find_resource_type("Device").is_none());
}

#[test]
fn service_provider_configuration() {
    let features = ServiceProviderFeatures {
        max_results: 200,
        max_payload_bytes: 1 << 20,
        bulk_max_operations: 1000,
        bulk_max_payload_bytes: 4 << 20,
        documentation_uri: Some("https://docs.example.com/scim".into()),
        pagination: PaginationFeatures {
            default_page_size: 100,
            max_page_size: 200,
            cursor_timeout_secs: 3600,
        },
    };
    let doc = service_provider_config(&features, BASE);
    assert_eq!(doc["schemas"], json!([SERVICE_PROVIDER_CONFIG_URN]));
    assert_eq!(
        doc["documentationUri"],
        json!("https://docs.example.com/scim")
    );
    assert_eq!(doc["patch"], json!({"supported": true}));
    assert_eq!(
        doc["bulk"],
        json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 4_194_304})
    );
    assert_eq!(doc["filter"], json!({"supported": true, "maxResults": 200}));
    assert_eq!(doc["changePassword"], json!({"supported": false}));
    assert_eq!(doc["sort"], json!({"supported": true}));
    assert_eq!(doc["etag"], json!({"supported": true}));
    assert_eq!(
        doc["pagination"],
        json!({
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": 100,
            "maxPageSize": 200,
            "cursorTimeout": 3600
        })
    );
    let schemes = doc["authenticationSchemes"].as_array().unwrap();
    assert_eq!(schemes.len(), 1);
    assert_eq!(schemes[0]["type"], json!("oauthbearertoken"));
    assert_eq!(schemes[0]["name"], json!("OAuth Bearer Token"));
    assert!(
        schemes[0]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(
        doc["meta"],
        json!({
            "resourceType": "ServiceProviderConfig",
            "location": "https://scim.example.com/scim/v2/ServiceProviderConfig"
        })
    );
    let without_docs = service_provider_config(
        &ServiceProviderFeatures {
            documentation_uri: None,
            ..features
        },
        BASE,
    );
    assert!(without_docs.get("documentationUri").is_none());
}
