//! The one schema both migration trees must produce (see tests/storage.rs).

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    departments (id) {
        id -> BigInt,
        name -> Text,
        parent_id -> Nullable<BigInt>,
        sort_order -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        department_id -> Nullable<BigInt>,
        supervisor_id -> Nullable<BigInt>,
        active -> Bool,
        language -> Text,
        time_zone -> Text,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        last_login_at -> Nullable<Timestamp>,
        password_changed_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    roles (id) {
        id -> BigInt,
        builtin -> Nullable<Text>,
        name -> Text,
        description -> Text,
        permissions -> Text,
        data_scope -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    user_roles (user_id, role_id) {
        user_id -> BigInt,
        role_id -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> BigInt,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        ip -> Text,
        user_agent -> Text,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        prefix -> Text,
        read_only -> Bool,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    login_log (id) {
        id -> BigInt,
        at -> Timestamp,
        email -> Text,
        user_id -> Nullable<BigInt>,
        ip -> Text,
        success -> Bool,
        reason -> Text,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        user_id -> Nullable<BigInt>,
        ip -> Text,
        request_id -> Text,
        action -> Text,
        entity -> Text,
        record_id -> Nullable<BigInt>,
        changes -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    record_shares (id) {
        id -> BigInt,
        entity -> Text,
        record_id -> BigInt,
        user_id -> BigInt,
        can_write -> Bool,
        until -> Nullable<Timestamp>,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    customers (id) {
        id -> BigInt,
        name -> Text,
        short_name -> Text,
        kind -> Text,
        industry -> Text,
        level -> Text,
        source -> Text,
        status -> Text,
        phone -> Text,
        mobile -> Text,
        email -> Text,
        website -> Text,
        province -> Text,
        city -> Text,
        district -> Text,
        address -> Text,
        tags -> Text,
        notes -> Text,
        owner_id -> Nullable<BigInt>,
        locked -> Bool,
        deal_status -> Text,
        last_follow_up_at -> Nullable<Timestamp>,
        next_follow_up_at -> Nullable<Timestamp>,
        custom -> Text,
        dedupe_name -> Text,
        dedupe_phone -> Text,
        search_text -> Text,
        search_cjk -> Text,
        created_by -> Nullable<BigInt>,
        updated_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
        pool_id -> Nullable<BigInt>,
        pooled_at -> Nullable<Timestamp>,
        pool_reason -> Text,
        previous_owner_id -> Nullable<BigInt>,
        owner_since -> Nullable<Timestamp>,
        last_opportunity_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    custom_fields (id) {
        id -> BigInt,
        entity -> Text,
        key -> Text,
        label_zh -> Text,
        label_en -> Text,
        kind -> Text,
        required -> Bool,
        unique_value -> Bool,
        default_value -> Text,
        options -> Text,
        help -> Text,
        sort_order -> Integer,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    saved_views (id) {
        id -> BigInt,
        user_id -> BigInt,
        entity -> Text,
        name -> Text,
        definition -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    contacts (id) {
        id -> BigInt,
        owner_id -> Nullable<BigInt>,
        customer_id -> BigInt,
        name -> Text,
        title -> Text,
        department -> Text,
        mobile -> Text,
        phone -> Text,
        email -> Text,
        im -> Text,
        is_primary -> Bool,
        is_decision_maker -> Bool,
        birthday -> Text,
        notes -> Text,
        custom -> Text,
        dedupe_name -> Text,
        dedupe_phone -> Text,
        search_text -> Text,
        search_cjk -> Text,
        created_by -> Nullable<BigInt>,
        updated_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    leads (id) {
        id -> BigInt,
        owner_id -> Nullable<BigInt>,
        name -> Text,
        company -> Text,
        title -> Text,
        mobile -> Text,
        phone -> Text,
        email -> Text,
        im -> Text,
        website -> Text,
        industry -> Text,
        source -> Text,
        status -> Text,
        province -> Text,
        city -> Text,
        district -> Text,
        address -> Text,
        tags -> Text,
        notes -> Text,
        next_follow_up_at -> Nullable<Timestamp>,
        last_follow_up_at -> Nullable<Timestamp>,
        converted_customer_id -> Nullable<BigInt>,
        converted_contact_id -> Nullable<BigInt>,
        converted_at -> Nullable<Timestamp>,
        custom -> Text,
        dedupe_name -> Text,
        dedupe_phone -> Text,
        search_text -> Text,
        search_cjk -> Text,
        created_by -> Nullable<BigInt>,
        updated_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    followups (id) {
        id -> BigInt,
        owner_id -> Nullable<BigInt>,
        kind -> Text,
        content -> Text,
        occurred_at -> Nullable<Timestamp>,
        next_follow_up_at -> Nullable<Timestamp>,
        customer_id -> Nullable<BigInt>,
        contact_id -> Nullable<BigInt>,
        lead_id -> Nullable<BigInt>,
        custom -> Text,
        search_text -> Text,
        search_cjk -> Text,
        created_by -> Nullable<BigInt>,
        updated_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
        opportunity_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    tasks (id) {
        id -> BigInt,
        assignee_id -> Nullable<BigInt>,
        title -> Text,
        description -> Text,
        due_at -> Nullable<Timestamp>,
        remind_at -> Nullable<Timestamp>,
        priority -> Text,
        status -> Text,
        related_entity -> Text,
        related_id -> Nullable<BigInt>,
        completed_at -> Nullable<Timestamp>,
        custom -> Text,
        search_text -> Text,
        search_cjk -> Text,
        created_by -> Nullable<BigInt>,
        updated_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    attachments (id) {
        id -> BigInt,
        entity -> Text,
        record_id -> BigInt,
        file_name -> Text,
        content_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    record_follows (user_id, entity, record_id) {
        user_id -> BigInt,
        entity -> Text,
        record_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    pipelines (id) {
        id -> BigInt,
        name -> Text,
        departments -> Text,
        active -> Bool,
        position -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    pipeline_stages (id) {
        id -> BigInt,
        pipeline_id -> BigInt,
        name -> Text,
        position -> Integer,
        probability -> Integer,
    }
}

diesel::table! {
    product_categories (id) {
        id -> BigInt,
        parent_id -> Nullable<BigInt>,
        name -> Text,
        position -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    products (id) {
        id -> BigInt,
        owner_id -> Nullable<BigInt>,
        code -> Text,
        name -> Text,
        category_id -> Nullable<BigInt>,
        unit -> Text,
        list_price -> Nullable<BigInt>,
        currency -> Text,
        active -> Bool,
        description -> Text,
        custom -> Text,
        search_text -> Text,
        search_cjk -> Text,
        created_by -> Nullable<BigInt>,
        updated_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    opportunities (id) {
        id -> BigInt,
        owner_id -> Nullable<BigInt>,
        name -> Text,
        customer_id -> BigInt,
        contact_ids -> Text,
        pipeline_id -> BigInt,
        stage_id -> BigInt,
        status -> Text,
        close_reason -> Text,
        closed_at -> Nullable<Timestamp>,
        probability -> Nullable<BigInt>,
        amount -> Nullable<BigInt>,
        currency -> Text,
        items -> Text,
        discount -> Text,
        expected_close_date -> Text,
        source -> Text,
        notes -> Text,
        lead_id -> Nullable<BigInt>,
        custom -> Text,
        search_text -> Text,
        search_cjk -> Text,
        created_by -> Nullable<BigInt>,
        updated_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    opportunity_stage_history (id) {
        id -> BigInt,
        opportunity_id -> BigInt,
        from_stage_id -> Nullable<BigInt>,
        to_stage_id -> Nullable<BigInt>,
        from_status -> Text,
        to_status -> Text,
        reason -> Text,
        changed_by -> Nullable<BigInt>,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    pools (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        active -> Bool,
        rules -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    pool_members (id) {
        id -> BigInt,
        pool_id -> BigInt,
        user_id -> Nullable<BigInt>,
        department_id -> Nullable<BigInt>,
        is_admin -> Bool,
    }
}

diesel::table! {
    pool_events (id) {
        id -> BigInt,
        pool_id -> Nullable<BigInt>,
        customer_id -> BigInt,
        action -> Text,
        user_id -> Nullable<BigInt>,
        from_owner_id -> Nullable<BigInt>,
        to_owner_id -> Nullable<BigInt>,
        reason -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    opportunity_sums (pipeline_id, stage_id, status, currency, owner_id) {
        pipeline_id -> BigInt,
        stage_id -> BigInt,
        status -> Text,
        currency -> Text,
        owner_id -> BigInt,
        n -> BigInt,
        amount -> BigInt,
    }
}

diesel::table! {
    import_batches (id) {
        id -> BigInt,
        entity -> Text,
        file_name -> Text,
        status -> Text,
        options -> Text,
        user_id -> Nullable<BigInt>,
        rows_total -> BigInt,
        rows_done -> BigInt,
        created -> BigInt,
        updated -> BigInt,
        skipped -> BigInt,
        rejected -> BigInt,
        source_path -> Text,
        error_file -> Text,
        message -> Text,
        state -> Text,
        heartbeat_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        undone_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    import_items (id) {
        id -> BigInt,
        batch_id -> BigInt,
        action -> Text,
        record_ids -> Text,
        record_id -> Nullable<BigInt>,
        line -> BigInt,
        before -> Text,
        version -> Integer,
    }
}

diesel::table! {
    record_merges (id) {
        id -> BigInt,
        entity -> Text,
        survivor_id -> BigInt,
        merged_ids -> Text,
        snapshot -> Text,
        user_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        undone_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(users -> departments (department_id));
diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(user_roles -> roles (role_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(record_shares -> users (user_id));
diesel::joinable!(customers -> users (owner_id));
diesel::joinable!(saved_views -> users (user_id));
diesel::joinable!(contacts -> customers (customer_id));
diesel::joinable!(pipeline_stages -> pipelines (pipeline_id));
diesel::joinable!(pool_members -> pools (pool_id));

diesel::allow_tables_to_appear_in_same_query!(
    settings,
    departments,
    users,
    roles,
    user_roles,
    sessions,
    api_tokens,
    login_log,
    audit_log,
    record_shares,
    customers,
    custom_fields,
    saved_views,
    contacts,
    leads,
    followups,
    tasks,
    attachments,
    record_follows,
    pipelines,
    pipeline_stages,
    product_categories,
    products,
    opportunities,
    opportunity_stage_history,
    pools,
    pool_members,
    pool_events,
    opportunity_sums,
    import_batches,
    import_items,
    record_merges,
);
