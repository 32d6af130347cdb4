//! The tenant's agenda as operators see it: free times, cancelling and moving appointments
//! under the same booking rules the phone line uses. The database still has the last word
//! on overlaps; this module only decides what to ask it for.

use jiff::{
    Timestamp,
    civil::{Date, Time},
};
use serde::Serialize;

use crate::{
    booking::{self, Busy, ProviderBusy, Rejection, local_label},
    db::{self, DbError, appointments::Move, store::Store, tenants::Tenant},
    flow::rules_for,
};

/// Each provider's busy time, sorted by start, in the tenant's provider order.
pub type BusyByProvider = Vec<(i64, Vec<Busy>)>;

/// Loads busy time of all the tenant's providers overlapping `[from, to)` at `now`.
pub async fn busy_by_provider(
    store: &Store,
    tenant: &Tenant,
    from: i64,
    to: i64,
    now: Timestamp,
) -> Result<BusyByProvider, DbError> {
    let (tenant_id, now) = (tenant.id, now.as_second());
    let rows = store.appointments().busy(tenant_id, from, to, now).await?;
    Ok(by_provider(tenant, rows))
}

/// [`db::appointments::Appointments::busy`]'s rows (provider, start, blocked until) as each provider's
/// busy time, in the tenant's provider order.
pub fn by_provider(tenant: &Tenant, rows: Vec<(i64, i64, i64)>) -> BusyByProvider {
    let mut out: BusyByProvider = tenant
        .provider_ids
        .iter()
        .map(|id| (*id, Vec::new()))
        .collect();
    for (pid, s, e) in rows {
        let (Ok(start), Ok(end)) = (Timestamp::from_second(s), Timestamp::from_second(e)) else {
            continue;
        };
        if let Some((_, list)) = out.iter_mut().find(|(id, _)| *id == pid) {
            list.push(Busy { start, end });
        }
    }
    out
}

/// The booking core's view of the providers for service `service` (an index).
pub fn provider_pool<'a>(
    tenant: &Tenant,
    service: usize,
    busy: &'a BusyByProvider,
) -> Vec<ProviderBusy<'a>> {
    let name = &tenant.spec.services[service].name;
    busy.iter()
        .zip(&tenant.spec.providers)
        .map(|((id, list), p)| ProviderBusy {
            provider_id: *id,
            offers_service: p.services.contains(name),
            busy: list,
        })
        .collect()
}

/// A bad request from an operator, with the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum AgendaError {
    /// A field is missing or wrong (422).
    #[error("{field}: {message}")]
    Invalid {
        /// The query or body field.
        field: &'static str,
        /// What to fix.
        message: String,
    },
    /// The time is not free (409).
    #[error("{0}")]
    Taken(String),
    /// Storage failed or the appointment does not exist.
    #[error(transparent)]
    Db(#[from] DbError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> AgendaError {
    AgendaError::Invalid {
        field,
        message: message.into(),
    }
}

/// Index of the service called `name`.
pub fn service_index(tenant: &Tenant, name: &str) -> Result<usize, AgendaError> {
    let names: Vec<&str> = tenant
        .spec
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    tenant
        .spec
        .services
        .iter()
        .position(|s| s.name.eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| {
            invalid(
                "service",
                format!(
                    "{name:?} is not one of this tenant's services ({})",
                    names.join(", ")
                ),
            )
        })
}

/// Index of the provider called `name`.
pub fn provider_index(tenant: &Tenant, name: &str) -> Result<usize, AgendaError> {
    let names: Vec<&str> = tenant
        .spec
        .providers
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    tenant
        .spec
        .providers
        .iter()
        .position(|p| p.name.eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| {
            invalid(
                "provider",
                format!(
                    "{name:?} is not one of this tenant's providers ({})",
                    names.join(", ")
                ),
            )
        })
}

/// One free start time.
#[derive(Debug, Clone, Serialize)]
pub struct FreeTime {
    /// Local wall-clock start, `HH:MM`.
    pub time: String,
    /// The instant, with the tenant's UTC offset.
    pub start: String,
    /// "Tuesday, November 24 at 3:00 PM".
    pub label: String,
    /// Who is free then.
    pub providers: Vec<String>,
}

/// Free start times for `service` on local `date`, optionally for one provider.
pub async fn availability(
    store: &Store,
    tenant: &Tenant,
    service: usize,
    date: Date,
    provider: Option<usize>,
    now: Timestamp,
) -> Result<Vec<FreeTime>, AgendaError> {
    let rules = rules_for(tenant)?;
    let Some((from, to)) = booking::local_day_bounds(&rules.tz, date) else {
        return Err(invalid("date", "that date cannot be represented"));
    };
    let busy = busy_by_provider(
        store,
        tenant,
        from.as_second() - 86_400,
        to.as_second() + 86_400,
        now,
    )
    .await?;
    let duration = tenant.spec.services[service].duration_minutes;
    let mut times: Vec<(booking::Slot, Vec<String>)> = Vec::new();
    for (i, pb) in provider_pool(tenant, service, &busy).iter().enumerate() {
        if !pb.offers_service || provider.is_some_and(|p| p != i) {
            continue;
        }
        for slot in booking::free_starts(&rules, duration, date, pb.busy, now) {
            let name = tenant.spec.providers[i].name.clone();
            match times.binary_search_by_key(&slot.start, |(s, _)| s.start) {
                Ok(at) => times[at].1.push(name),
                Err(at) => times.insert(at, (slot, vec![name])),
            }
        }
    }
    Ok(times
        .into_iter()
        .map(|(slot, providers)| FreeTime {
            time: slot.local.strftime("%H:%M").to_string(),
            start: slot
                .start
                .to_zoned(rules.tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
            label: local_label(slot.start, &rules.tz),
            providers,
        })
        .collect())
}

/// `busy` without the appointment of `provider_id` starting at `start` (Unix seconds): an
/// appointment being moved does not stand in its own way.
pub fn without_own(busy: BusyByProvider, provider_id: i64, start: i64) -> BusyByProvider {
    busy.into_iter()
        .map(|(pid, list)| {
            (
                pid,
                list.into_iter()
                    .filter(|b| !(pid == provider_id && b.start.as_second() == start))
                    .collect(),
            )
        })
        .collect()
}

/// Where an operator moves an appointment.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// New local date, `YYYY-MM-DD` (default: unchanged).
    pub date: Option<String>,
    /// New local start, `HH:MM` (default: unchanged).
    pub time: Option<String>,
    /// New provider by name (default: the current one if free, else anyone who offers it).
    pub provider: Option<String>,
    /// Text the customer the new time (default: yes, when the booking has a number the
    /// tenant can text).
    pub notify: Option<bool>,
}

/// Cancels appointment `id` of `tenant` for an operator, freeing its time; a booked one's
/// customer is texted about it unless `notify` is false (or the booking has no number the
/// tenant can text). `profile` is the server's default messaging profile.
pub async fn cancel(
    store: &Store,
    profile: Option<String>,
    tenant: &Tenant,
    id: i64,
    notify: bool,
    now: Timestamp,
) -> Result<db::appointments::AppointmentRow, DbError> {
    let tenant_id = tenant.id;
    let notify = if notify {
        let current = store.appointments().get(tenant_id, id).await?;
        crate::sms::reminders::notify_for(
            &tenant.spec,
            current.customer_phone.as_deref(),
            profile.as_deref(),
        )
    } else {
        None
    };
    store
        .appointments()
        .cancel(tenant_id, id, notify, now.as_second())
        .await
}

/// Moves appointment `id` under the booking rules (except minimum notice, which protects
/// callers, not operators), re-planning its reminders and texting the customer the new
/// time unless `req.notify` is false (`profile` is the server's default messaging
/// profile). Returns the moved appointment.
pub async fn reschedule(
    store: &Store,
    profile: Option<String>,
    tenant: &Tenant,
    id: i64,
    req: MoveRequest,
    now: Timestamp,
) -> Result<db::appointments::AppointmentRow, AgendaError> {
    let rules = rules_for(tenant)?;
    let tenant_id = tenant.id;
    let current = store.appointments().get(tenant_id, id).await?;
    let (service_id, provider_id) = store.appointments().refs(tenant_id, id).await?;
    let service = tenant
        .service_ids
        .iter()
        .position(|s| *s == service_id)
        .ok_or_else(|| {
            AgendaError::Taken(format!(
                "its service, {}, is no longer offered (it was removed from the tenant); book a new appointment instead",
                current.service
            ))
        })?;
    let here = Timestamp::from_second(current.start_at)
        .map_err(|e| DbError::Corrupt(e.to_string()))?
        .to_zoned(rules.tz.clone());
    let date = match &req.date {
        Some(d) => crate::domain::tenant::parse_date(d)
            .ok_or_else(|| invalid("date", format!("{d:?} is not a date; use YYYY-MM-DD")))?,
        None => here.date(),
    };
    let time = match &req.time {
        Some(t) => crate::domain::tenant::parse_hhmm(t)
            .ok_or_else(|| invalid("time", format!("{t:?} is not a time; use 24-hour HH:MM")))?,
        None => Time::new(here.hour(), here.minute(), 0, 0)
            .map_err(|e| DbError::Corrupt(e.to_string()))?,
    };
    let wanted = req
        .provider
        .as_deref()
        .map(|p| provider_index(tenant, p))
        .transpose()?;
    let operator_rules = booking::Rules {
        min_notice_minutes: 0,
        ..rules.clone()
    };
    let duration = tenant.spec.services[service].duration_minutes;
    let slot =
        booking::check_request(&operator_rules, duration, date, time, now).map_err(
            |r| match r {
                Rejection::Taken => AgendaError::Taken(r.to_string()),
                other => invalid("time", other.to_string()),
            },
        )?;
    let busy = busy_by_provider(
        store,
        tenant,
        slot.start.as_second() - 86_400,
        slot.blocked_until.as_second() + 86_400,
        now,
    )
    .await?;
    // The appointment's own time does not count against it.
    let busy = without_own(busy, provider_id, current.start_at);
    let pool = provider_pool(tenant, service, &busy);
    let free = |pid: i64| {
        pool.iter()
            .any(|p| p.provider_id == pid && p.offers_service && booking::is_free(&slot, p.busy))
    };
    let chosen = match wanted {
        Some(p) => {
            let pid = tenant.provider_ids[p];
            if !pool
                .iter()
                .any(|pb| pb.provider_id == pid && pb.offers_service)
            {
                return Err(invalid(
                    "provider",
                    format!(
                        "{} does not offer {}",
                        tenant.spec.providers[p].name, tenant.spec.services[service].name
                    ),
                ));
            }
            free(pid).then_some(pid)
        }
        None if free(provider_id) => Some(provider_id),
        None => booking::choose_provider(&rules, &slot, &pool),
    };
    let Some(to_provider) = chosen else {
        return Err(AgendaError::Taken(format!(
            "{} is not free; see GET /tenants/{{id}}/availability",
            local_label(slot.start, &rules.tz)
        )));
    };
    let to = Move {
        provider_id: to_provider,
        start: slot.start.as_second(),
        end: slot.end.as_second(),
        blocked_until: slot.blocked_until.as_second(),
    };
    let notify = req
        .notify
        .unwrap_or(true)
        .then(|| {
            crate::sms::reminders::notify_for(
                &tenant.spec,
                current.customer_phone.as_deref(),
                profile.as_deref(),
            )
        })
        .flatten();
    let moved = store
        .appointments()
        .reschedule(tenant_id, id, to, profile, notify, now.as_second())
        .await?;
    if !moved {
        return Err(AgendaError::Taken(format!(
            "{} was just taken",
            local_label(slot.start, &rules.tz)
        )));
    }
    Ok(store.appointments().get(tenant_id, id).await?)
}
