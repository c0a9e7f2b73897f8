//! The event contracts of `proto/`: the only coupling between services.
//!
//! Every payload implements [`prost::Name`]; its full name (`tekup.shared.v1.OrganizationCreated`)
//! is the event's type on the wire.

#![allow(clippy::all, clippy::unwrap_used, clippy::expect_used)]

pub use prost::{self, Message, Name};
pub use prost_types;

macro_rules! package {
    ($name:ident, $file:literal) => {
        pub mod $name {
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/", $file));
            }
        }
    };
}

package!(events, "tekup.events.v1.rs");
package!(shared, "tekup.shared.v1.rs");
package!(crm, "tekup.crm.v1.rs");
package!(renos, "tekup.renos.v1.rs");
package!(vault, "tekup.vault.v1.rs");
package!(billy, "tekup.billy.v1.rs");
package!(flow, "tekup.flow.v1.rs");

pub use events::v1::Envelope;

mod json;
pub use json::{from_json, to_json};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_travel_under_their_full_protobuf_name() {
        assert_eq!(
            shared::v1::OrganizationCreated::full_name(),
            "tekup.shared.v1.OrganizationCreated"
        );
    }

    #[test]
    fn an_envelope_round_trips() {
        let payload = shared::v1::OrganizationCreated {
            org_id: "o".into(),
            name: "Rengøring ApS".into(),
        };
        let envelope = Envelope {
            id: "id".into(),
            r#type: shared::v1::OrganizationCreated::full_name(),
            payload: payload.encode_to_vec(),
            ..Default::default()
        };
        let decoded = Envelope::decode(envelope.encode_to_vec().as_slice()).unwrap();
        let inner = shared::v1::OrganizationCreated::decode(decoded.payload.as_slice()).unwrap();
        assert_eq!(inner.name, "Rengøring ApS");
    }
}
