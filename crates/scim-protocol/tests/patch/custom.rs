//! A resource type with what the RFC schemas lack: a multi-valued complex
//! attribute in an extension, a multi-valued simple attribute, and an
//! immutable single-valued one.

use scim_protocol::patch::{PatchRequest, apply};
use scim_protocol::resource::normalize_for_write;
use scim_protocol::schema::{
    AttributeDef, AttributeType, Mutability, ResourceType, Schema, SchemaExtension,
};
use scim_protocol::{ErrorKind, ProtocolResult};
use serde_json::{Value, json};

use crate::support::body;

const CORE: &str = "urn:example:params:scim:schemas:core:1.0:Badge";
const EXT: &str = "urn:example:params:scim:schemas:extension:1.0:Access";

const DOOR_SUBS: &[AttributeDef] = &[
    AttributeDef::base("value", AttributeType::String),
    AttributeDef::base("type", AttributeType::String),
    AttributeDef::base("primary", AttributeType::Boolean),
];

static BADGE_SCHEMA: Schema = Schema {
    id: CORE,
    name: "Badge",
    description: "Badge",
    attributes: &[
        AttributeDef {
            required: true,
            ..AttributeDef::base("label", AttributeType::String)
        },
        AttributeDef {
            multi_valued: true,
            ..AttributeDef::base("tags", AttributeType::String)
        },
        AttributeDef::base("count", AttributeType::Integer),
        AttributeDef {
            mutability: Mutability::Immutable,
            ..AttributeDef::base("serial", AttributeType::String)
        },
    ],
};

static ACCESS_EXT: Schema = Schema {
    id: EXT,
    name: "Access",
    description: "Access",
    attributes: &[
        AttributeDef {
            multi_valued: true,
            sub_attributes: DOOR_SUBS,
            ..AttributeDef::base("doors", AttributeType::Complex)
        },
        AttributeDef::base("level", AttributeType::Integer),
    ],
};

static BADGE: ResourceType = ResourceType {
    id: "Badge",
    name: "Badge",
    endpoint: "/Badges",
    description: "Badge",
    schema: &BADGE_SCHEMA,
    extensions: &[SchemaExtension {
        schema: &ACCESS_EXT,
        required: false,
    }],
};

fn run(doc: Value, ops: Value) -> ProtocolResult<Value> {
    let mut doc = normalize_for_write(doc, &BADGE)?;
    let req = PatchRequest::parse(body(ops), &BADGE)?;
    apply(&mut doc, &req.operations, &BADGE)?;
    normalize_for_write(doc, &BADGE)
}

fn badge() -> Value {
    json!({
        "schemas": [CORE, EXT],
        "label": "B-1",
        "tags": ["red", "blue"],
        EXT: {
            "doors": [
                {"value": "D1", "type": "front", "primary": true},
                {"value": "D2", "type": "back"}
            ],
            "level": 2
        }
    })
}

#[test]
fn filtered_add_in_an_extension_creates_it() {
    let out = run(
        json!({"schemas": [CORE], "label": "B-2"}),
        json!([{"op": "add", "path": format!("{EXT}:doors[type eq \"side\"].value"), "value": "D3"}]),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({
            "schemas": [CORE, EXT],
            "label": "B-2",
            EXT: {"doors": [{"value": "D3", "type": "side"}]}
        })
    );
}

#[test]
fn filtered_operations_in_an_extension() {
    let out = run(
        badge(),
        json!([
            {"op": "replace", "path": format!("{EXT}:doors[type eq \"back\"].value"), "value": "D2b"},
            {"op": "remove", "path": format!("{EXT}:doors[value eq \"D1\"]")}
        ]),
    )
    .unwrap();
    assert_eq!(
        out[EXT],
        json!({"doors": [{"value": "D2b", "type": "back"}], "level": 2})
    );

    let out = run(
        badge(),
        json!([{"op": "replace", "path": format!("{EXT}:doors[type eq \"back\"].primary"), "value": true}]),
    )
    .unwrap();
    assert_eq!(
        out[EXT]["doors"],
        json!([
            {"value": "D1", "type": "front", "primary": false},
            {"value": "D2", "type": "back", "primary": true}
        ])
    );
}

#[test]
fn emptying_the_extension_through_filters_removes_it() {
    let mut start = badge();
    start[EXT] = json!({"doors": [{"value": "D1"}]});
    let mut doc = normalize_for_write(start, &BADGE).unwrap();
    let req = PatchRequest::parse(
        body(json!([{"op": "remove", "path": format!("{EXT}:doors[value eq \"D1\"]")}])),
        &BADGE,
    )
    .unwrap();
    apply(&mut doc, &req.operations, &BADGE).unwrap();
    assert!(doc.get(EXT).is_none(), "{doc}");
    assert_eq!(
        normalize_for_write(doc, &BADGE).unwrap(),
        json!({"schemas": [CORE], "label": "B-1", "tags": ["red", "blue"]})
    );
}

#[test]
fn multi_valued_simple_attribute() {
    let out = run(
        badge(),
        json!([{"op": "add", "path": "tags", "value": ["blue", "green"]}]),
    )
    .unwrap();
    assert_eq!(out["tags"], json!(["red", "blue", "green"]));
    let out = run(
        badge(),
        json!([{"op": "remove", "path": "tags", "value": ["red"]}]),
    )
    .unwrap();
    assert_eq!(out["tags"], json!(["blue"]));
    let out = run(
        badge(),
        json!([{"op": "add", "value": {"tags": ["green"]}}]),
    )
    .unwrap();
    assert_eq!(out["tags"], json!(["red", "blue", "green"]));
    let out = run(
        badge(),
        json!([{"op": "replace", "path": "tags", "value": ["one"]}]),
    )
    .unwrap();
    assert_eq!(out["tags"], json!(["one"]));
    // A lone value is not an array: refused, with or without a path.
    for ops in [
        json!([{"op": "add", "value": {"tags": "green"}}]),
        json!([{"op": "replace", "path": "tags", "value": "one"}]),
        json!([{"op": "remove", "path": "tags", "value": "red"}]),
    ] {
        let e = run(badge(), ops).unwrap_err();
        assert_eq!(
            e.kind,
            scim_protocol::ErrorKind::InvalidValue,
            "{}",
            e.detail
        );
    }
}

#[test]
fn types_are_checked_after_the_patch() {
    let err = run(
        badge(),
        json!([{"op": "replace", "path": format!("{EXT}:level"), "value": "high"}]),
    )
    .expect_err("level is an integer");
    assert_eq!(err.kind, ErrorKind::InvalidValue);
    let out = run(
        badge(),
        json!([{"op": "replace", "path": format!("{EXT}:level"), "value": 3.0}]),
    )
    .unwrap();
    assert_eq!(out[EXT]["level"], json!(3));
    let err = run(badge(), json!([{"op": "remove", "path": "label"}])).expect_err("required");
    assert_eq!(err.kind, ErrorKind::InvalidValue);
}

#[test]
fn immutable_attribute_is_set_once() {
    let out = run(
        badge(),
        json!([{"op": "add", "path": "serial", "value": "S-1"}]),
    )
    .unwrap();
    assert_eq!(out["serial"], json!("S-1"));
    // Adding the value it already has changes nothing (case-insensitive).
    let again = run(
        out.clone(),
        json!([
            {"op": "add", "path": "serial", "value": "s-1"},
            {"op": "add", "value": {"serial": "S-1"}}
        ]),
    )
    .unwrap();
    assert_eq!(again, out);
    let err = run(
        out.clone(),
        json!([{"op": "add", "path": "serial", "value": "S-2"}]),
    )
    .expect_err("serial is set");
    assert_eq!(err.kind, ErrorKind::Mutability);
    for op in ["replace", "remove"] {
        let err = PatchRequest::parse(
            body(json!([{"op": op, "path": "serial", "value": "S-1"}])),
            &BADGE,
        )
        .expect_err(op);
        assert_eq!(err.kind, ErrorKind::Mutability, "{op}");
    }
    // In a path-less replace (a full profile echoed back) it is ignored.
    let out2 = run(
        out.clone(),
        json!([{"op": "replace", "value": {"serial": "S-9", "label": "B-9"}}]),
    )
    .unwrap();
    assert_eq!(out2["serial"], json!("S-1"));
    assert_eq!(out2["label"], json!("B-9"));
}
