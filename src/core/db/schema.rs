//! The one schema both migration trees must produce (see tests/storage.rs).

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}
