//! A machine's network settings as stored (a JSON column of machines and snapshots).

use nullspace_api::MachineNetwork;
use nullspace_types::Egress;
use serde::{Deserialize, Serialize};

/// Outbound policy and preview access of a machine (or of the machine a
/// snapshot was taken from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Where its outbound traffic may go.
    #[serde(flatten)]
    pub egress: Egress,
    /// Whether preview traffic needs no token.
    #[serde(default = "yes")]
    pub allow_public_traffic: bool,
}

fn yes() -> bool {
    true
}

impl Default for Network {
    fn default() -> Self {
        Self {
            egress: Egress::OPEN,
            allow_public_traffic: true,
        }
    }
}

impl Network {
    /// The API view (`network`; `internet_access` is `egress.internet_access`).
    pub fn to_api(&self) -> MachineNetwork {
        MachineNetwork {
            allow_out: self.egress.allow_out.clone(),
            deny_out: self.egress.deny_out.clone(),
            allow_public_traffic: self.allow_public_traffic,
        }
    }

    /// Decode the stored column.
    pub(super) fn from_column(json: &str) -> Result<Self, super::StoreError> {
        serde_json::from_str(json).map_err(|_| super::StoreError::Corrupt("network"))
    }

    /// Encode for the column.
    pub(super) fn to_column(&self) -> String {
        serde_json::to_string(self).expect("network serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_rows_are_open_and_public() {
        assert_eq!(Network::from_column("{}").unwrap(), Network::default());
        let n = Network {
            egress: Egress::new(vec!["10.0.0.0/8".parse().unwrap()], vec![], false).unwrap(),
            allow_public_traffic: false,
        };
        assert_eq!(Network::from_column(&n.to_column()).unwrap(), n);
        assert!(Network::from_column(r#"{"allow_out":["x"]}"#).is_err());
    }
}
