diesel::table! {
    organizations (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        org_id -> Uuid,
        email -> Text,
        password_hash -> Text,
        first_name -> Text,
        last_name -> Text,
        role -> Text,
        permissions -> Jsonb,
        active -> Bool,
        last_login_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    companies (id) {
        id -> Uuid,
        org_id -> Uuid,
        cvr -> Text,
        name -> Text,
        status -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        advertising_protected -> Bool,
    }
}

diesel::table! {
    user_companies (user_id, cvr) {
        user_id -> Uuid,
        org_id -> Uuid,
        cvr -> Text,
        access_level -> Text,
        granted_at -> Timestamptz,
        granted_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        family_id -> Uuid,
        user_id -> Uuid,
        token_hash -> Bytea,
        issued_at -> Timestamptz,
        expires_at -> Timestamptz,
        replaced_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Int8,
        email -> Text,
        source -> Text,
        failed_at -> Timestamptz,
    }
}

diesel::table! {
    audit_logs (id, occurred_at) {
        id -> Uuid,
        occurred_at -> Timestamptz,
        org_id -> Nullable<Uuid>,
        actor_id -> Nullable<Uuid>,
        cvr -> Nullable<Text>,
        source -> Text,
        event_type -> Text,
        subject -> Text,
        topic -> Text,
        details -> Jsonb,
    }
}

diesel::table! {
    system_logs (id, timestamp) {
        id -> Uuid,
        timestamp -> Timestamptz,
        org_id -> Nullable<Uuid>,
        event_type -> Text,
        severity -> Text,
        user_id -> Nullable<Uuid>,
        cvr -> Nullable<Text>,
        details -> Jsonb,
    }
}

diesel::allow_tables_to_appear_in_same_query!(users, user_companies, companies, organizations);
