//! Appointments on PostgreSQL ([`crate::db::appointments`] is the interface): so far one
//! appointment read, and the same as the admin API shows it (webhook events carry it).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::db::{
    DbError,
    appointments::{AppointmentRow, admin_json},
};

/// An appointment with its service's and provider's names.
const SELECT_ROW: &str = "SELECT a.id, s.name, p.name, a.customer_name, a.customer_phone, a.start_at,
        a.end_at, a.status, a.call_sid, a.reminder_calls
    FROM appointments a JOIN services s ON s.id = a.service_id JOIN providers p ON p.id = a.provider_id";

fn row(r: &Row) -> AppointmentRow {
    let reminder_calls: String = r.get(9);
    AppointmentRow {
        id: r.get(0),
        service: r.get(1),
        provider: r.get(2),
        customer_name: r.get(3),
        customer_phone: r.get(4),
        start_at: r.get(5),
        end_at: r.get(6),
        status: r.get(7),
        call_sid: r.get(8),
        reminder_calls: serde_json::from_str(&reminder_calls).unwrap_or_default(),
    }
}

/// One appointment of `tenant`.
pub async fn get(c: &impl GenericClient, tenant: i64, id: i64) -> Result<AppointmentRow, DbError> {
    c.query_opt(
        &format!("{SELECT_ROW} WHERE a.tenant_id = $1 AND a.id = $2"),
        &[&tenant, &id],
    )
    .await?
    .map(|r| row(&r))
    .ok_or(DbError::NotFound)
}

/// Appointment `id` of `tenant` as the admin API shows it ([`admin_json`]).
pub async fn admin_json_of(
    c: &impl GenericClient,
    tenant: i64,
    id: i64,
) -> Result<serde_json::Value, DbError> {
    let appointment = get(c, tenant, id).await?;
    let zone: String = c
        .query_one("SELECT timezone FROM tenants WHERE id = $1", &[&tenant])
        .await?
        .get(0);
    let tz = crate::tzdb::get(&zone).map_err(|e| DbError::Corrupt(e.to_string()))?;
    Ok(admin_json(&appointment, &tz))
}
