use scim_protocol::ErrorKind;
use scim_protocol::messages::{
    SearchRequest, SortOrder, cursor_list_response, effective_paging, error_body, list_response,
};
use scim_protocol::schema::{ERROR_URN, LIST_RESPONSE_URN, SEARCH_REQUEST_URN};
use serde_json::json;

use crate::fixture::keys;

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn error_body_shape() {
    let body = error_body(400, Some(ErrorKind::InvalidFilter), "bad filter at 3");
    assert_eq!(
        body,
        json!({
            "schemas": [ERROR_URN],
            "scimType": "invalidFilter",
            "detail": "bad filter at 3",
            "status": "400"
        })
    );
    assert_eq!(keys(&body), ["schemas", "scimType", "detail", "status"]);
    let body = error_body(404, None, "Resource u1 not found");
    assert_eq!(
        body,
        json!({"schemas": [ERROR_URN], "detail": "Resource u1 not found", "status": "404"})
    );
}

#[test]
fn list_response_shape() {
    let body = list_response(12, 11, vec![json!({"id": "a"}), json!({"id": "b"})]);
    assert_eq!(
        body,
        json!({
            "schemas": [LIST_RESPONSE_URN],
            "totalResults": 12,
            "itemsPerPage": 2,
            "startIndex": 11,
            "Resources": [{"id": "a"}, {"id": "b"}]
        })
    );
    assert!(body["totalResults"].is_u64());
    let empty = list_response(0, 1, vec![]);
    assert_eq!(empty["Resources"], json!([]));
    assert_eq!(empty["itemsPerPage"], json!(0));
}

#[test]
fn sort_order() {
    assert_eq!(SortOrder::parse("ascending"), Ok(SortOrder::Ascending));
    assert_eq!(SortOrder::parse("DESCENDING"), Ok(SortOrder::Descending));
    assert_eq!(SortOrder::Descending.as_str(), "descending");
    for bad in ["asc", "", "down", "ascendingx"] {
        assert_eq!(
            SortOrder::parse(bad).unwrap_err().kind,
            ErrorKind::InvalidValue
        );
    }
}

#[test]
fn search_request_from_json() {
    let r = SearchRequest::from_json(json!({
        "schemas": [SEARCH_REQUEST_URN],
        "attributes": ["displayName", "userName, emails"],
        "excludedAttributes": "meta, groups",
        "filter": "displayName sw \"smith\"",
        "sortBy": "userName",
        "SORTORDER": "Descending",
        "startIndex": 1,
        "count": "10",
        "unknown": {"x": 1}
    }))
    .unwrap();
    assert_eq!(
        r,
        SearchRequest {
            attributes: vec!["displayName".into(), "userName".into(), "emails".into()],
            excluded_attributes: vec!["meta".into(), "groups".into()],
            filter: Some("displayName sw \"smith\"".into()),
            sort_by: Some("userName".into()),
            sort_order: Some(SortOrder::Descending),
            start_index: Some(1),
            count: Some(10),
            cursor: None,
        }
    );

    let r = SearchRequest::from_json(json!({
        "schemas": [SEARCH_REQUEST_URN], "filter": null, "count": 5.0, "startIndex": 1e300
    }))
    .unwrap();
    assert_eq!(r.filter, None);
    assert_eq!(r.count, Some(5));
    assert_eq!(r.start_index, Some(i64::MAX));
    let r = SearchRequest::from_json(json!({
        "schemas": [SEARCH_REQUEST_URN], "count": 18446744073709551615u64, "startIndex": "-99999999999999999999"
    }))
    .unwrap();
    assert_eq!(r.count, Some(i64::MAX));
    assert_eq!(r.start_index, Some(i64::MIN));

    let cases = [
        (json!([]), ErrorKind::InvalidSyntax),
        (json!({"filter": "x"}), ErrorKind::InvalidSyntax),
        (
            json!({"schemas": SEARCH_REQUEST_URN}),
            ErrorKind::InvalidSyntax,
        ),
        (json!({"schemas": ["urn:other"]}), ErrorKind::InvalidValue),
        (
            json!({"schemas": [SEARCH_REQUEST_URN], "count": "ten"}),
            ErrorKind::InvalidValue,
        ),
        (
            json!({"schemas": [SEARCH_REQUEST_URN], "count": 2.5}),
            ErrorKind::InvalidValue,
        ),
        (
            json!({"schemas": [SEARCH_REQUEST_URN], "count": true}),
            ErrorKind::InvalidValue,
        ),
        (
            json!({"schemas": [SEARCH_REQUEST_URN], "filter": 3}),
            ErrorKind::InvalidValue,
        ),
        (
            json!({"schemas": [SEARCH_REQUEST_URN], "attributes": [1]}),
            ErrorKind::InvalidValue,
        ),
        (
            json!({"schemas": [SEARCH_REQUEST_URN], "filter": ["a"]}),
            ErrorKind::InvalidValue,
        ),
        (
            json!({"schemas": [SEARCH_REQUEST_URN], "sortOrder": "up"}),
            ErrorKind::InvalidValue,
        ),
    ];
    for (body, kind) in cases {
        assert_eq!(
            SearchRequest::from_json(body.clone()).unwrap_err().kind,
            kind,
            "{body}"
        );
    }
}

#[test]
fn search_request_from_query() {
    let r = SearchRequest::from_query_pairs(pairs(&[
        ("FILTER", "userName eq \"a\""),
        ("attributes", "userName,name.givenName"),
        ("Attributes", "emails"),
        ("excludedattributes", " meta ,"),
        ("sortby", "meta.created"),
        ("sortOrder", "ascending"),
        ("startindex", " 3 "),
        ("COUNT", "-5"),
        ("other", "ignored"),
    ]))
    .unwrap();
    assert_eq!(
        r,
        SearchRequest {
            attributes: vec!["userName".into(), "name.givenName".into(), "emails".into()],
            excluded_attributes: vec!["meta".into()],
            filter: Some("userName eq \"a\"".into()),
            sort_by: Some("meta.created".into()),
            sort_order: Some(SortOrder::Ascending),
            start_index: Some(3),
            count: Some(-5),
            cursor: None,
        }
    );
    let r =
        SearchRequest::from_query_pairs(pairs(&[("filter", ""), ("count", ""), ("sortOrder", "")]))
            .unwrap();
    assert_eq!(r, SearchRequest::default());

    for bad in [
        vec![("count", "10x")],
        vec![("startIndex", "1.5")],
        vec![("startIndex", "one")],
        vec![("sortOrder", "sideways")],
        vec![("filter", "a pr"), ("Filter", "b pr")],
        vec![("count", "1"), ("count", "2")],
    ] {
        let e = SearchRequest::from_query_pairs(pairs(&bad)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidValue, "{bad:?}");
    }
}

#[test]
fn paging() {
    assert_eq!(effective_paging(None, None, 100, 1000), (1, 100));
    assert_eq!(effective_paging(Some(0), Some(10), 100, 1000), (1, 10));
    assert_eq!(effective_paging(Some(-7), Some(0), 100, 1000), (1, 0));
    assert_eq!(effective_paging(Some(5), Some(-1), 100, 1000), (5, 0));
    assert_eq!(effective_paging(Some(1), Some(5000), 100, 1000), (1, 1000));
    assert_eq!(effective_paging(None, None, 5000, 1000), (1, 1000));
    assert_eq!(
        effective_paging(Some(i64::MAX), Some(i64::MAX), 100, 1000),
        (i64::MAX as u64, 1000)
    );
    assert_eq!(
        effective_paging(Some(i64::MIN), Some(i64::MIN), 100, 1000),
        (1, 0)
    );
}

#[test]
fn cursor_list_response_shape() {
    let middle = cursor_list_response(9, vec![json!({"id": "a"})], Some("next"), Some("prev"));
    assert_eq!(
        middle,
        json!({
            "schemas": [LIST_RESPONSE_URN],
            "totalResults": 9,
            "itemsPerPage": 1,
            "nextCursor": "next",
            "previousCursor": "prev",
            "Resources": [{"id": "a"}]
        })
    );
    let last = cursor_list_response(1, vec![json!({"id": "a"})], None, None);
    assert!(
        last.get("nextCursor").is_none(),
        "the last page has no nextCursor"
    );
    assert!(last.get("previousCursor").is_none());
    assert!(
        last.get("startIndex").is_none(),
        "cursor pages have no index"
    );
}

#[test]
fn cursor_parameter() {
    // `cursor` with no value (`?cursor&count=10`) or an empty one asks for
    // the first page; absent means index paging.
    let first = SearchRequest::from_query_pairs(pairs(&[("cursor", ""), ("count", "10")])).unwrap();
    assert_eq!(first.cursor.as_deref(), Some(""));
    let next = SearchRequest::from_query_pairs(pairs(&[("Cursor", " abc_-9 ")])).unwrap();
    assert_eq!(next.cursor.as_deref(), Some("abc_-9"));
    assert_eq!(
        SearchRequest::from_query_pairs(pairs(&[])).unwrap().cursor,
        None
    );
    let twice = SearchRequest::from_query_pairs(pairs(&[("cursor", "a"), ("cursor", "b")]));
    assert_eq!(twice.unwrap_err().kind, ErrorKind::InvalidValue);

    let body = |cursor: serde_json::Value| {
        SearchRequest::from_json(json!({"schemas": [SEARCH_REQUEST_URN], "cursor": cursor}))
    };
    assert_eq!(body(json!("")).unwrap().cursor.as_deref(), Some(""));
    assert_eq!(body(json!("xyz")).unwrap().cursor.as_deref(), Some("xyz"));
    assert_eq!(body(json!(null)).unwrap().cursor, None);
    assert_eq!(body(json!(12)).unwrap_err().kind, ErrorKind::InvalidValue);
    assert_eq!(
        body(json!(["a"])).unwrap_err().kind,
        ErrorKind::InvalidValue
    );
    assert_eq!(ErrorKind::InvalidCursor.scim_type(), "invalidCursor");
    assert_eq!(ErrorKind::ExpiredCursor.scim_type(), "expiredCursor");
}
