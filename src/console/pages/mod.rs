//! One module per console page; each handler parses, calls the shared agenda, db and
//! documents functions, and renders one template.

pub mod agenda;
pub mod calendar;
pub mod calls;
pub mod documents;
pub mod health;
pub mod settings;
pub mod tenants;
pub mod texts;
pub mod wording;

use serde_json::{Map, Value};

use crate::{
    console::ConsoleError, db::tenants::Tenant, domain::FieldError, error::AppError,
    startup::AppState, tenant_changes,
};

/// The `version` a restore form names.
pub fn chosen_version(form: &crate::console::auth::Posted) -> Result<i64, ConsoleError> {
    form.text("version")
        .parse()
        .map_err(|_| ConsoleError::NotFound("no such version; pick one from the history".into()))
}

/// Replaces the fields in `patch` on tenant `id` exactly as `PATCH /tenants/{id}` does
/// (merged onto the stored tenant, validated whole, written in one transaction). A field
/// the tenant check refuses comes back as `Ok(Err(..))` and nothing is written.
pub async fn apply_patch(
    state: &AppState,
    id: i64,
    patch: Map<String, Value>,
) -> Result<Result<Tenant, FieldError>, ConsoleError> {
    apply_patch_by(state, id, patch, "console".into()).await
}

/// [`apply_patch`], recorded (in the wording history) under `by`.
pub async fn apply_patch_by(
    state: &AppState,
    id: i64,
    patch: Map<String, Value>,
    by: String,
) -> Result<Result<Tenant, FieldError>, ConsoleError> {
    let merge = move |stored: &Tenant| {
        let mut merged = stored.spec.to_json();
        for (k, v) in patch {
            merged[k] = v;
        }
        crate::domain::TenantSpec::from_json(&merged).map_err(AppError::from)
    };
    let outcome = tenant_changes::update(
        &state.store,
        &state.docs,
        id.to_string(),
        merge,
        by,
        state.clock.now(),
    )
    .await
    .map_err(AppError::from)?;
    match outcome {
        Ok(tenant) => {
            state.directory.clear();
            state.cards.put(tenant.id, &tenant.spec);
            tracing::info!(tenant = tenant.id, "tenant changed from the console");
            Ok(Ok(tenant))
        }
        Err(AppError::Invalid(e)) => Ok(Err(e)),
        Err(AppError::Conflict { field, message }) => Ok(Err(FieldError { field, message })),
        Err(other) => Err(other.into()),
    }
}
