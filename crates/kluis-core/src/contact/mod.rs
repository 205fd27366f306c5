//! The contact policy: the owner's rules for how, how often, when and about what a business may
//! reach them (`/preferences`), and the decision whether one contact attempt may go ahead.
//!
//! Pure logic: the policy is parsed from the `/preferences` object, the past contacts come in
//! through [`ContactHistory`] (a store answers its questions with an index), and the caller
//! passes the current time. Nothing here reads a clock or a file.

mod caps;
mod decide;
mod history;
mod policy;
mod quiet;
mod right;
#[cfg(test)]
mod scenarios;
pub(crate) mod schema;
mod wire;

use std::sync::LazyLock;

use jiff::tz::{TimeZone, TimeZoneDatabase};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pointer::Pointer;

pub use caps::{Cap, Period, Scope};
pub use decide::decide;
pub use history::{Contact, ContactHistory, Filter, IndexedHistory, KEPT_PER_KIND, MemoryHistory};
/// Instants as the contact rules take them (re-exported so callers need not name `jiff`).
pub use jiff::Timestamp;
pub use policy::is_topic;
pub use policy::{ContactPolicy, EffectivePolicy, Rules};
pub use quiet::QuietHours;
pub use right::{ContactRight, MAX_TOPIC_CHARS, MAX_TOPICS, check_channel, check_topic};
pub use wire::{ContactAnswer, ContactCheck};

/// Why a contact attempt was refused; the wire names are the snake_case ones.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The grant's contact right does not list this channel or topic.
    NoContactRight,
    /// The owner wants no contact at all (from this business or from anyone).
    DoNotContact,
    /// The owner's channels do not include this one.
    ChannelOff,
    /// The owner blocked this topic.
    TopicBlocked,
    /// The owner chose topics, and this is not one of them.
    TopicNotChosen,
    /// A cap on the number of contacts is reached.
    CapReached,
    /// The owner's quiet hours are on.
    QuietHours,
}

impl Reason {
    /// The wire name, e.g. `cap_reached`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoContactRight => "no_contact_right",
            Reason::DoNotContact => "do_not_contact",
            Reason::ChannelOff => "channel_off",
            Reason::TopicBlocked => "topic_blocked",
            Reason::TopicNotChosen => "topic_not_chosen",
            Reason::CapReached => "cap_reached",
            Reason::QuietHours => "quiet_hours",
        }
    }
}

/// The answer to one contact attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Refused {
        reason: Reason,
        /// When trying again can succeed, for quiet hours and caps; `None` when waiting alone
        /// will not help.
        retry_after: Option<jiff::Timestamp>,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed)
    }
}

/// The bundled IANA database, so a zone means the same on every machine, with or without
/// `/usr/share/zoneinfo`.
static ZONES: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

/// The IANA time zone `name` (e.g. `Europe/Amsterdam`); `at` names the place for the message.
pub fn time_zone(name: &str, at: &Pointer) -> Result<TimeZone> {
    ZONES.get(name).map_err(|_| {
        Error::invalid(format!(
            "{at}: {name:?} is not a known IANA time zone; use a name like Europe/Amsterdam or UTC"
        ))
    })
}

/// Checks a whole `/preferences` object's contact rules (the other keys are left to
/// [`crate::document`]).
pub fn validate_preferences(preferences: &serde_json::Value) -> Result<()> {
    ContactPolicy::from_preferences(preferences).map(|_| ())
}
