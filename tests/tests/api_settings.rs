//! `GET|PUT /api/settings/health` against the real daemon: values saved and audited, bad values
//! refused with the field named and nothing changed.

use serde_json::json;
use wgcluster_tests::daemon::{Daemon, Options};

#[test]
fn health_settings_round_trip_and_validation() {
    let d = Daemon::start(Options::default().tag("settings"));
    let (status, before) = d.get("/api/settings/health");
    assert_eq!(status, 200);
    assert_eq!(
        before["data"],
        json!({ "probe_interval_ms": 2000, "unhealthy_after": 3, "healthy_after": 2, "auto_migrate_independent": true,
                "profile": "default", "probe_timeout_ms": 1500, "detection_budget_ms": 7500 })
    );

    let (status, v) = d.put("/api/settings/health", &json!({ "probe_interval_ms": 500, "unhealthy_after": 5 }));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["probe_interval_ms"], 500);
    assert_eq!(v["data"]["unhealthy_after"], 5);
    assert_eq!(v["data"]["healthy_after"], 2, "a value not sent is left as it was");
    assert_eq!((v["data"]["profile"].clone(), v["data"]["detection_budget_ms"].clone()), (json!(null), json!(3000)));
    let (_, audit) = d.get("/api/audit-logs?action=settings_updated");
    assert_eq!(audit["data"].as_array().map(|a| a.len()), Some(1));

    let cases = [
        (json!({ "unhealthy_after": 0 }), "unhealthy_after"),
        (json!({ "probe_interval_ms": 50 }), "probe_interval_ms"),
        (json!({ "healthy_after": "two" }), "healthy_after"),
        (json!({ "auto_migrate_independent": 1 }), "auto_migrate_independent"),
        (json!({ "probe_interval": 500 }), "probe_interval"),
        (json!({ "profile": "fastest" }), "profile: 'fastest' is not one of default, lan"),
    ];
    let (_, saved) = d.get("/api/settings/health");
    for (body, field) in cases {
        let (status, v) = d.put("/api/settings/health", &body);
        assert_eq!(status, 400, "{body}: {v}");
        assert_eq!(v["status"], false);
        assert!(v["message"].as_str().unwrap_or("").contains(field), "{body}: {v}");
        assert_eq!(d.get("/api/settings/health").1, saved, "{body} changed the settings");
    }
}
