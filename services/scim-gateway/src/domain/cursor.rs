//! List cursors (RFC 9865): where a cursor-paged walk stands. The plaintext —
//! direction, issue time, position (resource kind, sort value, id) — is a
//! small binary record; a [`CursorSeal`](super::ports::CursorSeal) seals it
//! for the organization and for the query's [`binding`], so that the text a
//! client holds is opaque and a cursor used with another query or
//! organization does not open.
//!
//! Record, version 1 (integers big-endian):
//! `0x01 ‖ direction (0 forward, 1 backward) ‖ issued_at (i64 ms since the
//! epoch) ‖ 0 (from the start/end) or 1 ‖ kind (0 User, 1 Group) ‖ id (16) ‖
//! sort tag ‖ sort value` — tags: 0 unsorted, 1 null, 2 integer (i64),
//! 3 real (f64 bits), 4 boolean (1 byte), 5 text (u32 length ‖ UTF-8),
//! 6 uuid (16).

use scim_protocol::messages::SearchRequest;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::models::{Direction, ResourceId, ResourceKind, SortKey, SortValue};

const VERSION: u8 = 1;

/// Where a page starts: after (or before) this resource of this kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub kind: ResourceKind,
    pub key: SortKey,
}

/// A cursor's content.
#[derive(Debug, Clone, PartialEq)]
pub struct CursorState {
    pub direction: Direction,
    /// When the cursor was issued (ms since the epoch): it expires
    /// `cursorTimeout` later.
    pub issued_at_ms: i64,
    /// None: from the start of the result set (forward) or its end
    /// (backward).
    pub position: Option<Position>,
}

impl CursorState {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        out.push(VERSION);
        out.push(match self.direction {
            Direction::Forward => 0,
            Direction::Backward => 1,
        });
        out.extend_from_slice(&self.issued_at_ms.to_be_bytes());
        let Some(position) = &self.position else {
            out.push(0);
            return out;
        };
        out.push(1);
        out.push(match position.kind {
            ResourceKind::User => 0,
            ResourceKind::Group => 1,
        });
        out.extend_from_slice(position.key.id.0.as_bytes());
        match &position.key.sort {
            None => out.push(0),
            Some(SortValue::Null) => out.push(1),
            Some(SortValue::Integer(v)) => {
                out.push(2);
                out.extend_from_slice(&v.to_be_bytes());
            }
            Some(SortValue::Real(v)) => {
                out.push(3);
                out.extend_from_slice(&v.to_bits().to_be_bytes());
            }
            Some(SortValue::Boolean(v)) => {
                out.push(4);
                out.push(u8::from(*v));
            }
            Some(SortValue::Text(v)) => {
                out.push(5);
                let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&v.as_bytes()[..len as usize]);
            }
            Some(SortValue::Uuid(v)) => {
                out.push(6);
                out.extend_from_slice(v.as_bytes());
            }
        }
        out
    }

    /// The record `bytes` holds; None for anything [`encode`](Self::encode)
    /// did not write (a sealed cursor only opens if we sealed it, so this is
    /// a second line of defence).
    pub fn decode(bytes: &[u8]) -> Option<CursorState> {
        let mut reader = Reader(bytes);
        if reader.byte()? != VERSION {
            return None;
        }
        let direction = match reader.byte()? {
            0 => Direction::Forward,
            1 => Direction::Backward,
            _ => return None,
        };
        let issued_at_ms = i64::from_be_bytes(reader.array()?);
        let position = match reader.byte()? {
            0 => None,
            1 => {
                let kind = match reader.byte()? {
                    0 => ResourceKind::User,
                    1 => ResourceKind::Group,
                    _ => return None,
                };
                let id = ResourceId(Uuid::from_bytes(reader.array()?));
                let sort = match reader.byte()? {
                    0 => None,
                    1 => Some(SortValue::Null),
                    2 => Some(SortValue::Integer(i64::from_be_bytes(reader.array()?))),
                    3 => Some(SortValue::Real(f64::from_bits(u64::from_be_bytes(
                        reader.array()?,
                    )))),
                    4 => Some(SortValue::Boolean(match reader.byte()? {
                        0 => false,
                        1 => true,
                        _ => return None,
                    })),
                    5 => {
                        let len = u32::from_be_bytes(reader.array()?) as usize;
                        let text = std::str::from_utf8(reader.take(len)?).ok()?;
                        Some(SortValue::Text(text.to_owned()))
                    }
                    6 => Some(SortValue::Uuid(Uuid::from_bytes(reader.array()?))),
                    _ => return None,
                };
                Some(Position {
                    kind,
                    key: SortKey { sort, id },
                })
            }
            _ => return None,
        };
        reader.0.is_empty().then_some(CursorState {
            direction,
            issued_at_ms,
            position,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

/// What a cursor is valid for: the endpoint's resource kinds, the filter and
/// the sort. RFC 9865 §2 has the client repeat every parameter but `cursor`
/// (and `count`, which may change between pages here); `attributes` only
/// shape the output. A digest, so that no filter value travels in it.
pub fn binding(kinds: &[ResourceKind], request: &SearchRequest) -> String {
    let mut hash = Sha256::new();
    for kind in kinds {
        hash.update(kind.as_str().as_bytes());
        hash.update([0]);
    }
    for part in [
        request.filter.as_deref(),
        request.sort_by.as_deref(),
        request.sort_order.map(|o| o.as_str()),
    ] {
        match part {
            Some(text) => {
                hash.update([1]);
                hash.update(text.trim().as_bytes());
                hash.update([0]);
            }
            None => hash.update([2]),
        }
    }
    hash.finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use scim_protocol::messages::SortOrder;

    use super::*;

    fn state(sort: Option<SortValue>) -> CursorState {
        CursorState {
            direction: Direction::Backward,
            issued_at_ms: 1_764_800_000_123,
            position: Some(Position {
                kind: ResourceKind::Group,
                key: SortKey {
                    sort,
                    id: ResourceId(Uuid::now_v7()),
                },
            }),
        }
    }

    #[test]
    fn every_kind_of_position_round_trips() {
        let start = CursorState {
            direction: Direction::Forward,
            issued_at_ms: -5,
            position: None,
        };
        assert_eq!(CursorState::decode(&start.encode()), Some(start));
        for sort in [
            None,
            Some(SortValue::Null),
            Some(SortValue::Integer(i64::MIN)),
            Some(SortValue::Real(-0.1)),
            Some(SortValue::Real(f64::MAX)),
            Some(SortValue::Boolean(true)),
            Some(SortValue::Text(String::new())),
            Some(SortValue::Text("Zoë 山田 \0 \"x\"".to_owned())),
            Some(SortValue::Uuid(Uuid::now_v7())),
        ] {
            let cursor = state(sort);
            assert_eq!(CursorState::decode(&cursor.encode()), Some(cursor));
        }
    }

    #[test]
    fn anything_else_does_not_decode() {
        let bytes = state(Some(SortValue::Text("abc".to_owned()))).encode();
        for len in 0..bytes.len() {
            assert_eq!(CursorState::decode(&bytes[..len]), None, "cut at {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(CursorState::decode(&longer), None);
        for (at, value) in [(0, 2), (1, 7), (10, 9), (11, 5), (28, 42)] {
            let mut wrong = bytes.clone();
            wrong[at] = value;
            assert_eq!(CursorState::decode(&wrong), None, "byte {at} = {value}");
        }
        let mut not_utf8 = state(Some(SortValue::Text("ab".to_owned()))).encode();
        let last = not_utf8.len() - 1;
        not_utf8[last] = 0xff;
        assert_eq!(CursorState::decode(&not_utf8), None);
        assert_eq!(CursorState::decode(&[]), None);
    }

    #[test]
    fn the_binding_names_kinds_filter_and_sort_only() {
        let request = SearchRequest {
            filter: Some("userName sw \"a\"".to_owned()),
            sort_by: Some("userName".to_owned()),
            ..SearchRequest::default()
        };
        let users = binding(&[ResourceKind::User], &request);
        assert_eq!(users.len(), 64);
        assert!(!users.contains("userName"));
        let paged_differently = SearchRequest {
            count: Some(7),
            attributes: vec!["id".to_owned()],
            cursor: Some("x".to_owned()),
            ..request.clone()
        };
        assert_eq!(binding(&[ResourceKind::User], &paged_differently), users);
        for other in [
            SearchRequest {
                filter: Some("userName sw \"b\"".to_owned()),
                ..request.clone()
            },
            SearchRequest {
                sort_by: None,
                ..request.clone()
            },
            SearchRequest {
                sort_order: Some(SortOrder::Descending),
                ..request.clone()
            },
        ] {
            assert_ne!(binding(&[ResourceKind::User], &other), users);
        }
        assert_ne!(binding(&[ResourceKind::Group], &request), users);
        assert_ne!(
            binding(&[ResourceKind::User, ResourceKind::Group], &request),
            users
        );
    }
}
