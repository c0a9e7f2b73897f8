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
