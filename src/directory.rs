//! The tenant directory: tenants cached in memory by dialled number and by id, each with
//! its booking rules and the day's `<Parameters>` schema built once, so the voice URL and
//! booking turns do not read SQLite for them. Any tenant write clears the whole directory
//! (writes are rare; a stale greeting or hours would be wrong), including the cached
//! "no tenant has this number" answers.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
};

use jiff::civil::Date;

use crate::{
    booking::Rules,
    db::{DbError, store::Store, tenants::Tenant},
    domain::PhoneNumber,
    flow::rules_for,
    texml::{escape::CdataJson, schema},
    wording::{self, Values},
};

/// A cached tenant and what is derived from it.
pub struct Entry {
    /// The stored tenant.
    pub tenant: Tenant,
    /// Its booking rules (time zone resolved).
    pub rules: Rules,
    /// The greeting with `{business}` filled in.
    pub greeting: String,
    /// The booking schema for one local date (the date is in its descriptions).
    schema: Mutex<Option<(Date, Arc<CdataJson>)>>,
}

impl Entry {
    /// Wraps `tenant` with its derived data.
    pub fn new(tenant: Tenant) -> Result<Self, DbError> {
        let rules = rules_for(&tenant)?;
        let greeting = wording::fill(&tenant.spec.greeting, &Values::business(&tenant.spec.name));
        Ok(Self {
            greeting,
            tenant,
            rules,
            schema: Mutex::new(None),
        })
    }

    /// The first-turn booking schema for local date `today`, built once per day.
    pub fn parameters(&self, today: Date) -> Arc<CdataJson> {
        let mut slot = self.schema.lock().unwrap_or_else(|p| p.into_inner());
        match &*slot {
            Some((date, json)) if *date == today => json.clone(),
            _ => {
                let json = Arc::new(schema::booking_parameters(&self.tenant.spec, today, &[]));
                *slot = Some((today, json.clone()));
                json
            }
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Number → tenant id, or `None` when no tenant has it.
    by_phone: HashMap<PhoneNumber, Option<i64>>,
    by_id: HashMap<i64, Arc<Entry>>,
    /// Bumped by every clear, so a load that raced a write does not cache stale data.
    generation: u64,
}

/// A point in the directory's history of changes ([`Directory::generation`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Generation(u64);

/// The cache; cheap to clone.
#[derive(Clone, Default)]
pub struct Directory {
    inner: Arc<RwLock<Inner>>,
}

impl Directory {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets everything; call after any tenant write on this node, before updating the
    /// cards, so a [`Directory::reload`] that read the tenants before the write cannot put
    /// the old ones (or their cards) back.
    pub fn clear(&self) {
        let mut inner = self.write();
        inner.by_phone.clear();
        inner.by_id.clear();
        inner.generation += 1;
    }

    /// Where the directory stands now; taken before reading the tenants for a
    /// [`Directory::reload`].
    pub fn generation(&self) -> Generation {
        Generation(self.read().generation)
    }

    /// Replaces everything with `tenants`, every tenant as the store had it when read (one
    /// read), so each is answered from memory, also while the database cannot be reached
    /// later. `also` runs with the new entries under the directory's lock (the cards are
    /// replaced with it). If a [`Directory::clear`] came in since `since`, taken before
    /// the read (a change on this node), the tenants read may be older than it: the
    /// directory stays cleared, `also` does not run, and it returns 0. On an error it keeps
    /// what it had. Returns how many tenants it holds.
    pub fn reload(
        &self,
        since: Generation,
        tenants: Vec<Tenant>,
        also: impl FnOnce(&[Arc<Entry>]),
    ) -> Result<usize, DbError> {
        let entries = tenants
            .into_iter()
            .map(|t| Entry::new(t).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let mut inner = self.write();
        if inner.generation != since.0 {
            return Ok(0);
        }
        also(&entries);
        inner.by_phone.clear();
        inner.by_id.clear();
        for e in entries {
            inner
                .by_phone
                .insert(e.tenant.spec.phone_number.clone(), Some(e.tenant.id));
            inner.by_id.insert(e.tenant.id, e);
        }
        inner.generation += 1;
        Ok(inner.by_id.len())
    }

    /// The tenant whose line is `number`, if any.
    pub async fn by_phone(
        &self,
        store: &Store,
        number: &PhoneNumber,
    ) -> Result<Option<Arc<Entry>>, DbError> {
        let generation = {
            let inner = self.read();
            match inner.by_phone.get(number) {
                Some(None) => return Ok(None),
                Some(Some(id)) => {
                    if let Some(e) = inner.by_id.get(id) {
                        return Ok(Some(e.clone()));
                    }
                }
                None => {}
            }
            inner.generation
        };
        let tenant = store.tenants().by_phone(number.clone()).await?;
        let entry = tenant.map(Entry::new).transpose()?.map(Arc::new);
        let mut inner = self.write();
        if inner.generation == generation {
            inner
                .by_phone
                .insert(number.clone(), entry.as_ref().map(|e| e.tenant.id));
            if let Some(e) = &entry {
                inner.by_id.insert(e.tenant.id, e.clone());
            }
        }
        Ok(entry)
    }

    /// The tenant with `id`.
    pub async fn by_id(&self, store: &Store, id: i64) -> Result<Arc<Entry>, DbError> {
        let generation = {
            let inner = self.read();
            if let Some(e) = inner.by_id.get(&id) {
                return Ok(e.clone());
            }
            inner.generation
        };
        let tenant = store.tenants().load(id).await?;
        let entry = Arc::new(Entry::new(tenant)?);
        let mut inner = self.write();
        if inner.generation == generation {
            inner
                .by_phone
                .insert(entry.tenant.spec.phone_number.clone(), Some(id));
            inner.by_id.insert(id, entry.clone());
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TenantSpec;

    fn demo(id: i64, greeting: &str) -> Tenant {
        let mut json: serde_json::Value =
            serde_json::from_str(include_str!("../data/demo-tenant.json")).unwrap();
        json["greeting"] = greeting.into();
        Tenant {
            id,
            spec: TenantSpec::from_json(&json).unwrap(),
            service_ids: vec![],
            provider_ids: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }

    fn held(directory: &Directory) -> Option<String> {
        directory
            .read()
            .by_id
            .get(&1)
            .map(|e| e.tenant.spec.greeting.clone())
    }

    #[test]
    fn a_reload_read_before_a_change_on_this_node_does_not_put_the_old_tenant_back() {
        let directory = Directory::default();
        let since = directory.generation();
        // The follower has read the tenants; then this node changes one and clears.
        let read_before = vec![demo(1, "Old greeting")];
        directory.clear();
        let mut ran = false;
        let held_now = directory
            .reload(since, read_before, |_| ran = true)
            .unwrap();
        assert_eq!((held_now, ran, held(&directory)), (0, false, None));
        // A reload that read after the change goes in, with its cards.
        let since = directory.generation();
        let held_now = directory
            .reload(since, vec![demo(1, "New greeting")], |e| ran = e.len() == 1)
            .unwrap();
        assert_eq!(
            (held_now, ran, held(&directory).as_deref()),
            (1, true, Some("New greeting"))
        );
    }
}
