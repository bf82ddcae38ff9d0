//! A credential read from the config (a meter password, a receiver token, a URL or header that
//! embeds one). One type for every such value, so none of them prints: `Debug` and `Serialize`
//! (what logs and `hostwatt check-config` use) show `<redacted>`, and only `expose` gives the text,
//! to the code that sends it.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// A credential. Deserializes from a TOML string; never prints its value.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// What `Debug` and `Serialize` show in place of the value.
pub const REDACTED: &str = "<redacted>";

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        let toml = toml::to_string(&std::collections::BTreeMap::from([("password", &s)])).unwrap();
        assert_eq!(toml.trim(), "password = \"<redacted>\"");
        assert_eq!(s.expose(), "hunter2");
        let back: std::collections::BTreeMap<String, Secret> =
            toml::from_str("password = \"pa ss\"").unwrap();
        assert_eq!(back["password"].expose(), "pa ss");
    }
}
