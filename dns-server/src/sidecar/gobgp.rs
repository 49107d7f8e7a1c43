//! GoBGP 3: originate and withdraw the prefixes over gobgpd's gRPC API (v3, package `apipb`).
//!
//! Paths are always named explicitly: a `DeletePath` without a path would
//! delete every locally originated path, so [`delete_request`] takes one by
//! value. gobgpd forgets API paths when it restarts, so [`Gobgp::reconcile`]
//! lists the global RIB and re-adds what is missing or changed.

use std::{net::IpAddr, time::Duration};

use prost_types::Any;
use tonic::transport::{Channel, Endpoint};

use super::{
    config::{Attributes, GobgpConfig, Prefix, SidecarConfig},
    speaker::SpeakerError,
    state::Announcement,
};

/// The generated client and messages for `proto/gobgp.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod api {
    tonic::include_proto!("apipb");
}

use api::{
    AddPathRequest, AsPathAttribute, AsSegment, CommunitiesAttribute, DeletePathRequest, Family, GetBgpRequest,
    IpAddressPrefix, LargeCommunitiesAttribute, LargeCommunity, ListPathRequest, MultiExitDiscAttribute,
    NextHopAttribute, OriginAttribute, Path, TableLookupPrefix, TableType, family, gobgp_api_client::GobgpApiClient,
};

/// How long one RPC may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// The `Any` type URL prefix gobgpd expects.
const TYPE_PREFIX: &str = "type.googleapis.com/apipb.";

/// The GoBGP speaker.
#[derive(Debug)]
pub(crate) struct Gobgp {
    client: GobgpApiClient<Channel>,
    prefixes: Vec<Prefix>,
    up: Attributes,
    drained: Attributes,
    /// gobgpd's AS, fetched once for AS-path prepends.
    asn: Option<u32>,
}

fn grpc_error(call: &'static str) -> impl Fn(tonic::Status) -> SpeakerError {
    move |status| SpeakerError::Gobgp {
        call,
        message: format!("{:?}: {}", status.code(), status.message()),
    }
}

impl Gobgp {
    /// A client for gobgpd at `gobgp.endpoint`; connects on first use and reconnects after a restart.
    pub(crate) fn new(sidecar: &SidecarConfig, gobgp: &GobgpConfig) -> Result<Gobgp, SpeakerError> {
        let endpoint = Endpoint::from_shared(gobgp.endpoint.clone())
            .map_err(|e| SpeakerError::Gobgp {
                call: "connect",
                message: format!("bad endpoint {:?}: {e}", gobgp.endpoint),
            })?
            .connect_timeout(RPC_TIMEOUT)
            .timeout(RPC_TIMEOUT);
        Ok(Gobgp {
            client: GobgpApiClient::new(endpoint.connect_lazy()),
            prefixes: sidecar.prefixes.clone(),
            up: sidecar.announce.clone(),
            drained: sidecar.drained_attributes(),
            asn: None,
        })
    }

    /// Adds (announce, drain) or deletes (withdraw) one path per prefix.
    pub(crate) async fn apply(&mut self, announcement: Announcement) -> Result<(), SpeakerError> {
        let attributes = match announcement {
            Announcement::Withdraw => None,
            Announcement::Announce => Some(self.up.clone()),
            Announcement::Drain => Some(self.drained.clone()),
        };
        let asn = match &attributes {
            Some(a) if a.prepend > 0 => self.asn().await?,
            _ => 0,
        };
        for prefix in self.prefixes.clone() {
            match &attributes {
                Some(a) => {
                    let request = AddPathRequest {
                        table_type: TableType::Global as i32,
                        vrf_id: String::new(),
                        path: Some(path(prefix, Some((a, asn)))),
                    };
                    self.client.add_path(request).await.map_err(grpc_error("AddPath"))?;
                }
                None => {
                    let request = delete_request(path(prefix, None));
                    self.client
                        .delete_path(request)
                        .await
                        .map_err(grpc_error("DeletePath"))?;
                }
            }
        }
        Ok(())
    }

    /// Lists our prefixes in the global RIB; re-applies `announcement` when a
    /// path is missing, present when it should not be, or carries other attributes.
    pub(crate) async fn reconcile(&mut self, announcement: Announcement) -> Result<bool, SpeakerError> {
        let want = match announcement {
            Announcement::Withdraw => None,
            Announcement::Announce => Some(&self.up),
            Announcement::Drain => Some(&self.drained),
        }
        .map(|a| (a.med, a.communities.iter().map(|c| c.0).collect::<Vec<u32>>()));
        let mut in_sync = true;
        for prefix in self.prefixes.clone() {
            let have = self.local_path(prefix).await?;
            let have = have.map(|p| (med_of(&p), communities_of(&p)));
            if have != want {
                tracing::warn!(%prefix, ?have, ?want, "gobgpd does not hold the expected path; re-applying");
                in_sync = false;
            }
        }
        if in_sync {
            return Ok(false);
        }
        self.apply(announcement).await.map(|()| true)
    }

    /// Our locally originated path for `prefix`, if gobgpd holds one.
    async fn local_path(&mut self, prefix: Prefix) -> Result<Option<Path>, SpeakerError> {
        let request = ListPathRequest {
            table_type: TableType::Global as i32,
            name: String::new(),
            family: Some(family_of(prefix)),
            prefixes: vec![TableLookupPrefix {
                prefix: prefix.to_string(),
                r#type: api::table_lookup_prefix::Type::Exact as i32,
            }],
        };
        let mut stream = self
            .client
            .list_path(request)
            .await
            .map_err(grpc_error("ListPath"))?
            .into_inner();
        let mut found = None;
        while let Some(response) = stream.message().await.map_err(grpc_error("ListPath"))? {
            for p in response.destination.into_iter().flat_map(|d| d.paths) {
                if is_local(&p) {
                    found = Some(p);
                }
            }
        }
        Ok(found)
    }

    async fn asn(&mut self) -> Result<u32, SpeakerError> {
        if let Some(asn) = self.asn {
            return Ok(asn);
        }
        let response = self
            .client
            .get_bgp(GetBgpRequest {})
            .await
            .map_err(grpc_error("GetBgp"))?
            .into_inner();
        let asn = response.global.map(|g| g.asn).unwrap_or(0);
        self.asn = Some(asn);
        Ok(asn)
    }
}

/// A withdrawal of exactly `path`: the only way this module builds a DeletePathRequest.
pub(crate) fn delete_request(path: Path) -> DeletePathRequest {
    DeletePathRequest {
        table_type: TableType::Global as i32,
        vrf_id: String::new(),
        family: path.family,
        path: Some(path),
        uuid: Vec::new(),
    }
}

/// Paths we originated have no peer as their source.
fn is_local(path: &Path) -> bool {
    matches!(path.neighbor_ip.as_str(), "" | "<nil>" | "0.0.0.0" | "::")
}

fn any(name: &str, message: &impl prost::Message) -> Any {
    Any {
        type_url: format!("{TYPE_PREFIX}{name}"),
        value: message.encode_to_vec(),
    }
}

fn family_of(prefix: Prefix) -> Family {
    let afi = if prefix.is_v4() {
        family::Afi::Ip
    } else {
        family::Afi::Ip6
    };
    Family {
        afi: afi as i32,
        safi: family::Safi::Unicast as i32,
    }
}

/// The path for `prefix`: with `attributes` (and our AS for prepends) to add it, without to delete it.
pub(crate) fn path(prefix: Prefix, attributes: Option<(&Attributes, u32)>) -> Path {
    let nlri = any(
        "IPAddressPrefix",
        &IpAddressPrefix {
            prefix_len: u32::from(prefix.len),
            prefix: prefix.addr.to_string(),
        },
    );
    // ORIGIN IGP (0): the prefix is ours.
    let mut pattrs = vec![any("OriginAttribute", &OriginAttribute { origin: 0 })];
    let next_hop = match (prefix.addr, attributes) {
        (IpAddr::V4(_), Some((a, _))) => a.next_hop_v4.map(IpAddr::V4),
        (IpAddr::V6(_), Some((a, _))) => a.next_hop_v6.map(IpAddr::V6),
        _ => None,
    };
    // gobgpd needs a next hop attribute; the unspecified address means "self".
    let next_hop = next_hop
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| if prefix.is_v4() { "0.0.0.0" } else { "::" }.to_string());
    pattrs.push(any("NextHopAttribute", &NextHopAttribute { next_hop }));
    if let Some((a, asn)) = attributes {
        if let Some(med) = a.med {
            pattrs.push(any("MultiExitDiscAttribute", &MultiExitDiscAttribute { med }));
        }
        if a.prepend > 0 {
            let segment = AsSegment {
                r#type: api::as_segment::Type::AsSequence as i32,
                numbers: vec![asn; usize::from(a.prepend)],
            };
            pattrs.push(any(
                "AsPathAttribute",
                &AsPathAttribute {
                    segments: vec![segment],
                },
            ));
        }
        if !a.communities.is_empty() {
            let communities = a.communities.iter().map(|c| c.0).collect();
            pattrs.push(any("CommunitiesAttribute", &CommunitiesAttribute { communities }));
        }
        if !a.large_communities.is_empty() {
            let communities = a
                .large_communities
                .iter()
                .map(|c| LargeCommunity {
                    global_admin: c.0,
                    local_data1: c.1,
                    local_data2: c.2,
                })
                .collect();
            pattrs.push(any(
                "LargeCommunitiesAttribute",
                &LargeCommunitiesAttribute { communities },
            ));
        }
    }
    Path {
        nlri: Some(nlri),
        pattrs,
        family: Some(family_of(prefix)),
        ..Path::default()
    }
}

fn attribute<M: prost::Message + Default>(path: &Path, name: &str) -> Option<M> {
    let url = format!("{TYPE_PREFIX}{name}");
    let any = path.pattrs.iter().find(|a| a.type_url == url)?;
    M::decode(any.value.as_slice()).ok()
}

fn med_of(path: &Path) -> Option<u32> {
    attribute::<MultiExitDiscAttribute>(path, "MultiExitDiscAttribute").map(|m| m.med)
}

fn communities_of(path: &Path) -> Vec<u32> {
    attribute::<CommunitiesAttribute>(path, "CommunitiesAttribute")
        .map(|c| c.communities)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn builds_a_drained_v4_path() {
        let drained = Attributes::graceful_shutdown();
        let p = path("203.0.113.53/32".parse().unwrap(), Some((&drained, 65001)));
        let nlri = IpAddressPrefix::decode(p.nlri.as_ref().unwrap().value.as_slice()).unwrap();
        assert_eq!((nlri.prefix.as_str(), nlri.prefix_len), ("203.0.113.53", 32));
        assert_eq!(med_of(&p), Some(1000));
        assert_eq!(communities_of(&p), vec![0xFFFF_0000], "expected GRACEFUL_SHUTDOWN");
        let as_path: AsPathAttribute = attribute(&p, "AsPathAttribute").expect("expected an AS path");
        assert_eq!(as_path.segments[0].numbers, vec![65001, 65001]);
        let nh: NextHopAttribute = attribute(&p, "NextHopAttribute").expect("expected a next hop");
        assert_eq!(nh.next_hop, "0.0.0.0");
    }

    #[test]
    fn a_withdrawal_always_names_its_path() {
        let p = path("2001:db8::53/128".parse().unwrap(), None);
        let request = delete_request(p);
        let named = request.path.as_ref().and_then(|p| p.nlri.as_ref());
        assert!(
            named.is_some(),
            "expected DeletePath to carry the path (an empty one deletes every path)"
        );
        assert_eq!(request.family.map(|f| f.afi), Some(family::Afi::Ip6 as i32));
        let nh: NextHopAttribute = attribute(request.path.as_ref().unwrap(), "NextHopAttribute").unwrap();
        assert_eq!(nh.next_hop, "::");
    }
}
