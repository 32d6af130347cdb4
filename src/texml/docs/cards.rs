//! An in-memory snapshot of what documents need to know about each tenant (name, voice,
//! numbers, wording), so the fallback document can be served without the database. It is
//! filled at start-up and refreshed whenever the admin API writes a tenant.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use super::render::DocValues;
use crate::domain::TenantSpec;

/// One tenant, as documents see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// Row id.
    pub id: i64,
    /// Slug: the tenant's directory under `texml/`.
    pub slug: String,
    /// Placeholder values every step knows.
    pub values: DocValues,
    /// The tenant's line (the caller id of a hand-off).
    pub phone_number: String,
    /// Where a failed call is handed, if the tenant has a human.
    pub transfer_number: Option<String>,
}

/// Every tenant's card, by slug; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Cards(Arc<RwLock<HashMap<String, Arc<Card>>>>);

impl Cards {
    /// Stores (or replaces) tenant `id`'s card; a changed slug drops the old one.
    pub fn put(&self, id: i64, spec: &TenantSpec) {
        if let Ok(mut map) = self.0.write() {
            map.retain(|_, c| c.id != id);
            map.insert(spec.slug.clone(), card(id, spec));
        }
    }

    /// Holds exactly the cards of `tenants` (id and spec), forgetting every other.
    pub fn replace_all<'t>(&self, tenants: impl IntoIterator<Item = (i64, &'t TenantSpec)>) {
        let fresh: HashMap<String, Arc<Card>> = tenants
            .into_iter()
            .map(|(id, spec)| (spec.slug.clone(), card(id, spec)))
            .collect();
        if let Ok(mut map) = self.0.write() {
            *map = fresh;
        }
    }

    /// Forgets tenant `id`.
    pub fn remove(&self, id: i64) {
        if let Ok(mut map) = self.0.write() {
            map.retain(|_, c| c.id != id);
        }
    }

    /// The card of tenant `id` (for answers that must not touch the database).
    pub fn by_id(&self, id: i64) -> Option<Arc<Card>> {
        let map = self.0.read().ok()?;
        map.values().find(|c| c.id == id).cloned()
    }

    /// The card of the tenant whose line is `number` (E.164).
    pub fn by_number(&self, number: &str) -> Option<Arc<Card>> {
        let map = self.0.read().ok()?;
        map.values().find(|c| c.phone_number == number).cloned()
    }

    /// The card of the tenant whose slug is `slug`. Only the slug: the fallback route is
    /// unsigned, and row ids would let anyone list every tenant by counting.
    pub fn get(&self, slug: &str) -> Option<Arc<Card>> {
        self.0.read().ok()?.get(slug).cloned()
    }
}

/// Tenant `id`'s card.
fn card(id: i64, spec: &TenantSpec) -> Arc<Card> {
    Arc::new(Card {
        id,
        slug: spec.slug.clone(),
        values: DocValues::for_tenant(spec),
        phone_number: spec.phone_number.as_str().to_string(),
        transfer_number: spec
            .transfer_number
            .as_ref()
            .map(|n| n.as_str().to_string()),
    })
}
