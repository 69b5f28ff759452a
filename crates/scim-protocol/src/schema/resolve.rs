//! Resolving an attribute path against a resource type: the common
//! attributes first, then the core schema, or the schema its URN names.

use super::definitions::COMMON_ATTRIBUTES;
use super::model::{ResolvedAttribute, ResourceType};
use crate::ast::AttrPath;

impl ResourceType {
    /// Resolves a path, case-insensitively (RFC 7643 §2.1). Unqualified names are
    /// looked up among the common attributes, then in the core schema.
    pub fn resolve(&self, path: &AttrPath) -> Option<ResolvedAttribute> {
        let (schema, attribute) = match &path.schema {
            Some(urn) => {
                let schema = self.schema_by_urn(urn)?;
                (Some(schema), schema.attribute(&path.name)?)
            }
            None => match COMMON_ATTRIBUTES
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(&path.name))
            {
                Some(common) => (None, common),
                None => (Some(self.schema), self.schema.attribute(&path.name)?),
            },
        };
        let sub_attribute = match &path.sub_attr {
            Some(sub) => Some(attribute.sub_attribute(sub)?),
            None => None,
        };
        Some(ResolvedAttribute {
            schema,
            attribute,
            sub_attribute,
        })
    }
}
