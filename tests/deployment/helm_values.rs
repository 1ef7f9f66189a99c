//! charts/gitseal's values do what values.yaml says, rendered by the real helm
//! (dev/tools/helm/build): each toggle adds its objects, selecting the controller's pods and
//! port; the rotation period and extraArgs reach the container; another release namespace
//! and release name flow everywhere; a digest pins the image. Without Go (outside CI) they
//! skip with a note.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

use gitseal_test_support::helm::{Helm, find};
use serde_json::{Value, json};

const NS: &str = "gitseal-system";
const EVERY_TOGGLE: &str = "serviceMonitor.enabled=true,podMonitor.enabled=true,networkPolicy.enabled=true,\
                            prometheusRule.enabled=true,grafanaDashboard.enabled=true";

fn helm() -> Option<Helm> {
    let helm = Helm::build().unwrap();
    if helm.is_none() {
        eprintln!("note: Go not installed; helm was not built, charts/gitseal not checked");
    }
    helm
}

fn get<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    find(objects, kind, name).unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

/// Every `key: value` of `selector` is among `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_object().unwrap();
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn container(objects: &[Value]) -> &Value {
    &get(objects, "Deployment", "gitseal-controller")["spec"]["template"]["spec"]["containers"][0]
}

/// Every alert's expression, by alert name.
fn alerts(objects: &[Value]) -> Vec<(String, String)> {
    let groups = get(objects, "PrometheusRule", "gitseal-controller")["spec"]["groups"].as_array().unwrap();
    let rules = groups.iter().flat_map(|g| g["rules"].as_array().unwrap());
    rules.map(|r| (r["alert"].as_str().unwrap().to_owned(), r["expr"].as_str().unwrap().to_owned())).collect()
}

#[test]
fn toggles_are_off_by_default_and_select_the_controller_when_on() {
    let Some(helm) = helm() else { return };
    let defaults = helm.template("gitseal", NS, &[]).unwrap();
    for kind in ["ServiceMonitor", "PodMonitor", "NetworkPolicy", "PrometheusRule", "ConfigMap"] {
        assert!(defaults.iter().all(|o| o["kind"] != kind), "{kind} rendered at default values");
    }

    let on = helm.template("gitseal", NS, &["--set", EVERY_TOGGLE]).unwrap();
    let pod = &get(&on, "Deployment", "gitseal-controller")["spec"]["template"];
    let service = get(&on, "Service", "gitseal-controller");
    assert_eq!(container(&on)["ports"], json!([{ "name": "http", "containerPort": 8080, "protocol": "TCP" }]));
    assert_eq!(service["spec"]["ports"][0]["name"], "http");

    let monitor = &get(&on, "ServiceMonitor", "gitseal-controller")["spec"];
    assert!(selects(&monitor["selector"]["matchLabels"], &service["metadata"]["labels"]), "{monitor}");
    assert_eq!(monitor["namespaceSelector"], json!({ "matchNames": [NS] }));
    assert_eq!(monitor["endpoints"], json!([{ "port": "http", "path": "/metrics" }]));

    let monitor = &get(&on, "PodMonitor", "gitseal-controller")["spec"];
    assert!(selects(&monitor["selector"]["matchLabels"], &pod["metadata"]["labels"]), "{monitor}");
    assert_eq!(monitor["namespaceSelector"], json!({ "matchNames": [NS] }));
    assert_eq!(monitor["podMetricsEndpoints"], json!([{ "port": "http", "path": "/metrics" }]));

    // Ingress to the HTTP port from anyone, egress to the API server's ports only: no DNS.
    let policy = &get(&on, "NetworkPolicy", "gitseal-controller")["spec"];
    assert!(selects(&policy["podSelector"]["matchLabels"], &pod["metadata"]["labels"]), "{policy}");
    assert_eq!(policy["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(policy["ingress"], json!([{ "ports": [{ "port": "http", "protocol": "TCP" }] }]));
    let api_server = json!([{ "port": 443, "protocol": "TCP" }, { "port": 6443, "protocol": "TCP" }]);
    assert_eq!(policy["egress"], json!([{ "ports": api_server }]));

    let dashboard = get(&on, "ConfigMap", "gitseal-dashboard");
    assert_eq!(dashboard["metadata"]["namespace"], NS);
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json: Value = serde_json::from_str(dashboard["data"]["gitseal.json"].as_str().unwrap()).unwrap();
    assert_eq!(json["uid"], "gitseal-controller");
    let exprs: Vec<&str> = json["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert!(exprs.len() >= 8 && exprs.iter().all(|e| e.contains("{namespace=\"$namespace\"}")), "{exprs:#?}");

    let alerts = alerts(&on);
    let names: Vec<&str> = alerts.iter().map(|(n, _)| n.as_str()).collect();
    let expected =
        ["GitsealUnsealFailures", "GitsealNoLeader", "GitsealKeyRotationFailing", "GitsealKeyOlderThanRotationPeriod"];
    assert_eq!(names, expected);
    assert!(alerts.iter().all(|(_, e)| e.contains(&format!("{{namespace=\"{NS}\"}}"))), "{alerts:#?}");
    assert!(alerts[3].1.ends_with(") > 2592000"), "30d: {}", alerts[3].1);
}

#[test]
fn toggle_options_land_where_they_belong() {
    let Some(helm) = helm() else { return };
    let set = [
        "--set",
        EVERY_TOGGLE,
        "--set",
        "serviceMonitor.interval=15s,serviceMonitor.labels.release=prom,podMonitor.interval=20s",
        "--set",
        "prometheusRule.labels.release=prom,grafanaDashboard.namespace=monitoring",
        "--set-json",
        r#"networkPolicy.ingressFrom=[{"namespaceSelector":{"matchLabels":{"name":"monitoring"}}}]"#,
        "--set-json",
        r#"networkPolicy.apiServer={"cidrs":["10.0.0.1/32"],"ports":[6443]}"#,
    ];
    let on = helm.template("gitseal", NS, &set).unwrap();
    let monitor = get(&on, "ServiceMonitor", "gitseal-controller");
    assert_eq!(
        (&monitor["metadata"]["labels"]["release"], &monitor["spec"]["endpoints"][0]["interval"]),
        (&json!("prom"), &json!("15s"))
    );
    assert_eq!(get(&on, "PodMonitor", "gitseal-controller")["spec"]["podMetricsEndpoints"][0]["interval"], "20s");
    assert_eq!(get(&on, "PrometheusRule", "gitseal-controller")["metadata"]["labels"]["release"], "prom");
    assert_eq!(get(&on, "ConfigMap", "gitseal-dashboard")["metadata"]["namespace"], "monitoring");
    let policy = &get(&on, "NetworkPolicy", "gitseal-controller")["spec"];
    assert_eq!(
        policy["ingress"][0]["from"],
        json!([{ "namespaceSelector": { "matchLabels": { "name": "monitoring" } } }])
    );
    let egress =
        json!([{ "ports": [{ "port": 6443, "protocol": "TCP" }], "to": [{ "ipBlock": { "cidr": "10.0.0.1/32" } }] }]);
    assert_eq!(policy["egress"], egress);
}

#[test]
fn rotation_period_and_extra_args_reach_the_container() {
    let Some(helm) = helm() else { return };
    // Unset, the controller's own default applies: no flag, as in deploy/.
    assert_eq!(container(&helm.template("gitseal", NS, &[]).unwrap()).get("args"), None);

    let set =
        ["--set", "keyRotationPeriod=7d,prometheusRule.enabled=true", "--set-json", r#"extraArgs=["--concurrency=8"]"#];
    let objects = helm.template("gitseal", NS, &set).unwrap();
    assert_eq!(container(&objects)["args"], json!(["--key-rotation-period=7d", "--concurrency=8"]));
    let key_age = alerts(&objects).into_iter().find(|(n, _)| n == "GitsealKeyOlderThanRotationPeriod").unwrap().1;
    assert!(key_age.ends_with(") > 604800"), "7d: {key_age}");

    // 0 turns rotation off, and with it the key-age alert.
    let objects = helm.template("gitseal", NS, &["--set", "keyRotationPeriod=0,prometheusRule.enabled=true"]).unwrap();
    assert_eq!(container(&objects)["args"], json!(["--key-rotation-period=0"]));
    assert!(alerts(&objects).iter().all(|(n, _)| n != "GitsealKeyOlderThanRotationPeriod"));

    // What the controller would refuse is refused at install time.
    let refused = helm.template("gitseal", NS, &["--set", "keyRotationPeriod=3w"]).unwrap_err().to_string();
    assert!(refused.contains("keyRotationPeriod \"3w\" is not a period"), "{refused}");
}

#[test]
fn image_is_pinned_by_digest_when_one_is_set() {
    let Some(helm) = helm() else { return };
    let repository = "ghcr.io/gitseal/gitseal-controller";
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let objects = helm.template("gitseal", NS, &["--set", &format!("image.tag=1.2.3,image.digest={digest}")]).unwrap();
    assert_eq!(container(&objects)["image"], format!("{repository}:1.2.3@{digest}"));
    // The version label stays the tag: a label value cannot hold the digest.
    let labels = &get(&objects, "Deployment", "gitseal-controller")["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/version"], "1.2.3");

    let refused = helm.template("gitseal", NS, &["--set", "image.digest=latest"]).unwrap_err().to_string();
    assert!(refused.contains("image.digest must be sha256:"), "{refused}");
}

#[test]
fn another_release_and_namespace_flow_everywhere() {
    let Some(helm) = helm() else { return };
    let set = ["--set", "prometheusRule.enabled=true,grafanaDashboard.enabled=true,serviceMonitor.enabled=true"];
    let objects = helm.template("team", "secrets-prod", &set).unwrap();
    let text = serde_json::to_string(&objects).unwrap();
    assert!(!text.contains("gitseal-system"), "gitseal-system rendered into a release in secrets-prod");

    for object in &objects {
        let cluster_scoped =
            ["ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
                .contains(&object["kind"].as_str().unwrap());
        let (namespace, name) = (&object["metadata"]["namespace"], object["metadata"]["name"].as_str().unwrap());
        if cluster_scoped {
            assert!(name.starts_with("team-gitseal-"), "cluster-scoped {name} is not named after the release");
            assert!(namespace.is_null());
        } else {
            assert_eq!(namespace, "secrets-prod", "{name}");
        }
    }
    let subject = json!([{ "kind": "ServiceAccount", "name": "gitseal-controller", "namespace": "secrets-prod" }]);
    let binding = get(&objects, "ClusterRoleBinding", "team-gitseal-controller");
    assert_eq!((&binding["subjects"], &binding["roleRef"]["name"]), (&subject, &json!("team-gitseal-controller")));
    assert_eq!(get(&objects, "RoleBinding", "gitseal-controller")["subjects"], subject);
    let policy = &get(&objects, "ValidatingAdmissionPolicy", "team-gitseal-controller-secret-writes")["spec"];
    let user = policy["matchConditions"][0]["expression"].as_str().unwrap();
    assert!(user.contains("'system:serviceaccount:secrets-prod:gitseal-controller'"), "{user}");
    let binding = get(&objects, "ValidatingAdmissionPolicyBinding", "team-gitseal-controller-secret-writes");
    assert_eq!(binding["spec"]["policyName"], "team-gitseal-controller-secret-writes");
    // --namespace comes from POD_NAMESPACE, the pod's own namespace: the release's.
    let env = &container(&objects)["env"];
    let pod_namespace = env.as_array().unwrap().iter().find(|e| e["name"] == "POD_NAMESPACE").unwrap();
    assert_eq!(pod_namespace["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace");
    assert_eq!(get(&objects, "Deployment", "gitseal-controller")["metadata"]["namespace"], "secrets-prod");
    assert!(get(&objects, "ConfigMap", "team-gitseal-dashboard").is_object());
}

#[test]
fn task_roles_can_be_left_out_or_bound_and_one_replica_has_no_pdb() {
    let Some(helm) = helm() else { return };
    let ci = json!([{ "kind": "ServiceAccount", "name": "deployer", "namespace": "ci" }]);
    let bob = json!([{ "kind": "User", "name": "bob", "apiGroup": "rbac.authorization.k8s.io" }]);
    let set = [
        "--set".to_owned(),
        "taskRoles.keyCustodian.create=false,replicas=1".to_owned(),
        "--set-json".to_owned(),
        format!("taskRoles.resealer.subjects={ci}"),
        "--set-json".to_owned(),
        format!("taskRoles.keyDependentsReader.subjects={bob}"),
    ];
    let objects = helm.template("gitseal", NS, &set.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    assert!(find(&objects, "Role", "gitseal-key-custodian").is_none());
    assert!(find(&objects, "Role", "gitseal-key-rotator").is_some());
    assert!(find(&objects, "RoleBinding", "gitseal-key-rotator").is_none(), "bound with no subjects");
    let binding = get(&objects, "RoleBinding", "gitseal-resealer");
    assert_eq!(
        binding["roleRef"],
        json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gitseal-resealer" })
    );
    assert_eq!((&binding["subjects"], &binding["metadata"]["namespace"]), (&ci, &json!(NS)));
    let binding = get(&objects, "ClusterRoleBinding", "gitseal-key-dependents-reader");
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["subjects"], bob);

    assert_eq!(get(&objects, "Deployment", "gitseal-controller")["spec"]["replicas"], 1);
    assert!(find(&objects, "PodDisruptionBudget", "gitseal-controller").is_none(), "a PDB would block every drain");
}

#[test]
fn watch_namespaces_grant_roles_only_there_and_nothing_cluster_wide() {
    let Some(helm) = helm() else { return };
    let objects = helm.template("gitseal", NS, &["--set", "watchNamespaces={team-a,team-b}"]).unwrap();
    assert!(find(&objects, "ClusterRole", "gitseal-controller").is_none(), "the controller's ClusterRole is rendered");
    assert!(find(&objects, "ClusterRoleBinding", "gitseal-controller").is_none());
    let controller_subject = json!({ "kind": "ServiceAccount", "name": "gitseal-controller", "namespace": NS });
    let mut watched = Vec::new();
    for object in &objects {
        let kind = object["kind"].as_str().unwrap();
        let binds_controller = object["subjects"].as_array().is_some_and(|s| s.contains(&controller_subject));
        if kind == "ClusterRoleBinding" {
            assert!(!binds_controller, "a ClusterRoleBinding binds the controller: {object}");
        }
        if kind == "RoleBinding" && binds_controller {
            watched.push(object["metadata"]["namespace"].as_str().unwrap().to_owned());
        }
    }
    watched.sort();
    assert_eq!(
        watched,
        [NS, "team-a", "team-b"],
        "the controller is bound in its own namespace and the watched ones only"
    );
    let role = get(&objects, "Role", "gitseal-controller-watch");
    assert_eq!(role["metadata"]["namespace"], "team-a");
    let secrets = role["rules"].as_array().unwrap().iter().filter(|r| r["resources"] == json!(["secrets"]));
    assert!(secrets.count() > 0, "the watched namespace's Role grants no Secrets: {role}");
    assert!(container(&objects)["args"].as_array().unwrap().contains(&json!("--watch-namespaces=team-a,team-b")));
    let defaults = helm.template("gitseal", NS, &[]).unwrap();
    assert!(find(&defaults, "Role", "gitseal-controller-watch").is_none(), "a watched Role at default values");
    assert!(find(&defaults, "ClusterRoleBinding", "gitseal-controller").is_some());
}
