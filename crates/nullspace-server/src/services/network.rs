//! Network settings of a new machine: outbound policy and preview access.

use nullspace_api::CreateMachineRequest;
use nullspace_types::{Egress, EgressError};

use crate::error::{ApiError, ApiResult};
use crate::store::Network;

/// The network a create asks for: what it gives, over the snapshot's settings
/// when it starts from one (a `network` given replaces both CIDR lists).
pub fn plan(req: &CreateMachineRequest, snapshot: Option<&Network>) -> ApiResult<Network> {
    let base = snapshot.cloned().unwrap_or_default();
    let (allow_out, deny_out) = match &req.network {
        Some(n) => (n.allow_out.clone(), n.deny_out.clone()),
        None => (base.egress.allow_out, base.egress.deny_out),
    };
    let internet_access = req.internet_access.unwrap_or(base.egress.internet_access);
    let egress = Egress::new(allow_out, deny_out, internet_access)
        .map_err(|e: EgressError| ApiError::field("network", e.to_string()))?;
    let allow_public_traffic = req
        .network
        .as_ref()
        .and_then(|n| n.allow_public_traffic)
        .unwrap_or(base.allow_public_traffic);
    Ok(Network {
        egress,
        allow_public_traffic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nullspace_api::NetworkSettings;

    fn req(network: Option<NetworkSettings>, internet: Option<bool>) -> CreateMachineRequest {
        CreateMachineRequest {
            network,
            internet_access: internet,
            ..Default::default()
        }
    }

    #[test]
    fn a_create_overrides_what_it_names_and_keeps_the_rest() {
        assert_eq!(plan(&req(None, None), None).unwrap(), Network::default());
        let snap = Network {
            egress: Egress::new(vec!["10.0.0.0/8".parse().unwrap()], vec![], false).unwrap(),
            allow_public_traffic: false,
        };
        assert_eq!(plan(&req(None, None), Some(&snap)).unwrap(), snap);
        let online = plan(&req(None, Some(true)), Some(&snap)).unwrap();
        assert!(online.egress.internet_access && !online.allow_public_traffic);
        assert_eq!(online.egress.allow_out, snap.egress.allow_out);
        let lists = NetworkSettings {
            deny_out: vec!["203.0.113.0/24".parse().unwrap()],
            ..Default::default()
        };
        let replaced = plan(&req(Some(lists), None), Some(&snap)).unwrap();
        assert!(replaced.egress.allow_out.is_empty());
        assert!(!replaced.allow_public_traffic, "not named: the snapshot's");
    }
}
