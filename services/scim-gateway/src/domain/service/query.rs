//! Lists and searches: a `SearchRequest` bound to each resource type it covers
//! (filter, sort), paged once across their concatenation within the view's
//! limits, and read from the store with what the caller reads along (users'
//! `groups`, groups' `members`: one read per page, never one per resource).

use std::collections::HashMap;

use scim_protocol::{
    ProtocolError,
    filter::{parse_bound_filter, parse_path},
    messages::{SearchRequest, SortOrder, effective_paging},
    schema::{GROUP_RESOURCE, ResourceType, USER_RESOURCE},
};

use super::super::errors::ScimViewError;
use super::super::models::{
    GroupRef, ListQuery, MemberRef, OrgId, Page, ResourceId, ResourceKind, SortKey, SortSpec,
    StoredResource,
};
use super::super::ports::{Clock, CredentialStore, GroupStore, UserStore};
use super::{GroupWithMembers, ScimView};

/// The schema of a resource kind.
pub fn resource_type(kind: ResourceKind) -> &'static ResourceType {
    match kind {
        ResourceKind::User => &USER_RESOURCE,
        ResourceKind::Group => &GROUP_RESOURCE,
    }
}

/// The read-only attributes a list reads along with its page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadAlong {
    /// Each user's `groups`.
    pub user_groups: bool,
    /// Each group's `members`.
    pub group_members: bool,
}

/// One resource of a list: `groups` / `members` are `None` when they were not
/// read along.
#[derive(Debug, Clone, PartialEq)]
pub enum Listed {
    User {
        user: StoredResource,
        groups: Option<Vec<GroupRef>>,
    },
    Group(GroupWithMembers),
}

/// A page of a list or search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    /// Matches across all the searched resource types.
    pub total_results: u64,
    /// The 1-based position of the first resource, as the page was computed.
    pub start_index: u64,
    pub resources: Vec<Listed>,
}

impl<S, C> ScimView<S, C>
where
    S: UserStore + GroupStore + CredentialStore,
    C: Clock,
{
    /// A list (`GET /Users`), a search of one type (`POST /Users/.search`) or
    /// of several (`POST /.search`: users, then groups, as one result set).
    ///
    /// Positions are 1-based across the concatenation of the types' results,
    /// in the order of `kinds`. With several types, a request one type cannot
    /// answer (a filter or `sortBy` on attributes it lacks) just excludes that
    /// type; if no type can answer, its error is the answer. `base_url` is
    /// the URL the request came in on (what resources' URLs start with).
    pub async fn search(
        &self,
        org: OrgId,
        request: &SearchRequest,
        kinds: &[ResourceKind],
        read_along: ReadAlong,
        base_url: &str,
    ) -> Result<SearchResults, ScimViewError> {
        let (start_index, count) = effective_paging(
            request.start_index,
            request.count,
            self.limits.default_count,
            self.limits.max_results,
        );
        let mut total_results = 0u64;
        let mut resources = Vec::new();
        let mut searched_any = false;
        let mut first_error = None;
        let mut cut_by_size = false;
        // How many results the types before this one matched.
        let mut offset = 0u64;
        for &kind in kinds {
            // Once a type's part was cut by size, the page ends there: the
            // types after it are only counted.
            let window = Window {
                start_index: start_index.saturating_sub(offset).max(1),
                count: if cut_by_size {
                    0
                } else {
                    count.saturating_sub(resources.len() as u64)
                },
                max_bytes: self.limits.max_page_bytes,
            };
            let read = match bind(request, resource_type(kind), window, base_url) {
                Ok(query) => {
                    self.page_of(org, kind, &query, read_along, usize::MAX)
                        .await
                }
                Err(e) => Err(e),
            };
            let page = match read {
                Ok(page) => page,
                Err(ScimViewError::Protocol(e)) if kinds.len() > 1 => {
                    first_error.get_or_insert(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            searched_any = true;
            cut_by_size |= page.cut_by_size;
            resources.extend(page.listed);
            total_results += page.total;
            offset += page.total;
        }
        if !searched_any {
            return Err(first_error
                .unwrap_or_else(|| {
                    ProtocolError::invalid_filter("the filter matches no resource type")
                })
                .into());
        }
        Ok(SearchResults {
            total_results,
            start_index,
            resources,
        })
    }

    /// One type's part of a page — the first `keep` of the rows read (a
    /// cursor page reads one more than it returns, to know whether more
    /// follow) — and how many of that type match in all.
    pub(super) async fn page_of(
        &self,
        org: OrgId,
        kind: ResourceKind,
        query: &ListQuery,
        read_along: ReadAlong,
        keep: usize,
    ) -> Result<KindPage, ScimViewError> {
        let store_error = |e| ScimViewError::from_store(kind, e);
        match kind {
            ResourceKind::User if read_along.user_groups => {
                let page = self
                    .store
                    .list_users_with_groups(org, query)
                    .await
                    .map_err(store_error)?;
                Ok(KindPage::of(page, keep, |u| Listed::User {
                    user: u.user,
                    groups: Some(u.groups),
                }))
            }
            ResourceKind::User => {
                let page = self
                    .store
                    .list_users(org, query)
                    .await
                    .map_err(store_error)?;
                Ok(KindPage::of(page, keep, |user| Listed::User {
                    user,
                    groups: None,
                }))
            }
            ResourceKind::Group => {
                let mut page = self
                    .store
                    .list_groups(org, query)
                    .await
                    .map_err(store_error)?;
                let fetched = page.items.len();
                page.items.truncate(keep);
                let mut members = if read_along.group_members && !page.items.is_empty() {
                    let ids: Vec<ResourceId> = page.items.iter().map(|g| g.id).collect();
                    Some(self.members_by_group(org, &ids).await?)
                } else {
                    None
                };
                let mut kind_page = KindPage::of(page, keep, |group| {
                    let members = members
                        .as_mut()
                        .map(|by_group| by_group.remove(&group.id).unwrap_or_default());
                    Listed::Group(GroupWithMembers { group, members })
                });
                kind_page.fetched = fetched;
                Ok(kind_page)
            }
        }
    }

    /// The members of each of these groups, in one read.
    async fn members_by_group(
        &self,
        org: OrgId,
        ids: &[ResourceId],
    ) -> Result<HashMap<ResourceId, Vec<MemberRef>>, ScimViewError> {
        let pairs = self
            .store
            .members_of_groups(org, ids)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::Group, e))?;
        let mut by_group: HashMap<ResourceId, Vec<MemberRef>> = HashMap::new();
        for (group, member) in pairs {
            by_group.entry(group).or_default().push(member);
        }
        Ok(by_group)
    }
}

/// One resource type's part of a page.
pub(super) struct KindPage {
    /// How many of the type match in all.
    pub total: u64,
    pub listed: Vec<Listed>,
    /// The position of each listed resource (keyset reads only).
    pub keys: Vec<SortKey>,
    /// How many rows the store returned, before all but `keep` were dropped.
    pub fetched: usize,
    pub cut_by_size: bool,
}

impl KindPage {
    fn of<T>(mut page: Page<T>, keep: usize, listed: impl FnMut(T) -> Listed) -> KindPage {
        let fetched = page.items.len();
        page.items.truncate(keep);
        page.keys.truncate(keep);
        KindPage {
            total: page.total_results,
            listed: page.items.into_iter().map(listed).collect(),
            keys: page.keys,
            fetched,
            cut_by_size: page.cut_by_size,
        }
    }
}

/// The part of the result set one type's read covers (1-based).
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub start_index: u64,
    pub count: u64,
    pub max_bytes: u64,
}

/// The request bound to one resource type: its filter and `sortBy` resolved
/// against the type's schema, for the given window.
pub(super) fn bind(
    request: &SearchRequest,
    resource: &ResourceType,
    window: Window,
    base_url: &str,
) -> Result<ListQuery, ScimViewError> {
    let filter = match request.filter.as_deref() {
        Some(raw) if !raw.trim().is_empty() => Some(parse_bound_filter(raw, resource)?),
        _ => None,
    };
    let sort = match request.sort_by.as_deref() {
        Some(raw) if !raw.trim().is_empty() => {
            let path = parse_path(raw)
                .ok()
                .and_then(|p| {
                    resource
                        .resolve(&p.attr)
                        .map(|r| r.canonical_path(resource))
                })
                .ok_or_else(|| {
                    ProtocolError::invalid_value(format!(
                        "sortBy names no attribute of {}",
                        resource.name
                    ))
                })?;
            Some(SortSpec {
                path,
                order: request.sort_order.unwrap_or(SortOrder::Ascending),
            })
        }
        _ => None,
    };
    Ok(ListQuery {
        filter,
        sort,
        start_index: window.start_index,
        count: window.count,
        max_bytes: window.max_bytes,
        keyset: None,
        base_url: base_url.to_owned(),
    })
}
