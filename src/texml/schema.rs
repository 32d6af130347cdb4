//! The JSON Schema placed in `<AIGather><Parameters>`: what the AI must gather from the
//! caller. Field names match the documented callback example (PROTOCOL.md §2.3).

use jiff::civil::Date;
use serde_json::{Value, json};

use super::escape::CdataJson;
use crate::domain::TenantSpec;

/// Name of the caller.
pub const CUSTOMER_NAME: &str = "customer_name";
/// One of the tenant's services.
pub const SERVICE: &str = "service";
/// `YYYY-MM-DD`.
pub const DATE: &str = "preferred_date";
/// `HH:MM`, 24 h.
pub const TIME: &str = "preferred_time";
/// One of the tenant's providers (optional).
pub const PROVIDER: &str = "provider";
/// E.164 number for the confirmation text (optional).
pub const CALLBACK_NUMBER: &str = "callback_number";
/// One of the alternatives offered after a refusal (optional).
pub const OFFERED_TIME: &str = "offered_time";

/// Builds the booking schema for `tenant` on local date `today`. `offers`, when given, are
/// the alternative start times (`YYYY-MM-DD HH:MM`) the caller may pick from.
pub fn booking_parameters(tenant: &TenantSpec, today: Date, offers: &[String]) -> CdataJson {
    let services: Vec<&str> = tenant.services.iter().map(|s| s.name.as_str()).collect();
    let providers: Vec<&str> = tenant.providers.iter().map(|p| p.name.as_str()).collect();
    let weekday = today.strftime("%A");
    let mut properties = json!({
        CUSTOMER_NAME: {"type": "string", "description": "The caller's full name"},
        SERVICE: {"type": "string", "enum": services, "description": "The service the caller wants to book"},
        DATE: {"type": "string", "description": format!(
            "The date of the appointment as YYYY-MM-DD. Today is {weekday}, {today} in the business's time zone ({}); resolve words like \"tomorrow\" or \"next Tuesday\" from it",
            tenant.timezone)},
        TIME: {"type": "string", "description": "The start time as 24-hour HH:MM in the business's local time"},
        PROVIDER: {"type": "string", "enum": providers, "description": "Only if the caller asks for a particular person"},
        CALLBACK_NUMBER: {"type": "string", "description": "Mobile number for the text confirmation in E.164 (+ and digits), only if different from the number they are calling from"},
    });
    if !offers.is_empty() {
        properties[DATE]["description"] = Value::String(format!(
            "{} Free times we can offer (YYYY-MM-DD HH:MM): {}",
            properties[DATE]["description"].as_str().unwrap_or_default(),
            offers.join(", ")
        ));
        properties[OFFERED_TIME] = json!({
            "type": "string",
            "enum": offers,
            "description": "If the caller accepts one of the offered times, that choice"
        });
    }
    CdataJson::new(&json!({
        "type": "object",
        "properties": properties,
        "required": [CUSTOMER_NAME, SERVICE, DATE, TIME],
    }))
}
