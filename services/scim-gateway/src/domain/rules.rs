//! Which provisioning events a change of the SCIM view emits. Pure functions of
//! the documents before and after: the rules of the product live here.
//!
//! - A user created active → `user.provisioned`, naming a new account id (so
//!   every service and every replay names the same account). Created inactive → nothing:
//!   no account and no seat until it is activated (`user.reactivated`).
//! - `active` true → false → `user.deactivated`; false → true →
//!   `user.reactivated` (a new account; carries the current profile).
//! - Otherwise, an active user whose mapped profile changed → `user.updated`.
//!   Changes to attributes the product does not map emit nothing; neither do
//!   changes to an inactive user (its account is anonymized).
//! - Delete → `user.deleted`.
//! - Groups: create → `group.provisioned`; `displayName` changed →
//!   `group.renamed`; membership changes → `group.members_added` /
//!   `group.members_removed`; delete → `group.deleted`.

use chrono::{DateTime, Utc};
use provisioning_events::{
    Aggregate, AggregateKind, Event, EventBody, Member, MemberKind, SCHEMA_VERSION, UserProfile,
};
use scim_protocol::schema::{Mutability, ResourceType};
use serde_json::Value;
use uuid::Uuid;

use super::models::{MemberRef, ResourceId, ResourceKind, StoredResource, Tenant};

/// What the view keeps of a written document: all but its write-only
/// attributes (`password`). The product never signs anyone in with a SCIM
/// password, and a value nobody may read back is one nobody should hold:
/// an IdP that syncs passwords is answered as usual, and nothing is kept.
pub fn storable(mut document: Value, rt: &ResourceType) -> Value {
    let write_only = |attrs: &[scim_protocol::schema::AttributeDef], holder: &mut Value| {
        if let Value::Object(map) = holder {
            for attr in attrs
                .iter()
                .filter(|a| a.mutability == Mutability::WriteOnly)
            {
                map.remove(attr.name);
            }
        }
    };
    write_only(rt.schema.attributes, &mut document);
    for extension in rt.extensions {
        if let Some(values) = document.get_mut(extension.schema.id) {
            write_only(extension.schema.attributes, values);
        }
    }
    document
}

fn text(doc: &Value, key: &str) -> Option<String> {
    doc.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// `active` absent means active (RFC 7643 leaves it to the service provider).
pub fn is_active(doc: &Value) -> bool {
    doc.get("active").and_then(Value::as_bool).unwrap_or(true)
}

/// The profile snapshot the product maps: userName, the primary (else work,
/// else first) e-mail, names.
pub fn profile(doc: &Value) -> UserProfile {
    let emails = doc.get("emails").and_then(Value::as_array);
    let email = emails.and_then(|emails| {
        let pick = |pred: &dyn Fn(&Value) -> bool| {
            emails
                .iter()
                .find(|e| pred(e))
                .and_then(|e| text(e, "value"))
        };
        pick(&|e| e.get("primary").and_then(Value::as_bool) == Some(true))
            .or_else(|| {
                pick(&|e| {
                    e.get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case("work"))
                })
            })
            .or_else(|| pick(&|_| true))
    });
    let name = doc.get("name");
    UserProfile {
        user_name: text(doc, "userName").unwrap_or_default(),
        external_id: text(doc, "externalId"),
        email,
        given_name: name.and_then(|n| text(n, "givenName")),
        family_name: name.and_then(|n| text(n, "familyName")),
        display_name: text(doc, "displayName"),
    }
}

/// `seat_key`: the reservation the new account confirms (an active user's).
pub fn user_created(tenant: &Tenant, doc: &Value, seat_key: Option<String>) -> Vec<EventBody> {
    if is_active(doc) {
        vec![EventBody::UserProvisioned {
            account_id: Uuid::now_v7(),
            default_role: tenant.default_role.clone(),
            seat_key,
            profile: profile(doc).into(),
        }]
    } else {
        Vec::new()
    }
}

pub fn user_changed(tenant: &Tenant, before: &Value, after: &Value) -> Vec<EventBody> {
    match (is_active(before), is_active(after)) {
        (true, false) => vec![EventBody::UserDeactivated {}],
        (false, true) => vec![EventBody::UserReactivated {
            account_id: Uuid::now_v7(),
            default_role: tenant.default_role.clone(),
            profile: profile(after).into(),
        }],
        (true, true) if profile(before) != profile(after) => {
            vec![EventBody::UserUpdated {
                profile: profile(after).into(),
            }]
        }
        _ => Vec::new(),
    }
}

fn member(m: &MemberRef) -> Member {
    Member {
        id: m.id.to_string(),
        kind: match m.kind {
            ResourceKind::User => MemberKind::User,
            ResourceKind::Group => MemberKind::Group,
        },
    }
}

pub fn group_created(doc: &Value, members: &[MemberRef]) -> Vec<EventBody> {
    vec![EventBody::GroupProvisioned {
        display_name: text(doc, "displayName").unwrap_or_default(),
        external_id: text(doc, "externalId"),
        members: members.iter().map(member).collect(),
    }]
}

/// `added` and `removed` are the membership as actually changed.
pub fn group_changed(
    before: &Value,
    after: &Value,
    added: &[MemberRef],
    removed: &[ResourceId],
) -> Vec<EventBody> {
    let mut events = Vec::new();
    let name = text(after, "displayName").unwrap_or_default();
    if text(before, "displayName").unwrap_or_default() != name {
        events.push(EventBody::GroupRenamed { display_name: name });
    }
    if !removed.is_empty() {
        events.push(EventBody::GroupMembersRemoved {
            members: removed.iter().map(ResourceId::to_string).collect(),
        });
    }
    if !added.is_empty() {
        events.push(EventBody::GroupMembersAdded {
            members: added.iter().map(member).collect(),
        });
    }
    events
}

/// Stamps event bodies as the next events of `resource`'s aggregate: numbered
/// after its current event version, which `resource` then carries (the store
/// writes both in one transaction). The one place events get their versions.
pub fn stamp_events(
    tenant: &Tenant,
    kind: ResourceKind,
    resource: &mut StoredResource,
    bodies: Vec<EventBody>,
    occurred_at: DateTime<Utc>,
) -> Vec<Event> {
    let aggregate_kind = match kind {
        ResourceKind::User => AggregateKind::User,
        ResourceKind::Group => AggregateKind::Group,
    };
    let aggregate_id = resource.id.to_string();
    let version = &mut resource.event_version;
    bodies
        .into_iter()
        .map(|body| {
            *version += 1;
            Event {
                id: Uuid::now_v7(),
                seq: 0,
                schema_version: SCHEMA_VERSION,
                org_id: tenant.org.0,
                workspace_id: tenant.workspace,
                aggregate: Aggregate {
                    kind: aggregate_kind,
                    id: aggregate_id.clone(),
                    version: *version,
                },
                occurred_at,
                traceparent: None,
                body,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::models::OrgId;
    use serde_json::json;

    #[test]
    fn passwords_are_not_kept() {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "a@example.com",
            "password": "s3cret",
            "name": {"givenName": "A"}
        });
        let kept = storable(user.clone(), &scim_protocol::schema::USER_RESOURCE);
        assert!(kept.get("password").is_none(), "{kept}");
        let mut expected = user;
        expected.as_object_mut().map(|m| m.remove("password"));
        assert_eq!(kept, expected);
    }

    fn tenant() -> Tenant {
        Tenant {
            org: OrgId(Uuid::now_v7()),
            workspace: Uuid::now_v7(),
            default_role: "viewer".into(),
            scim_included: true,
            limits: Default::default(),
        }
    }

    fn types(events: &[EventBody]) -> Vec<&'static str> {
        events.iter().map(EventBody::event_type).collect()
    }

    #[test]
    fn user_lifecycle_rules() {
        let t = tenant();
        let active = json!({"userName": "a", "active": true, "emails": [{"value": "w@x", "type": "work"}, {"value": "p@x", "primary": true}]});
        let created = user_created(&t, &active, Some("user:h:00".into()));
        assert_eq!(types(&created), ["user.provisioned"]);
        let EventBody::UserProvisioned {
            default_role,
            profile,
            seat_key,
            ..
        } = &created[0]
        else {
            unreachable!()
        };
        assert_eq!(default_role, "viewer");
        assert_eq!(seat_key.as_deref(), Some("user:h:00"));
        assert_eq!(
            profile.opened().and_then(|p| p.email.as_deref()),
            Some("p@x"),
            "primary e-mail wins"
        );
        assert!(user_created(&t, &json!({"userName": "a", "active": false}), None).is_empty());
        assert_eq!(
            types(&user_created(&t, &json!({"userName": "a"}), None)),
            ["user.provisioned"],
            "absent active is active"
        );

        let renamed = json!({"userName": "a", "active": true, "displayName": "A"});
        assert_eq!(
            types(&user_changed(&t, &active, &renamed)),
            ["user.updated"]
        );
        let titled = json!({"userName": "a", "active": true, "title": "CTO", "emails": active["emails"].clone()});
        assert!(
            user_changed(&t, &active, &titled).is_empty(),
            "unmapped attribute"
        );
        let inactive = json!({"userName": "a", "active": false});
        assert_eq!(
            types(&user_changed(&t, &active, &inactive)),
            ["user.deactivated"]
        );
        assert!(user_changed(&t, &inactive, &json!({"userName": "b", "active": false})).is_empty());
        assert_eq!(
            types(&user_changed(&t, &inactive, &active)),
            ["user.reactivated"]
        );
    }

    #[test]
    fn events_are_numbered_after_the_resource_event_version() {
        let t = tenant();
        let now = Utc::now();
        let mut group = StoredResource {
            id: ResourceId::generate(),
            document: json!({"displayName": "Eng"}),
            meta: crate::domain::models::ResourceMeta {
                created: now,
                last_modified: now,
                version: 3,
            },
            event_version: 4,
        };
        let bodies = vec![
            EventBody::GroupRenamed {
                display_name: "Platform".into(),
            },
            EventBody::GroupMembersRemoved {
                members: vec![ResourceId::generate().to_string()],
            },
        ];
        let events = stamp_events(&t, ResourceKind::Group, &mut group, bodies, now);
        let versions: Vec<_> = events.iter().map(|e| e.aggregate.version).collect();
        assert_eq!(versions, [5, 6]);
        assert_eq!(group.event_version, 6, "the resource carries the last one");
        assert!(events.iter().all(|e| e.aggregate.id == group.id.to_string()
            && e.aggregate.kind == AggregateKind::Group
            && e.occurred_at == now
            && e.org_id == t.org.0));
        assert!(stamp_events(&t, ResourceKind::Group, &mut group, Vec::new(), now).is_empty());
        assert_eq!(group.event_version, 6, "no event, no new version");
    }

    #[test]
    fn group_rules() {
        let before = json!({"displayName": "Eng"});
        assert!(group_changed(&before, &before, &[], &[]).is_empty());
        assert_eq!(
            types(&group_changed(
                &before,
                &json!({"displayName": "Platform"}),
                &[],
                &[]
            )),
            ["group.renamed"]
        );
    }
}
