//! The contact API's bodies: `POST /v1/contact/check` and its answer.

use serde::{Deserialize, Serialize};

use super::{Reason, check_channel, check_topic};
use crate::error::Result;

/// `POST /v1/contact/check`: may the business reach the owner over `channel` about `topic`
/// now? With `reserve: true`, an allowed answer also counts as a contact against the owner's
/// caps (for channels the vault cannot see itself, such as e-mail or phone).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactCheck {
    /// One of `email`, `phone`, `sms`, `post`, `app`, `inbox`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^(email|phone|sms|post|app|inbox)$")
    )]
    pub channel: String,
    /// A topic of the grant's contact right (1 to 64 characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub topic: String,
    #[serde(default)]
    pub reserve: bool,
}

impl ContactCheck {
    /// Checks the channel and topic (the topic trimmed).
    pub fn validated(mut self) -> Result<Self> {
        check_channel(&self.channel)?;
        self.topic = check_topic(&self.topic)?;
        Ok(self)
    }
}

/// The answer to a contact check: `{"allowed": true}`, or `{"allowed": false, "reason": …,
/// "retry_after": <Unix seconds>}` where waiting helps (quiet hours, caps).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactAnswer {
    pub allowed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// When trying again can succeed, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<i64>,
}

impl ContactAnswer {
    pub fn allowed() -> Self {
        Self {
            allowed: true,
            reason: None,
            retry_after: None,
        }
    }

    pub fn refused(reason: Reason, retry_after: Option<i64>) -> Self {
        Self {
            allowed: false,
            reason: Some(reason),
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_strict_and_answers_are_small() {
        let check: ContactCheck =
            serde_json::from_str(r#"{"channel":"inbox","topic":" orders "}"#).unwrap();
        let check = check.validated().unwrap();
        assert_eq!((check.topic.as_str(), check.reserve), ("orders", false));
        for bad in [
            r#"{"channel":"inbox","topic":"x","extra":1}"#,
            r#"{"channel":"inbox"}"#,
            r#"{"channel":"inbox","topic":"x","reserve":"yes"}"#,
        ] {
            assert!(serde_json::from_str::<ContactCheck>(bad).is_err(), "{bad}");
        }
        for (channel, topic) in [("none", "x"), ("fax", "x"), ("inbox", "")] {
            let check = ContactCheck {
                channel: channel.into(),
                topic: topic.into(),
                reserve: true,
            };
            assert!(check.validated().is_err(), "{channel} {topic}");
        }
        assert_eq!(
            serde_json::to_string(&ContactAnswer::allowed()).unwrap(),
            r#"{"allowed":true}"#
        );
        assert_eq!(
            serde_json::to_string(&ContactAnswer::refused(Reason::QuietHours, Some(7))).unwrap(),
            r#"{"allowed":false,"reason":"quiet_hours","retry_after":7}"#
        );
    }
}
