//! The OpenAPI 3.1 document at `/api/v1/openapi.json`, built from the code:
//! each generic business object's paths and schema come from its
//! [`EntitySpec`]; the other routes from the table below, which a test
//! (tests/openapi.rs) holds to every route the source registers.

use serde_json::{Map, Value, json};

use crate::core::records::{EntitySpec, Field, Kind, api::ROUTES as RECORD_ROUTES};

/// A route outside the generic record API: method, path, tag, summary.
pub struct Route(
    pub &'static str,
    pub &'static str,
    pub &'static str,
    pub &'static str,
);

pub const ROUTES: &[Route] = &[
    Route("get", "/healthz", "health", "The process is up"),
    Route(
        "get",
        "/readyz",
        "health",
        "Database reachable and schema current (503 otherwise)",
    ),
    Route("get", "/api/v1/openapi.json", "health", "This document"),
    Route(
        "post",
        "/api/v1/setup",
        "identity",
        "First-run setup with the one-time token: company and first administrator",
    ),
    Route(
        "post",
        "/api/v1/auth/login",
        "identity",
        "Log in; returns the CSRF token and sets the session cookie",
    ),
    Route(
        "post",
        "/api/v1/auth/logout",
        "identity",
        "End this session",
    ),
    Route(
        "post",
        "/api/v1/auth/logout-all",
        "identity",
        "End every session of the caller",
    ),
    Route(
        "get",
        "/api/v1/me",
        "identity",
        "The caller, their roles and permissions",
    ),
    Route(
        "put",
        "/api/v1/me",
        "identity",
        "Change the caller's own name, language (zh-CN | en) or time zone",
    ),
    Route(
        "post",
        "/api/v1/me/password",
        "identity",
        "Change the caller's password",
    ),
    Route(
        "get",
        "/api/v1/me/tokens",
        "identity",
        "The caller's API tokens",
    ),
    Route(
        "post",
        "/api/v1/me/tokens",
        "identity",
        "Create an API token (shown once)",
    ),
    Route(
        "delete",
        "/api/v1/me/tokens/{id}",
        "identity",
        "Revoke an API token",
    ),
    Route("get", "/api/v1/admin/users", "admin", "Users"),
    Route("post", "/api/v1/admin/users", "admin", "Create a user"),
    Route("get", "/api/v1/admin/users/{id}", "admin", "One user"),
    Route("put", "/api/v1/admin/users/{id}", "admin", "Change a user"),
    Route(
        "put",
        "/api/v1/admin/users/{id}/roles",
        "admin",
        "Set a user's roles",
    ),
    Route(
        "post",
        "/api/v1/admin/users/{id}/password",
        "admin",
        "Reset a user's password (ends their sessions and tokens)",
    ),
    Route(
        "post",
        "/api/v1/admin/users/{id}/{action}",
        "admin",
        "Disable or enable a user (action: disable | enable)",
    ),
    Route(
        "get",
        "/api/v1/admin/departments",
        "admin",
        "The department tree",
    ),
    Route(
        "post",
        "/api/v1/admin/departments",
        "admin",
        "Create a department",
    ),
    Route(
        "put",
        "/api/v1/admin/departments/{id}",
        "admin",
        "Change a department",
    ),
    Route(
        "delete",
        "/api/v1/admin/departments/{id}",
        "admin",
        "Delete an empty department",
    ),
    Route(
        "get",
        "/api/v1/admin/roles",
        "admin",
        "Roles with permissions and data scope",
    ),
    Route("post", "/api/v1/admin/roles", "admin", "Create a role"),
    Route("put", "/api/v1/admin/roles/{id}", "admin", "Change a role"),
    Route(
        "delete",
        "/api/v1/admin/roles/{id}",
        "admin",
        "Delete a role nobody holds",
    ),
    Route(
        "get",
        "/api/v1/admin/audit",
        "admin",
        "The audit trail, by user, record and date",
    ),
    Route("get", "/api/v1/admin/login-log", "admin", "Login attempts"),
    Route(
        "get",
        "/api/v1/custom-fields",
        "customization",
        "Custom field definitions (?entity=)",
    ),
    Route(
        "post",
        "/api/v1/custom-fields",
        "customization",
        "Define a custom field",
    ),
    Route(
        "put",
        "/api/v1/custom-fields/{id}",
        "customization",
        "Change a custom field",
    ),
    Route(
        "delete",
        "/api/v1/custom-fields/{id}",
        "customization",
        "Delete a custom field definition",
    ),
    Route(
        "get",
        "/api/v1/followup-types",
        "followups",
        "The follow-up types to choose from",
    ),
    Route(
        "put",
        "/api/v1/followup-types",
        "followups",
        "Set the follow-up types (administrators)",
    ),
    Route(
        "get",
        "/api/v1/views",
        "lists",
        "The caller's saved views (?entity=)",
    ),
    Route(
        "post",
        "/api/v1/views",
        "lists",
        "Save a view: search, filters, sort, columns",
    ),
    Route(
        "patch",
        "/api/v1/views/{id}",
        "lists",
        "Change a saved view",
    ),
    Route(
        "delete",
        "/api/v1/views/{id}",
        "lists",
        "Delete a saved view",
    ),
    Route(
        "get",
        "/api/v1/search",
        "search",
        "Search every object the caller may see (?q=), grouped by type",
    ),
    Route("get", "/api/v1/todo", "search", "The caller's to-do centre"),
    Route(
        "get",
        "/api/v1/follows",
        "lists",
        "Ids of the records of an entity the caller follows (?entity=)",
    ),
    Route(
        "put",
        "/api/v1/follows/{entity}/{id}",
        "lists",
        "Follow a record (the followed view lists them)",
    ),
    Route(
        "delete",
        "/api/v1/follows/{entity}/{id}",
        "lists",
        "Stop following a record",
    ),
    Route(
        "get",
        "/api/v1/attachments",
        "attachments",
        "Attachments of a record (?entity=&record_id=)",
    ),
    Route(
        "post",
        "/api/v1/attachments",
        "attachments",
        "Upload a file as the body (?entity=&record_id=&name=)",
    ),
    Route(
        "get",
        "/api/v1/attachments/{id}",
        "attachments",
        "Download an attachment",
    ),
    Route(
        "delete",
        "/api/v1/attachments/{id}",
        "attachments",
        "Delete an attachment",
    ),
    Route(
        "get",
        "/api/v1/customers",
        "customers",
        "List customers: filter, sort, search, views, keyset paging",
    ),
    Route(
        "post",
        "/api/v1/customers",
        "customers",
        "Create a customer (409 with candidates for a likely duplicate)",
    ),
    Route(
        "post",
        "/api/v1/customers/bulk",
        "customers",
        "Assign, tag, untag or delete many customers",
    ),
    Route("get", "/api/v1/customers/{id}", "customers", "One customer"),
    Route(
        "patch",
        "/api/v1/customers/{id}",
        "customers",
        "Change some fields, naming the version read",
    ),
    Route(
        "put",
        "/api/v1/customers/{id}",
        "customers",
        "Replace the customer, naming the version read",
    ),
    Route(
        "delete",
        "/api/v1/customers/{id}",
        "customers",
        "Delete (?version=)",
    ),
    Route(
        "get",
        "/api/v1/customers/{id}/collaborators",
        "customers",
        "Collaborators",
    ),
    Route(
        "post",
        "/api/v1/customers/{id}/collaborators",
        "customers",
        "Share with a colleague",
    ),
    Route(
        "delete",
        "/api/v1/customers/{id}/collaborators/{user_id}",
        "customers",
        "Stop sharing",
    ),
    Route(
        "post",
        "/api/v1/leads/{id}/convert",
        "leads",
        "Convert a lead into a customer and a contact (and an opportunity)",
    ),
    Route(
        "post",
        "/api/v1/opportunities/{id}/stage",
        "opportunities",
        "Move to another stage, close as won/lost/invalid (with a reason) or reopen",
    ),
    Route(
        "get",
        "/api/v1/opportunities/{id}/history",
        "opportunities",
        "Every stage change of an opportunity",
    ),
    Route(
        "get",
        "/api/v1/pipelines",
        "pipelines",
        "Pipelines open to the caller, with their stages",
    ),
    Route(
        "post",
        "/api/v1/pipelines",
        "pipelines",
        "Create a pipeline with its stages (administrators)",
    ),
    Route("get", "/api/v1/pipelines/{id}", "pipelines", "One pipeline"),
    Route(
        "put",
        "/api/v1/pipelines/{id}",
        "pipelines",
        "Replace a pipeline's definition and stages, naming the version read",
    ),
    Route(
        "delete",
        "/api/v1/pipelines/{id}",
        "pipelines",
        "Delete a pipeline no opportunity uses",
    ),
    Route(
        "get",
        "/api/v1/pipelines/{id}/board",
        "pipelines",
        "The board: each stage's count, sums and newest cards (limit, view=mine)",
    ),
    Route(
        "get",
        "/api/v1/product-categories",
        "products",
        "The product category tree",
    ),
    Route(
        "post",
        "/api/v1/product-categories",
        "products",
        "Create a product category",
    ),
    Route(
        "put",
        "/api/v1/product-categories/{id}",
        "products",
        "Rename or move a product category",
    ),
    Route(
        "delete",
        "/api/v1/product-categories/{id}",
        "products",
        "Delete an empty product category",
    ),
    Route(
        "get",
        "/api/v1/pools",
        "pools",
        "Customer pools the caller belongs to",
    ),
    Route(
        "post",
        "/api/v1/pools",
        "pools",
        "Create a pool with members, administrators and rules (administrators)",
    ),
    Route("get", "/api/v1/pools/{id}", "pools", "One pool"),
    Route(
        "put",
        "/api/v1/pools/{id}",
        "pools",
        "Replace a pool's definition, naming the version read",
    ),
    Route(
        "delete",
        "/api/v1/pools/{id}",
        "pools",
        "Delete an empty pool",
    ),
    Route(
        "get",
        "/api/v1/pools/{id}/customers",
        "pools",
        "The customers in a pool (q, filter, sort, cursor, limit, total)",
    ),
    Route(
        "get",
        "/api/v1/pools/{id}/limits",
        "pools",
        "The caller's claims today and customers owned against the pool's limits",
    ),
    Route(
        "post",
        "/api/v1/pools/{id}/claim",
        "pools",
        "Claim pooled customers for oneself, within the limits",
    ),
    Route(
        "post",
        "/api/v1/pools/{id}/assign",
        "pools",
        "Assign pooled customers to a member (pool administrators)",
    ),
    Route(
        "post",
        "/api/v1/pools/{id}/move",
        "pools",
        "Move pooled customers to another pool (pool administrators)",
    ),
    Route(
        "post",
        "/api/v1/pools/{id}/put",
        "pools",
        "Put one's customers into the pool, with a reason",
    ),
    Route(
        "post",
        "/api/v1/pools/returns",
        "pools",
        "Apply the pools' return rules now (administrators)",
    ),
    Route(
        "post",
        "/api/v1/transfers",
        "transfers",
        "Move a user's customers, contacts, leads, opportunities and open tasks to another user or a pool",
    ),
    Route(
        "post",
        "/api/v1/imports",
        "imports",
        "Upload a CSV/.xlsx/.xls file to import (raw body with ?entity=&name=, or multipart); answers with the batch and a preview",
    ),
    Route(
        "get",
        "/api/v1/imports",
        "imports",
        "The caller's imports (administrators: all)",
    ),
    Route(
        "get",
        "/api/v1/imports/{id}",
        "imports",
        "An import with its progress (rows done of total) and counts",
    ),
    Route(
        "get",
        "/api/v1/imports/{id}/preview",
        "imports",
        "Detected encoding and delimiter, the suggested mapping and the first rows with their problems",
    ),
    Route(
        "post",
        "/api/v1/imports/{id}/run",
        "imports",
        "Run the import in the background (mapping, on_duplicate, owner_id, pool_id, encoding, dry_run)",
    ),
    Route(
        "post",
        "/api/v1/imports/{id}/cancel",
        "imports",
        "Stop a running import; it is rolled back",
    ),
    Route(
        "post",
        "/api/v1/imports/{id}/undo",
        "imports",
        "Undo a finished import: delete what it created, put back what it updated",
    ),
    Route(
        "get",
        "/api/v1/imports/{id}/errors",
        "imports",
        "The rejected rows with line, column and reason (?format=csv|xlsx)",
    ),
    Route(
        "get",
        "/api/v1/{entity}/export",
        "exports",
        "Export a list (view, q, filter, sort as the list API; columns; format=csv|xlsx) within the caller's export scope, streamed",
    ),
    Route(
        "get",
        "/api/v1/admin/export-limits",
        "exports",
        "Maximum rows per export, per role (administrators)",
    ),
    Route(
        "put",
        "/api/v1/admin/export-limits",
        "exports",
        "Set the maximum rows per export per role (administrators)",
    ),
    Route(
        "get",
        "/api/v1/quality/duplicates",
        "quality",
        "Clusters of customers sharing a normalised name, phone or e-mail",
    ),
    Route(
        "post",
        "/api/v1/quality/merge",
        "quality",
        "Merge customers into a survivor, moving every related record",
    ),
    Route(
        "get",
        "/api/v1/quality/merges",
        "quality",
        "The caller's customer merges, newest first (administrators: everyone's)",
    ),
    Route(
        "post",
        "/api/v1/quality/merges/{id}/undo",
        "quality",
        "Undo a merge",
    ),
    Route(
        "get",
        "/api/v1/quality/report",
        "quality",
        "Missing and invalid data, customers without follow-up for N days, quality scores per user and company",
    ),
];

fn field_schema(f: &Field) -> Value {
    let mut s = match f.kind {
        Kind::Text(max) => json!({"type": "string", "maxLength": max}),
        Kind::Email => json!({"type": "string", "format": "email"}),
        Kind::Phone => json!({"type": "string", "pattern": "^[0-9 +()#-]{5,40}$"}),
        Kind::Url => json!({"type": "string", "format": "uri"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Int => json!({"type": ["integer", "null"]}),
        Kind::Date => json!({"type": "string", "format": "date"}),
        Kind::DateTime => json!({"type": ["string", "null"], "format": "date-time"}),
        Kind::Choice(options) => json!({"type": "string", "enum": options}),
        Kind::Ref(entity) => {
            json!({"type": ["integer", "null"], "description": format!("id of a visible record of {entity}")})
        }
        Kind::User => json!({"type": ["integer", "null"], "description": "id of an active user"}),
        Kind::Tags => {
            json!({"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 20})
        }
        Kind::Json => json!({"type": "array"}),
    };
    if !f.input
        && let Some(o) = s.as_object_mut()
    {
        o.insert("readOnly".into(), Value::Bool(true));
    }
    s
}

/// The JSON schema of a record of `spec`.
pub fn schema(spec: &EntitySpec) -> Value {
    let mut props = Map::new();
    props.insert("id".into(), json!({"type": "integer", "readOnly": true}));
    props.insert(
        spec.owner_col.into(),
        json!({"type": ["integer", "null"], "description": "defaults to the caller"}),
    );
    for f in spec.fields {
        props.insert(f.name.into(), field_schema(f));
    }
    props.insert(
        "custom".into(),
        json!({"type": "object", "description": "custom field values by key"}),
    );
    for t in ["created_at", "updated_at"] {
        props.insert(
            t.into(),
            json!({"type": "string", "format": "date-time", "readOnly": true}),
        );
    }
    props.insert(
        "version".into(),
        json!({"type": "integer", "description": "name it on every change (or If-Match)"}),
    );
    let required: Vec<&str> = spec
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    json!({"type": "object", "properties": props, "required": required})
}

fn op(tag: &str, summary: &str, path: &str, body: Option<Value>) -> Value {
    let params: Vec<Value> = path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": if p == "action" || p == "entity" {"string"} else {"integer"}}}))
        .collect();
    let mut o = json!({
        "tags": [tag],
        "summary": summary,
        "responses": {
            "200": {"description": "OK"},
            "4XX": {"description": "`{error, message, field}`", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
    });
    if !params.is_empty() {
        o["parameters"] = Value::Array(params);
    }
    if let Some(b) = body {
        o["requestBody"] = json!({"content": {"application/json": {"schema": b}}});
    }
    o
}

/// The query parameters every list takes.
fn list_parameters() -> Value {
    json!([
        {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "substring search in Chinese or Latin text, phones by any part of their digits"},
        {"name": "filter", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true,
         "description": "field:op:value, repeatable; op one of eq ne contains not_contains starts_with ends_with empty not_empty gt ge lt le between in (between and in take comma-separated values); custom fields as custom.<key>"},
        {"name": "sort", "in": "query", "schema": {"type": "string"}, "description": "a sortable field, `-` for descending"},
        {"name": "view", "in": "query", "schema": {"type": "string"}, "description": "a built-in view (mine, subordinates, all, shared, followed, ...) or the id of a saved view"},
        {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the previous page"},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
        {"name": "total", "in": "query", "schema": {"type": "boolean"}, "description": "also count the matches (exact up to 10,000)"}
    ])
}

fn json_content(schema: Value) -> Value {
    json!({"content": {"application/json": {"schema": schema}}})
}

/// Request and response schemas for one object's standard routes.
fn describe_object(paths: &mut Map<String, Value>, name: &str) {
    let reference = json!({"$ref": format!("#/components/schemas/{name}")});
    let page = json!({"type": "object", "properties": {
        "items": {"type": "array", "items": reference.clone()},
        "next_cursor": {"type": ["string", "null"]},
        "total": {"type": "object", "properties": {"count": {"type": "integer"}, "capped": {"type": "boolean"}}},
        "sort": {"type": "string"}}});
    let bulk = json!({"type": "object", "required": ["ids", "action"], "properties": {
        "ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 500},
        "action": {"type": "string", "enum": ["assign", "add_tag", "remove_tag", "delete"]},
        "owner_id": {"type": "integer"}, "tag": {"type": "string"}}});
    let share = json!({"type": "object", "required": ["user_id"], "properties": {
        "user_id": {"type": "integer"}, "can_write": {"type": "boolean"},
        "until": {"type": "string", "format": "date-time"}}});
    let base = format!("/api/v1/{name}");
    let mut set = |path: String, method: &str, key: &str, v: Value| {
        if let Some(op) = paths.get_mut(&path).and_then(|p| p.get_mut(method)) {
            op[key] = v;
        }
    };
    set(base.clone(), "get", "parameters", list_parameters());

    set(
        base.clone(),
        "post",
        "requestBody",
        json_content(reference.clone()),
    );

    set(
        format!("{base}/bulk"),
        "post",
        "requestBody",
        json_content(bulk),
    );
    set(
        format!("{base}/{{id}}/collaborators"),
        "post",
        "requestBody",
        json_content(share),
    );
    for m in ["patch", "put"] {
        set(
            format!("{base}/{{id}}"),
            m,
            "requestBody",
            json_content(reference.clone()),
        );
    }
    for (path, m, code, schema) in [
        (base.clone(), "get", "200", page),
        (base.clone(), "post", "201", reference.clone()),
        (format!("{base}/{{id}}"), "get", "200", reference.clone()),
        (format!("{base}/{{id}}"), "patch", "200", reference.clone()),
        (format!("{base}/{{id}}"), "put", "200", reference.clone()),
    ] {
        if let Some(op) = paths.get_mut(&path).and_then(|p| p.get_mut(m)) {
            if code == "201"
                && let Some(r) = op["responses"].as_object_mut()
            {
                r.remove("200");
            }
            op["responses"][code] = json_content(schema);
        }
    }
}

/// The whole document: `specs` are the objects the generic record API
/// serves; `documented` are objects with their own handlers (customers)
/// whose schema is described the same way.
pub fn document(specs: &[&EntitySpec], documented: &[&EntitySpec]) -> Value {
    let mut paths = Map::new();
    let mut add = |method: &str, path: &str, o: Value| {
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method] = o;
    };
    for r in ROUTES {
        add(r.0, r.1, op(r.2, r.3, r.1, None));
    }
    let mut schemas = Map::new();
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}, "required": ["error", "message"]}),
    );
    for spec in specs {
        let name = spec.name;
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        schemas.insert(name.into(), schema(spec));
        for (method, suffix) in RECORD_ROUTES {
            let path = format!("/api/v1/{name}{suffix}");
            let (summary, body) = match (*method, *suffix) {
                ("get", "") => (
                    format!(
                        "List {name}: filter=field:op:value, q, sort, view, cursor, limit, total"
                    ),
                    None,
                ),
                ("post", "") => (
                    format!(
                        "Create a {} (409 with candidates for a likely duplicate)",
                        spec.singular
                    ),
                    Some(reference.clone()),
                ),
                ("post", "/bulk") => (format!("Assign, tag or delete many {name}"), None),
                ("get", "/{id}") => (format!("One {}", spec.singular), None),
                ("patch", "/{id}") => (
                    "Change some fields, naming the version read".to_string(),
                    Some(reference.clone()),
                ),
                ("put", "/{id}") => (
                    "Replace all fields, naming the version read".to_string(),
                    Some(reference.clone()),
                ),
                ("delete", "/{id}") => ("Delete (?version= or If-Match)".to_string(), None),
                ("get", _) => ("Collaborators".to_string(), None),
                ("post", _) => ("Share with a colleague".to_string(), None),
                _ => ("Stop sharing".to_string(), None),
            };
            add(method, &path, op(name, &summary, &path, body));
        }
    }
    for spec in specs.iter().chain(documented) {
        schemas.insert(spec.name.into(), schema(spec));
        describe_object(&mut paths, spec.name);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Rapport API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Send `Authorization: Bearer rpt_…` (a personal token) or a session cookie with `X-CSRF-Token`. Every list and read is limited to the caller's data scope."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        },
        "security": [{"bearer": []}]
    })
}
