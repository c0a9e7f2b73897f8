//! The event tables every service schema has. The names are unqualified: a service's session
//! resolves them in its own schema (its search path starts there).

diesel::table! {
    outbox (id) {
        id -> Uuid,
        topic -> Text,
        event_type -> Text,
        aggregate_id -> Text,
        org_id -> Nullable<Uuid>,
        actor_id -> Nullable<Uuid>,
        cvr -> Nullable<Text>,
        payload -> Bytea,
        traceparent -> Nullable<Text>,
        created_at -> Timestamptz,
        published_at -> Nullable<Timestamptz>,
        attempts -> Int4,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    inbox (consumer, event_id) {
        event_id -> Uuid,
        consumer -> Text,
        topic -> Text,
        event_type -> Text,
        processed_at -> Timestamptz,
        trace_id -> Nullable<Text>,
    }
}

diesel::table! {
    organizations (id) {
        id -> Uuid,
        name -> Text,
        updated_at -> Timestamptz,
    }
}
