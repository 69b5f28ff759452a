//! Lists and searches: a `SearchRequest` bound to a resource type (filter,
//! sort, paging within the view's limits) and read from the store.

use scim_protocol::{
    ProtocolError,
    filter::parse_bound_filter,
    messages::{SearchRequest, SortOrder, effective_paging},
    schema::{GROUP_RESOURCE, ResourceType, USER_RESOURCE},
};

use super::super::errors::ScimViewError;
use super::super::models::{
    ListQuery, OrgId, Page, ResourceKind, SortSpec, StoredResource, UserWithGroups,
};
use super::super::ports::{Clock, CredentialStore, GroupStore, UserStore};
use super::ScimView;

impl<S, C> ScimView<S, C>
where
    S: UserStore + GroupStore + CredentialStore,
    C: Clock,
{
    /// A page of users with their groups, in one read.
    pub async fn list_users_with_groups(
        &self,
        org: OrgId,
        request: &SearchRequest,
    ) -> Result<Page<UserWithGroups>, ScimViewError> {
        let query = self.list_query(request, &USER_RESOURCE)?;
        self.store
            .list_users_with_groups(org, &query)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::User, e))
    }

    pub async fn list_users(
        &self,
        org: OrgId,
        request: &SearchRequest,
    ) -> Result<Page<StoredResource>, ScimViewError> {
        let query = self.list_query(request, &USER_RESOURCE)?;
        self.store
            .list_users(org, &query)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::User, e))
    }

    pub async fn list_groups(
        &self,
        org: OrgId,
        request: &SearchRequest,
    ) -> Result<Page<StoredResource>, ScimViewError> {
        let query = self.list_query(request, &GROUP_RESOURCE)?;
        self.store
            .list_groups(org, &query)
            .await
            .map_err(|e| ScimViewError::from_store(ResourceKind::Group, e))
    }

    fn list_query(
        &self,
        request: &SearchRequest,
        resource: &ResourceType,
    ) -> Result<ListQuery, ScimViewError> {
        let filter = match request.filter.as_deref() {
            Some(raw) if !raw.trim().is_empty() => Some(parse_bound_filter(raw, resource)?),
            _ => None,
        };
        let sort = match request.sort_by.as_deref() {
            Some(raw) if !raw.trim().is_empty() => {
                let path = scim_protocol::filter::parse_path(raw)
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
        let (start_index, count) = effective_paging(
            request.start_index,
            request.count,
            self.limits.default_count,
            self.limits.max_results,
        );
        Ok(ListQuery {
            filter,
            sort,
            start_index,
            count,
        })
    }
}
