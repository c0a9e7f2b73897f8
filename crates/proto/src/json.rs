//! Any payload as JSON and back, by its type name: for workflows, which filter and map events
//! they do not know at compile time. Field names are the `.proto` names (`org_id`), 64-bit
//! integers are numbers, bytes are base64 (the protobuf JSON mapping otherwise).

use std::sync::OnceLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, SerializeOptions};

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(&include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"))[..])
            .unwrap_or_else(|err| panic!("the descriptors compiled by build.rs decode: {err}"))
    })
}

/// `payload` of type `type_name` (`tekup.renos.v1.LeadCreated`) as JSON; `None` for a type
/// the contracts do not define.
pub fn to_json(type_name: &str, payload: &[u8]) -> Option<Result<serde_json::Value, String>> {
    let descriptor = pool().get_message_by_name(type_name)?;
    Some(
        DynamicMessage::decode(descriptor, payload)
            .map_err(|err| format!("{type_name} does not decode: {err}"))
            .and_then(|message| {
                let options = SerializeOptions::new()
                    .use_proto_field_name(true)
                    .stringify_64_bit_integers(false)
                    .skip_default_fields(false);
                message
                    .serialize_with_options(serde_json::value::Serializer, &options)
                    .map_err(|err| format!("{type_name} as JSON: {err}"))
            }),
    )
}

/// A payload of type `type_name` from JSON, naming the field at fault when it does not fit.
pub fn from_json(type_name: &str, value: &serde_json::Value) -> Result<Vec<u8>, String> {
    let descriptor = pool()
        .get_message_by_name(type_name)
        .ok_or_else(|| format!("no event type {type_name}"))?;
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    DynamicMessage::deserialize_with_options(descriptor, value.clone(), &options)
        .map(|message| message.encode_to_vec())
        .map_err(|err| format!("{type_name}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Name;
    use crate::renos::v1::LeadCreated;

    #[test]
    fn a_payload_round_trips_through_json_by_its_type_name() {
        let lead = LeadCreated {
            lead_id: "l1".into(),
            org_id: "o1".into(),
            source: "website".into(),
            cvr: "13585628".into(),
        };
        let json = to_json(&LeadCreated::full_name(), &lead.encode_to_vec())
            .unwrap()
            .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"lead_id": "l1", "org_id": "o1", "source": "website", "cvr": "13585628"})
        );
        let bytes = from_json(&LeadCreated::full_name(), &json).unwrap();
        assert_eq!(LeadCreated::decode(bytes.as_slice()).unwrap(), lead);
        assert!(to_json("tekup.nope.v1.Nothing", b"").is_none());
        let err = from_json(&LeadCreated::full_name(), &serde_json::json!({"cvr": 5})).unwrap_err();
        assert!(err.contains("cvr") || err.contains("string"), "{err}");
        assert!(from_json(&LeadCreated::full_name(), &serde_json::json!({"nope": 1})).is_err());
    }
}
