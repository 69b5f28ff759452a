//! Cases the RFC leaves to the server, decided (docs/scim.md, "PATCH"):
//! a value without its `value`, a sub-attribute added where there is no
//! value yet, and an extension set to null without a path.

use scim_protocol::ErrorKind;
use serde_json::json;

use crate::support::{ENT, bjensen, canonical_user, patch_user, patch_user_err, plain_user};

#[test]
fn removing_a_values_value_removes_the_value() {
    let out = patch_user(
        bjensen(),
        json!([{"op": "remove", "path": "emails[type eq \"work\"].value"}]),
    );
    assert_eq!(
        out["emails"],
        json!([{"value": "babs@jensen.org", "type": "home"}]),
        "{out}"
    );

    // Every e-mail's address: no e-mail is left.
    let out = patch_user(bjensen(), json!([{"op": "remove", "path": "emails.value"}]));
    assert!(out.get("emails").is_none(), "{out}");

    // A describing sub-attribute goes alone.
    let out = patch_user(
        bjensen(),
        json!([{"op": "remove", "path": "emails[type eq \"home\"].type"}]),
    );
    assert_eq!(
        out["emails"][1],
        json!({"value": "babs@jensen.org"}),
        "{out}"
    );

    // Attributes without `value` (addresses) lose a value once it is empty.
    let out = patch_user(
        json!({"schemas": [crate::support::USER], "userName": "a",
               "addresses": [{"type": "work", "postalCode": "1"}, {"type": "home", "postalCode": "2"}]}),
        json!([
            {"op": "remove", "path": "addresses[type eq \"work\"].type"},
            {"op": "remove", "path": "addresses[postalCode eq \"1\"].postalCode"}
        ]),
    );
    assert_eq!(
        out["addresses"],
        json!([{"type": "home", "postalCode": "2"}]),
        "{out}"
    );
}

#[test]
fn adding_a_sub_attribute_where_there_is_no_value_creates_one() {
    for op in ["add", "replace"] {
        let out = patch_user(
            plain_user(),
            json!([{"op": op, "path": "emails.value", "value": "new@example.com"}]),
        );
        assert_eq!(
            out["emails"],
            json!([{"value": "new@example.com"}]),
            "{op}: {out}"
        );
    }
    let out = patch_user(
        plain_user(),
        json!([{"op": "add", "path": "addresses.postalCode", "value": "91608"}]),
    );
    assert_eq!(out["addresses"], json!([{"postalCode": "91608"}]), "{out}");

    // Existing values each take it, as before.
    let out = patch_user(
        bjensen(),
        json!([{"op": "add", "path": "emails.type", "value": "other"}]),
    );
    assert_eq!(out["emails"][0]["type"], "other");
    assert_eq!(out["emails"][1]["type"], "other");
}

#[test]
fn a_describing_sub_attribute_with_no_value_to_describe_is_no_target() {
    assert_eq!(
        patch_user_err(
            plain_user(),
            json!([{"op": "add", "path": "emails.type", "value": "work"}])
        ),
        ErrorKind::NoTarget
    );
    // Null adds nothing.
    let out = patch_user(
        plain_user(),
        json!([{"op": "add", "path": "emails.value", "value": null}]),
    );
    assert_eq!(out, canonical_user(plain_user()));
}

#[test]
fn a_null_extension_without_a_path_is_unassigned() {
    let before = canonical_user(bjensen());
    // add null: nothing to add, as POST ignores it.
    let out = patch_user(bjensen(), json!([{"op": "add", "value": {ENT: null}}]));
    assert_eq!(out, before);
    // replace with null: the extension's attributes are unassigned, as on PUT.
    let out = patch_user(bjensen(), json!([{"op": "replace", "value": {ENT: null}}]));
    assert!(out.get(ENT).is_none(), "{out}");
    assert_eq!(out["userName"], "bjensen");
    // The same through the extension's path.
    let out = patch_user(
        bjensen(),
        json!([{"op": "add", "path": ENT, "value": null}]),
    );
    assert_eq!(out, before);
    let out = patch_user(
        bjensen(),
        json!([{"op": "replace", "path": ENT, "value": null}]),
    );
    assert!(out.get(ENT).is_none(), "{out}");
}
