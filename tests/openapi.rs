//! The OpenAPI document is served, is OpenAPI 3.1, and names every API route
//! the source registers: the route attributes in src/, and the generic
//! record routes of every business object.

mod common;

use std::collections::BTreeSet;

use common::{Backend, TestServer};

/// `(method, path)` of every API route attribute in the source, with path
/// parameter patterns (`{action:disable|enable}`) reduced to their names.
fn routes_in_source() -> BTreeSet<(String, String)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut found = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for method in ["get", "post", "put", "patch", "delete"] {
            for prefix in [
                format!("#[{method}(\""),
                format!("#[actix_web::{method}(\""),
            ] {
                for part in text.split(&prefix).skip(1) {
                    let path = part.split('"').next().unwrap();
                    if !path.starts_with("/api/") && !path.ends_with("z") {
                        continue;
                    }
                    let path: String = path
                        .split('/')
                        .map(|seg| match seg.strip_prefix('{') {
                            Some(p) => format!(
                                "{{{}}}",
                                p.split(':').next().unwrap().trim_end_matches('}')
                            ),
                            None => seg.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("/");
                    found.insert((method.to_string(), path));
                }
            }
        }
    }
    found
}

fn every_route_is_documented(backend: Backend) {
    let srv = TestServer::start(&backend);
    let r = srv.get("/api/v1/openapi.json");
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), p.clone()))
        })
        .collect();
    let mut wanted = routes_in_source();
    assert!(
        wanted.len() > 40,
        "the scan found the route attributes: {wanted:?}"
    );
    for entity in ["contacts", "leads", "followups", "tasks"] {
        for (m, suffix) in rapport::core::records::api::ROUTES {
            wanted.insert((m.to_string(), format!("/api/v1/{entity}{suffix}")));
        }
    }
    wanted.insert(("post".into(), "/api/v1/leads/{id}/convert".into()));
    let missing: Vec<_> = wanted.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
    // Documented routes exist: each answers something other than 404 for
    // an unknown route (401 without a session is fine).
    for (m, p) in documented.iter().filter(|(m, _)| m == "get") {
        let _ = m;
        let path = p.replace("{id}", "1").replace("{user_id}", "1");
        let r = srv.get(&path);
        assert!(
            r.status != 404 || r.body.contains("not found"),
            "GET {path}: {}",
            r.status
        );
    }
    // Schemas come from the entity specs.
    let contact = &doc["components"]["schemas"]["contacts"];
    assert_eq!(contact["properties"]["email"]["format"], "email");
    assert!(
        contact["required"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "customer_id")
    );
    assert_eq!(
        doc["components"]["schemas"]["leads"]["properties"]["converted_customer_id"]["readOnly"],
        true
    );
    let customers = &doc["components"]["schemas"]["customers"];
    assert_eq!(
        customers["properties"]["kind"]["enum"],
        serde_json::json!(["company", "person"])
    );
    let list = &doc["paths"]["/api/v1/customers"]["get"];
    assert!(
        list["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "filter")
    );
    assert_eq!(
        list["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["items"]["items"]
            ["$ref"],
        "#/components/schemas/customers"
    );
    assert!(doc["paths"]["/api/v1/contacts/{id}"]["patch"]["requestBody"].is_object());
}

both_backends!(every_route_is_documented);
