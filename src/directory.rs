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

    /// Forgets everything; call after any tenant write.
    pub fn clear(&self) {
        let mut inner = self.write();
        inner.by_phone.clear();
        inner.by_id.clear();
        inner.generation += 1;
    }

    /// Replaces everything with every tenant as `store` has it now (one read), so each
    /// is answered from memory, also while the database cannot be reached later. On an
    /// error it keeps what it had; if a [`Directory::clear`] came in meanwhile (a change
    /// on this node), it stays cleared, since the tenants read may be older than it.
    /// Returns how many tenants it holds.
    pub fn reload(&self, tenants: Vec<Tenant>) -> Result<usize, DbError> {
        let generation = self.read().generation;
        let entries = tenants
            .into_iter()
            .map(|t| Entry::new(t).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let mut inner = self.write();
        if inner.generation != generation {
            return Ok(0);
        }
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
