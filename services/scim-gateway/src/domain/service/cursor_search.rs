//! Cursor paging (RFC 9865) of lists and searches. A page continues after
//! the last (sort value, id) of the one before — a keyset, not an offset —
//! so a walk sees every resource that exists throughout exactly once while
//! others are created and deleted. Across resource kinds (`POST /.search`)
//! the walk goes through the users, then the groups; the cursor says which
//! kind it is in. A page reads one row more than it returns: whether it
//! comes decides whether there is a `nextCursor` (or, walking back, a
//! `previousCursor`).

use std::sync::Arc;

use scim_protocol::{
    ErrorKind, ProtocolError,
    messages::{SearchRequest, effective_paging},
};

use super::super::cursor::{CursorState, Position, binding};
use super::super::errors::ScimViewError;
use super::super::models::{Direction, Keyset, ListQuery, OrgId, ResourceKind};
use super::super::ports::{Clock, CredentialStore, CursorSeal, GroupStore, UserStore};
use super::ScimView;
use super::query::{Listed, ReadAlong, Window, bind, resource_type};

/// A page of a cursor-paged list or search.
#[derive(Debug, Clone, PartialEq)]
pub struct CursorResults {
    /// Matches across all the searched resource types.
    pub total_results: u64,
    pub resources: Vec<Listed>,
    /// None on the last page.
    pub next_cursor: Option<String>,
    /// None on the first page.
    pub previous_cursor: Option<String>,
}

fn invalid_cursor(detail: &str) -> ScimViewError {
    ProtocolError::new(ErrorKind::InvalidCursor, detail).into()
}

/// What a page read found, in the order the walk went.
struct Walk {
    total: u64,
    listed: Vec<Listed>,
    keys: Vec<Position>,
    /// More rows follow the page in the walk's direction.
    more: bool,
}

impl<S, C> ScimView<S, C>
where
    S: UserStore + GroupStore + CredentialStore,
    C: Clock,
{
    /// A page of `kinds` (in that order, as one result set) from the
    /// request's `cursor`: empty for the first page, else a `nextCursor` or
    /// `previousCursor` this server issued for the same organization, kinds,
    /// filter and sort, less than `cursorTimeout` ago.
    pub async fn search_by_cursor(
        &self,
        org: OrgId,
        request: &SearchRequest,
        kinds: &[ResourceKind],
        read_along: ReadAlong,
        base_url: &str,
    ) -> Result<CursorResults, ScimViewError> {
        if request.start_index.is_some() {
            return Err(ProtocolError::invalid_value(
                "startIndex and cursor ask for different paging methods: give one of them",
            )
            .into());
        }
        let seal = self
            .cursors
            .clone()
            .ok_or_else(|| invalid_cursor("cursor paging is not enabled on this server"))?;
        let (_, count) = effective_paging(
            None,
            request.count,
            self.limits.default_count,
            self.limits.max_results,
        );
        let binding = binding(kinds, request);
        let now_ms = self.clock.now().timestamp_millis();
        let state = match request.cursor.as_deref().unwrap_or_default() {
            "" => CursorState {
                direction: Direction::Forward,
                issued_at_ms: now_ms,
                position: None,
            },
            text => self.opened(seal.as_ref(), org, &binding, text, now_ms)?,
        };
        let walk = self
            .walk(org, request, kinds, read_along, base_url, &state, count)
            .await?;
        let issuer = Issuer {
            seal,
            org,
            binding,
            now_ms,
        };
        let (next_cursor, previous_cursor) = issuer.cursors_around(&state, &walk, count)?;
        Ok(CursorResults {
            total_results: walk.total,
            resources: walk.listed,
            next_cursor,
            previous_cursor,
        })
    }

    /// The cursor `text` holds, if it is one of ours for this organization
    /// and query and not older than `cursorTimeout`.
    fn opened(
        &self,
        seal: &dyn CursorSeal,
        org: OrgId,
        binding: &str,
        text: &str,
        now_ms: i64,
    ) -> Result<CursorState, ScimViewError> {
        let state = seal
            .open(org, binding, text)
            .and_then(|plain| CursorState::decode(&plain))
            .ok_or_else(|| {
                invalid_cursor(
                    "the cursor is not one this server issued for this query; start again \
                     with an empty cursor",
                )
            })?;
        let timeout = self.limits.cursor_timeout;
        let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        if now_ms.saturating_sub(state.issued_at_ms) > timeout_ms {
            return Err(ProtocolError::new(
                ErrorKind::ExpiredCursor,
                format!(
                    "the cursor has expired (cursorTimeout is {} s); start again with an empty \
                     cursor",
                    timeout.as_secs()
                ),
            )
            .into());
        }
        Ok(state)
    }

    /// Reads the page `state` names: every kind is read once — the ones the
    /// walk passes through for rows (one more than fit, to know whether more
    /// follow), the others only counted.
    #[allow(clippy::too_many_arguments)]
    async fn walk(
        &self,
        org: OrgId,
        request: &SearchRequest,
        kinds: &[ResourceKind],
        read_along: ReadAlong,
        base_url: &str,
        state: &CursorState,
        count: u64,
    ) -> Result<Walk, ScimViewError> {
        let window = Window {
            start_index: 1,
            count: 0,
            max_bytes: self.limits.max_page_bytes,
        };
        let mut order: Vec<ResourceKind> = kinds.to_vec();
        if state.direction == Direction::Backward {
            order.reverse();
        }
        let start = match &state.position {
            None => 0,
            Some(position) => order
                .iter()
                .position(|&kind| kind == position.kind)
                .ok_or_else(|| invalid_cursor("the cursor names another resource type"))?,
        };
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let mut walk = Walk {
            total: 0,
            listed: Vec::new(),
            keys: Vec::new(),
            more: false,
        };
        let mut searched_any = false;
        let mut first_error = None;
        for (i, &kind) in order.iter().enumerate() {
            let counted_only = i < start || walk.more;
            let remaining = count.saturating_sub(walk.listed.len());
            let read = match bind(request, resource_type(kind), window, base_url) {
                Ok(query) if counted_only => {
                    self.page_of(org, kind, &query, ReadAlong::default(), 0)
                        .await
                }
                Ok(query) => {
                    let from = (i == start)
                        .then(|| state.position.as_ref().map(|p| p.key.clone()))
                        .flatten();
                    let query = ListQuery {
                        count: remaining.saturating_add(1) as u64,
                        keyset: Some(Keyset {
                            direction: state.direction,
                            from,
                        }),
                        ..query
                    };
                    self.page_of(org, kind, &query, read_along, remaining).await
                }
                Err(e) => Err(e),
            };
            let page = match read {
                Ok(page) => page,
                // As in index paging: a type that cannot answer the request
                // (a filter on attributes it lacks) is left out.
                Err(ScimViewError::Protocol(e)) if kinds.len() > 1 => {
                    first_error.get_or_insert(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            searched_any = true;
            walk.total += page.total;
            if counted_only {
                continue;
            }
            walk.more = page.fetched > remaining || page.cut_by_size;
            walk.keys
                .extend(page.keys.into_iter().map(|key| Position { kind, key }));
            walk.listed.extend(page.listed);
        }
        if !searched_any {
            return Err(first_error
                .unwrap_or_else(|| {
                    ProtocolError::invalid_filter("the filter matches no resource type")
                })
                .into());
        }
        if state.direction == Direction::Backward {
            walk.listed.reverse();
            walk.keys.reverse();
        }
        Ok(walk)
    }
}

/// Issues the cursors of a page: sealed for its organization and query.
struct Issuer {
    seal: Arc<dyn CursorSeal>,
    org: OrgId,
    binding: String,
    now_ms: i64,
}

impl Issuer {
    fn issue(
        &self,
        direction: Direction,
        position: Option<Position>,
    ) -> Result<String, ScimViewError> {
        let state = CursorState {
            direction,
            issued_at_ms: self.now_ms,
            position,
        };
        self.seal
            .seal(self.org, &self.binding, &state.encode())
            .map_err(ScimViewError::Unavailable)
    }

    /// (`nextCursor`, `previousCursor`) of the page `walk` read from `state`.
    fn cursors_around(
        &self,
        state: &CursorState,
        walk: &Walk,
        count: u64,
    ) -> Result<(Option<String>, Option<String>), ScimViewError> {
        let after = |key: &Position| self.issue(Direction::Forward, Some(key.clone()));
        let before = |key: &Position| self.issue(Direction::Backward, Some(key.clone()));
        if count == 0 {
            // `count=0` asks for `totalResults` only: the same place again,
            // when there is more in the walk's direction.
            let again = match walk.more {
                true => Some(self.issue(state.direction, state.position.clone())?),
                false => None,
            };
            return Ok(match state.direction {
                Direction::Forward => (again, None),
                Direction::Backward => (None, again),
            });
        }
        let (first, last) = (walk.keys.first(), walk.keys.last());
        match state.direction {
            Direction::Forward => {
                let next = match (walk.more, last) {
                    (true, Some(last)) => Some(after(last)?),
                    _ => None,
                };
                // The first page (an empty cursor) has no previous one.
                let previous = match (state.position.is_some(), first) {
                    (true, Some(first)) => Some(before(first)?),
                    _ => None,
                };
                Ok((next, previous))
            }
            Direction::Backward => {
                let previous = match (walk.more, first) {
                    (true, Some(first)) => Some(before(first)?),
                    _ => None,
                };
                let next = match last {
                    Some(last) => Some(after(last)?),
                    // Nothing before the cursor's position: the page after
                    // this empty one is the first.
                    None if walk.total > 0 => Some(self.issue(Direction::Forward, None)?),
                    None => None,
                };
                Ok((next, previous))
            }
        }
    }
}
