diesel::table! {
    companies (id) {
        id -> Uuid,
        org_id -> Uuid,
        cvr -> Text,
        name -> Text,
        segment -> Nullable<Text>,
        street -> Nullable<Text>,
        zipcode -> Nullable<Text>,
        city -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        registry_status -> Text,
        advertising_protected -> Bool,
    }
}

diesel::table! {
    contacts (id) {
        id -> Uuid,
        org_id -> Uuid,
        cvr -> Text,
        first_name -> Text,
        last_name -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        title -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    pipeline_stages (org_id, key) {
        org_id -> Uuid,
        key -> Text,
        name -> Text,
        position -> Int4,
        probability -> Int4,
        outcome -> Text,
    }
}

diesel::table! {
    deals (id) {
        id -> Uuid,
        org_id -> Uuid,
        cvr -> Text,
        title -> Text,
        stage -> Text,
        value_ore -> Int8,
        currency -> Text,
        expected_close -> Nullable<Date>,
        owner_id -> Nullable<Uuid>,
        contact_id -> Nullable<Uuid>,
        closed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    activities (id) {
        id -> Uuid,
        org_id -> Uuid,
        cvr -> Text,
        kind -> Text,
        subject -> Text,
        body -> Text,
        contact_id -> Nullable<Uuid>,
        deal_id -> Nullable<Uuid>,
        occurred_at -> Timestamptz,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tasks (id) {
        id -> Uuid,
        org_id -> Uuid,
        cvr -> Text,
        title -> Text,
        due_date -> Nullable<Date>,
        assignee_id -> Nullable<Uuid>,
        status -> Text,
        deal_id -> Nullable<Uuid>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}
