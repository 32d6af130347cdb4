//! Tenants behind the store (issue 16): created, found, changed, refused and deleted
//! alike on SQLite and on PostgreSQL, with the wording's versions and the step beside the
//! database (the documents directory) committed or undone with them.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use slotline::{
    db::{
        DbError,
        store::Store,
        tenants::{Beside, Changed, Tenant},
    },
    domain::{PhoneNumber, TenantSpec},
};

use crate::store::{done, stores};

/// A step beside the database that counts its undos.
struct Step(Arc<AtomicUsize>);

impl Beside for Step {
    fn undo(self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn step(undone: &Arc<AtomicUsize>) -> std::io::Result<Step> {
    Ok(Step(undone.clone()))
}

fn spec(slug: &str, line: &str) -> TenantSpec {
    let mut json: serde_json::Value =
        serde_json::from_str(include_str!("../../data/demo-tenant.json")).unwrap();
    json["slug"] = slug.into();
    json["phone_number"] = line.into();
    TenantSpec::from_json(&json).unwrap()
}

async fn create(
    store: &Store,
    spec: TenantSpec,
    undone: &Arc<AtomicUsize>,
) -> Result<Tenant, DbError> {
    let undone = undone.clone();
    match store
        .tenants()
        .create(spec, "test".into(), 1_000, move |_| step(&undone))
        .await?
    {
        Changed::Done(t) => Ok(t),
        Changed::Refused(never) => match never {},
        Changed::Beside(e) => panic!("{e}"),
    }
}

/// The stored tenant's spec as the admin API shows it, without ids and times.
fn shown(t: &Tenant) -> serde_json::Value {
    t.spec.to_json()
}

#[tokio::test]
async fn store_a_tenant_is_created_found_listed_changed_and_deleted_alike_on_both_backends() {
    let stores = stores("").await;
    let mut seen = Vec::new();
    for (backend, store, _, _) in &stores {
        let undone = Arc::new(AtomicUsize::new(0));
        let tenants = store.tenants();
        let made = create(store, spec("salon", "+13125550177"), &undone)
            .await
            .unwrap();
        assert_eq!(made.spec.services.len(), 3, "{backend}");
        assert_eq!(made.service_ids.len(), 3, "{backend}");
        assert_eq!(made.provider_ids.len(), 2, "{backend}");
        assert_eq!(
            shown(&made),
            spec("salon", "+13125550177").to_json(),
            "{backend}: stored whole"
        );
        for key in [made.id.to_string(), "salon".to_string()] {
            assert_eq!(tenants.find(key).await.unwrap().id, made.id, "{backend}");
        }
        assert!(matches!(
            tenants.find("nobody".into()).await,
            Err(DbError::NotFound)
        ));
        let line = PhoneNumber::parse("+13125550177").unwrap();
        assert_eq!(
            tenants.by_phone(line).await.unwrap().unwrap().id,
            made.id,
            "{backend}"
        );
        let free = PhoneNumber::parse("+13125550166").unwrap();
        assert!(tenants.by_phone(free).await.unwrap().is_none(), "{backend}");
        let ids: Vec<i64> = tenants.list().await.unwrap().iter().map(|t| t.id).collect();
        assert_eq!(ids, [1, 2, made.id], "{backend}: by id");
        assert!(!tenants.is_empty().await.unwrap(), "{backend}");
        let first = tenants.wording_versions(made.id).await.unwrap();
        assert_eq!(
            first.len(),
            1,
            "{backend}: the wording at creation is the first version"
        );
        assert_eq!(first[0].saved_by, "test");

        // A change: renamed, a service dropped and one renamed in case only, the greeting
        // changed; ids of kept services survive, the old slug is passed to the step.
        let before_ids = made.service_ids.clone();
        let slugs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen_slugs = slugs.clone();
        let changed = tenants
            .update(
                "salon".into(),
                |stored: &Tenant| -> Result<TenantSpec, String> {
                    let mut json = stored.spec.to_json();
                    json["slug"] = "salon-2".into();
                    json["greeting"] = "Hi from {business}".into();
                    json["services"] = serde_json::json!([
                        {"name": "HAIRCUT", "duration_minutes": 50},
                        {"name": "Blow-dry", "duration_minutes": 30}
                    ]);
                    json["providers"] = serde_json::json!([
                        {"name": "Anna", "services": ["HAIRCUT", "Blow-dry"]}
                    ]);
                    Ok(TenantSpec::from_json(&json).unwrap())
                },
                "console".into(),
                2_000,
                move |before: &str, _: &Tenant| {
                    seen_slugs.lock().unwrap().push(before.to_string());
                    Ok(Step(Arc::new(AtomicUsize::new(0))))
                },
            )
            .await
            .unwrap();
        let Changed::Done(changed) = changed else {
            panic!("{backend}: refused")
        };
        assert_eq!(slugs.lock().unwrap().as_slice(), ["salon"], "{backend}");
        assert_eq!(changed.spec.slug, "salon-2");
        assert_eq!(
            changed.spec.services[0].name, "HAIRCUT",
            "{backend}: renamed in case"
        );
        assert_eq!(changed.spec.services[0].duration_minutes, 50);
        assert_eq!(
            changed.service_ids,
            [before_ids[0], before_ids[2]],
            "{backend}: kept services keep their ids"
        );
        assert_eq!(changed.spec.providers.len(), 1, "{backend}: Marco retired");
        let versions = tenants.wording_versions(made.id).await.unwrap();
        assert_eq!(
            versions.len(),
            2,
            "{backend}: the new greeting is a version"
        );
        assert_eq!(
            (versions[0].saved_by.as_str(), versions[0].saved_at),
            ("console", 2_000)
        );
        let version = tenants
            .wording_version(made.id, versions[1].id)
            .await
            .unwrap();
        assert_eq!(version.as_ref(), Some(&versions[1]), "{backend}");
        assert_eq!(tenants.wording_version(made.id, 9_999).await.unwrap(), None);

        // A change refused by the caller's check writes nothing.
        let refused = tenants
            .update(
                "salon-2".into(),
                |_: &Tenant| -> Result<TenantSpec, String> { Err("stale".into()) },
                "console".into(),
                3_000,
                |_: &str, _: &Tenant| -> std::io::Result<Step> { unreachable!() },
            )
            .await
            .unwrap();
        assert!(
            matches!(refused, Changed::Refused(r) if r == "stale"),
            "{backend}"
        );
        assert!(matches!(
            tenants
                .update(
                    "nobody".into(),
                    |s: &Tenant| -> Result<TenantSpec, String> { Ok(s.spec.clone()) },
                    "x".into(),
                    3_000,
                    |_: &str, _: &Tenant| -> std::io::Result<Step> { unreachable!() },
                )
                .await,
            Err(DbError::NotFound)
        ));

        seen.push((
            backend,
            shown(&tenants.find("salon-2".into()).await.unwrap()),
        ));
        let deleted = tenants
            .delete(made.id, |slug: &str| {
                assert_eq!(slug, "salon-2");
                Ok(Step(Arc::new(AtomicUsize::new(0))))
            })
            .await
            .unwrap();
        assert!(matches!(deleted, Changed::Done(())), "{backend}");
        assert!(matches!(
            tenants.find("salon-2".into()).await,
            Err(DbError::NotFound)
        ));
        assert!(matches!(
            tenants
                .delete(made.id, |_: &str| -> std::io::Result<Step> {
                    unreachable!()
                })
                .await,
            Err(DbError::NotFound)
        ));
        assert_eq!(
            undone.load(Ordering::SeqCst),
            0,
            "{backend}: nothing undone"
        );
    }
    if let [(_, sqlite), (_, postgres)] = &seen[..] {
        assert_eq!(
            sqlite, postgres,
            "the changed tenant reads the same on both"
        );
    }
    done(stores).await;
}

#[tokio::test]
async fn store_a_taken_slug_or_number_or_a_failed_step_beside_writes_nothing_alike() {
    let stores = stores("").await;
    for (backend, store, _, _) in &stores {
        let undone = Arc::new(AtomicUsize::new(0));
        let tenants = store.tenants();
        create(store, spec("salon", "+13125550177"), &undone)
            .await
            .unwrap();
        let err = create(store, spec("salon", "+13125550178"), &undone)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DbError::Conflict(m) if m.starts_with("slug:")),
            "{backend}: {err}"
        );
        let err = create(store, spec("other-salon", "+13125550177"), &undone)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DbError::Conflict(m) if m.starts_with("phone_number:")),
            "{backend}: {err}"
        );
        let failed = tenants
            .create(spec("third", "+13125550179"), "t".into(), 1, |_| {
                Err::<Step, _>(std::io::Error::other("disk full"))
            })
            .await
            .unwrap();
        assert!(matches!(failed, Changed::Beside(e) if e.to_string() == "disk full"));
        assert!(
            matches!(tenants.find("third".into()).await, Err(DbError::NotFound)),
            "{backend}: a failed step beside rolls the tenant back"
        );
        assert_eq!(tenants.list().await.unwrap().len(), 3, "{backend}");
    }
    done(stores).await;
}

#[tokio::test]
async fn store_a_service_with_appointments_to_come_is_not_removed_and_the_refusal_lists_them_alike()
{
    // Tenant 1 (seeded) has provider Bo (2) with a booked appointment to come.
    let stores = stores(
        "INSERT INTO appointments (id, tenant_id, service_id, provider_id, customer_name,
            start_at, end_at, blocked_until, status, created_at)
         VALUES (41, 1, 1, 2, 'Jane', 1800000000, 1800001800, 1800001800, 'booked', 1);",
    )
    .await;
    let mut refusals = Vec::new();
    for (backend, store, _, _) in &stores {
        let refused = store
            .tenants()
            .update(
                "acme".into(),
                |stored: &Tenant| -> Result<TenantSpec, String> {
                    let mut json = stored.spec.to_json();
                    json["providers"] = serde_json::json!([{"name": "Anna", "services": ["Cut"]}]);
                    Ok(TenantSpec::from_json(&json).unwrap())
                },
                "admin".into(),
                1_700_000_000,
                |_: &str, _: &Tenant| -> std::io::Result<Step> { unreachable!() },
            )
            .await;
        let Err(DbError::Conflict(message)) = refused else {
            panic!("{backend}: not refused")
        };
        assert!(
            message.starts_with("providers: provider \"Bo\" cannot be removed"),
            "{message}"
        );
        assert!(
            message.contains("#41 at 2027-01-15T02:00:00-06:00"),
            "{backend}: {message}"
        );
        let kept = store.tenants().load(1).await.unwrap();
        assert_eq!(kept.spec.providers.len(), 2, "{backend}: nothing changed");
        refusals.push(message);
    }
    if let [sqlite, postgres] = &refusals[..] {
        assert_eq!(sqlite, postgres);
    }
    done(stores).await;
}

#[tokio::test]
async fn store_the_url_secret_is_made_once_and_kept_alike() {
    let stores = stores("").await;
    for (backend, store, _, _) in &stores {
        let first = store.tenants().url_secret().await.unwrap();
        assert_eq!(first.len(), 64, "{backend}");
        assert_eq!(
            store.tenants().url_secret().await.unwrap(),
            first,
            "{backend}"
        );
    }
    done(stores).await;
}
