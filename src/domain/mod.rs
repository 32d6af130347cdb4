//! Domain types parsed at the edge: the core never sees a raw phone number or tenant JSON.

pub mod line;
pub mod phone;
pub mod redact;
pub mod reminder_calls;
pub mod tenant;

pub use phone::{PhoneNumber, mask};
pub use tenant::{FieldError, ProviderSpec, ServiceSpec, TenantSpec};
