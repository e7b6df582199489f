//! Apply's orchestration and failure paths on a host and an engine in memory
//! ([`crate::host::fake`]): what is placed, what is put back, what is left for the next run.
//! The end-to-end tests (tests/apply_*.rs) show the same on real sshd and dockerd.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::host::fake::{FakeEngine, FakeHost};
use crate::host::files::RunMode;
use crate::host::session::SshOptions;

/// web can run beside its new version; pinned (a published port) steps aside for it.
fn compose(web_image: &str, pinned_image: &str) -> String {
    format!(
        "services:
  web:
    image: {web_image}
    networks: [net]
    volumes:
      - /srv/fleet/web/conf:/conf:ro
  pinned:
    image: {pinned_image}
    ports: [\"8080:80\"]
    networks: [net]
    volumes:
      - /srv/fleet/pinned/conf:/conf:ro
networks:
  net: {{}}
"
    )
}

/// The rendered tree of a host.
fn tree(compose: &str, web_conf: &str, pinned_conf: &str) -> BTreeMap<String, OutFile> {
    BTreeMap::from([
        ("compose.yml".to_string(), OutFile::new(compose, 0o644)),
        (
            "web/conf/app.conf".to_string(),
            OutFile::new(web_conf, 0o644),
        ),
        (
            "pinned/conf/app.conf".to_string(),
            OutFile::new(pinned_conf, 0o600),
        ),
    ])
}

fn options(mode: RunMode) -> SyncOptions {
    SyncOptions {
        forks: 1,
        mode,
        diff: false,
        force_unlock: false,
        lock_timeout: Duration::from_secs(1),
        ssh: SshOptions::default(),
        holder: "test pid 1".into(),
        source: Default::default(),
        redactor: Default::default(),
    }
}

/// One apply of `tree` (compose.yml included) on the host and engine.
async fn apply(
    host: &FakeHost,
    engine: &FakeEngine,
    tree: BTreeMap<String, OutFile>,
    mode: RunMode,
) -> Result<HostApply, ApplyError> {
    let text = String::from_utf8_lossy(&tree["compose.yml"].data).into_owned();
    let compose = compose::parse(Path::new("compose.yml"), &text)?;
    let (files, system) = split(&host.target, tree)?;
    locked(
        host,
        engine,
        &compose,
        &files,
        &system,
        &options(mode),
        &Deploy::Apply,
        &|_| {},
    )
    .await
}

/// A host and an engine where `tree` was applied.
async fn applied(tree: BTreeMap<String, OutFile>) -> (FakeHost, FakeEngine) {
    let host = FakeHost::new("h1");
    let engine = FakeEngine::new("test");
    let first = apply(&host, &engine, tree, RunMode::Apply).await;
    assert!(first.is_ok(), "{first:?}");
    (host, engine)
}

fn running_id(engine: &FakeEngine, name: &str) -> String {
    let c = engine
        .container(name)
        .unwrap_or_else(|| panic!("{name} is gone: {:?}", engine.names()));
    assert!(c.running, "{name} runs");
    c.id
}

#[tokio::test]
async fn a_second_apply_of_the_same_tree_writes_nothing() {
    let t = tree(&compose("app:1", "app:1"), "a", "b");
    let (host, engine) = applied(t.clone()).await;
    assert_eq!(engine.names(), ["pinned", "web"]);
    assert_eq!(host.file("web/conf/app.conf").as_deref(), Some("a"));
    assert_eq!(host.state().holder, None, "the lock is released");
    let writes = engine.calls().1;
    let uploads = host.state().uploads;

    let again = apply(&host, &engine, t, RunMode::Apply).await.unwrap();
    assert!(again.is_noop(), "{}", again.summary());
    assert_eq!(engine.calls().1, writes, "no engine write");
    assert_eq!(host.state().uploads, uploads, "no upload");
    assert_eq!(host.state().holder, None);
}

#[tokio::test]
async fn dry_run_and_read_only_change_nothing_and_read_only_takes_no_lock() {
    let (host, engine) = applied(tree(&compose("app:1", "app:1"), "a", "b")).await;
    let changed = tree(&compose("app:2", "app:1"), "a2", "b");
    let before = (engine.calls().1, host.state().uploads);
    let locks = host.state().locks_taken;

    let dry = apply(&host, &engine, changed.clone(), RunMode::DryRun)
        .await
        .unwrap();
    assert_eq!(
        dry.summary(),
        "2 files: 2 changed; recreate web (image app:2 is pulled first)"
    );
    assert_eq!(
        host.state().locks_taken,
        locks + 1,
        "a dry run takes the lock"
    );
    let plan = apply(&host, &engine, changed, RunMode::ReadOnly)
        .await
        .unwrap();
    assert_eq!(plan.summary(), dry.summary());
    assert_eq!(host.state().locks_taken, locks + 1, "a plan does not");
    assert_eq!((engine.calls().1, host.state().uploads), before);
    assert_eq!(host.file("web/conf/app.conf").as_deref(), Some("a"));
}

#[tokio::test]
async fn a_new_version_beside_the_old_one_that_fails_is_removed_and_its_files_put_back() {
    let (host, engine) = applied(tree(&compose("app:1", "app:1"), "a", "b")).await;
    let web = running_id(&engine, "web");
    engine.state().crashing.insert("app:2".into());

    let error = apply(
        &host,
        &engine,
        tree(&compose("app:2", "app:1"), "a2", "b"),
        RunMode::Apply,
    )
    .await
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "web: the new container did not become healthy (it exited with status 1); the \
         previous container was restored and runs; the previous files were put back \
         (web/conf/app.conf)"
    );
    assert_eq!(running_id(&engine, "web"), web, "the previous web runs on");
    assert_eq!(
        engine.names(),
        ["pinned", "web"],
        "no web--nxinfra-new left"
    );
    assert!(
        !engine.state().log.contains(&"stop web".to_string()),
        "the previous one was never stopped"
    );
    assert_eq!(host.file("web/conf/app.conf").as_deref(), Some("a"));
    // The host's manifest says what is there: the next apply tries again.
    let manifest = host.state().manifest.clone();
    assert_eq!(
        manifest.files["web/conf/app.conf"].sha256,
        crate::model::manifest::sha256_hex(b"a")
    );
    assert_eq!(host.state().holder, None, "the lock is released");
}

#[tokio::test]
async fn an_old_version_that_stepped_aside_comes_back_with_its_files_and_reads_them_again() {
    let (host, engine) = applied(tree(&compose("app:1", "app:1"), "a", "b")).await;
    let pinned = running_id(&engine, "pinned");
    engine.state().crashing.insert("app:2".into());

    let error = apply(
        &host,
        &engine,
        tree(&compose("app:1", "app:2"), "a", "b2"),
        RunMode::Apply,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("pinned: the new container did not become healthy")
            && error.ends_with("; the previous files were put back (pinned/conf/app.conf)"),
        "{error}"
    );
    assert_eq!(running_id(&engine, "pinned"), pinned);
    assert_eq!(host.file("pinned/conf/app.conf").as_deref(), Some("b"));
    let log = engine.state().log.clone();
    let at = |entry: &str| {
        log.iter()
            .rposition(|l| l == entry)
            .unwrap_or_else(|| panic!("{entry} not in {log:?}"))
    };
    // Stepped aside, back under its name, then restarted once its files were back.
    assert!(at("rename pinned--nxinfra-old") < at("start pinned"));
    assert_eq!(log.last().map(String::as_str), Some("start pinned"));
    assert_eq!(
        host.state().manifest.files["pinned/conf/app.conf"].mode,
        0o600
    );
}

#[tokio::test]
async fn an_undo_cut_short_by_the_engine_is_reported_and_completed_by_the_next_apply() {
    let (host, engine) = applied(tree(&compose("app:1", "app:1"), "a", "b")).await;
    let pinned = running_id(&engine, "pinned");
    {
        let mut state = engine.state();
        state.crashing.insert("app:2".into());
        // The engine stops answering as the old one is given its name back.
        state.down_from = Some(("rename".into(), "pinned--nxinfra-old".into()));
    }
    let error = apply(
        &host,
        &engine,
        tree(&compose("app:1", "app:2"), "a", "b"),
        RunMode::Apply,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("undoing it failed")
            && error.contains("the previous container is kept, stopped, as pinned--nxinfra-old")
            && error.contains("the next apply puts the previous container back"),
        "{error}"
    );
    assert_eq!(host.state().holder, None, "the lock is released");
    assert_eq!(engine.names(), ["pinned--nxinfra-old", "web"]);

    // The engine answers again: the same (old) tree brings the old container back.
    {
        let mut state = engine.state();
        state.down = false;
        state.down_from = None;
    }
    let next = apply(
        &host,
        &engine,
        tree(&compose("app:1", "app:1"), "a", "b"),
        RunMode::Apply,
    )
    .await
    .unwrap();
    assert!(
        next.summary().contains("recover pinned"),
        "{}",
        next.summary()
    );
    assert_eq!(running_id(&engine, "pinned"), pinned);
    assert_eq!(engine.names(), ["pinned", "web"]);
}

#[tokio::test]
async fn a_refused_upload_changes_no_container_and_releases_the_lock() {
    let (host, engine) = applied(tree(&compose("app:1", "app:1"), "a", "b")).await;
    let web = running_id(&engine, "web");
    let uploads = host.state().uploads;
    host.state().refuse_upload = Some(uploads + 1);
    let log = engine.state().log.len();

    let error = apply(
        &host,
        &engine,
        tree(&compose("app:2", "app:1"), "a2", "b"),
        RunMode::Apply,
    )
    .await
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "uploading and applying the changes failed: No space left on device"
    );
    assert_eq!(running_id(&engine, "web"), web);
    let log: Vec<String> = engine.state().log[log..].to_vec();
    assert_eq!(log, ["pull app:2"], "only the pull, before the files");
    assert_eq!(host.file("web/conf/app.conf").as_deref(), Some("a"));
    assert_eq!(host.state().holder, None);
}

#[tokio::test]
async fn a_container_nxinfra_does_not_own_in_the_way_stops_the_host_untouched() {
    let host = FakeHost::new("h1");
    let engine = FakeEngine::new("test");
    engine.state().containers.insert(
        "web".into(),
        crate::host::fake::FakeContainer {
            id: "theirs".into(),
            image: "app:1".into(),
            running: true,
            ..Default::default()
        },
    );
    let error = apply(
        &host,
        &engine,
        tree(&compose("app:1", "app:1"), "a", "b"),
        RunMode::Apply,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("a container named web exists and nxinfra did not create it"),
        "{error}"
    );
    assert_eq!(host.state().uploads, 0, "no file placed");
    assert_eq!(host.state().holder, None);
    assert_eq!(running_id(&engine, "web"), "theirs");
    assert!(
        engine.state().log.iter().all(|l| l.starts_with("pull ")),
        "{:?}",
        engine.state().log
    );
}

#[tokio::test]
async fn a_host_locked_by_another_run_is_not_touched() {
    let (host, engine) = applied(tree(&compose("app:1", "app:1"), "a", "b")).await;
    host.state().holder = Some("alice@laptop pid 7".into());
    let writes = engine.calls().1;
    let error = apply(
        &host,
        &engine,
        tree(&compose("app:2", "app:1"), "a2", "b"),
        RunMode::Apply,
    )
    .await
    .unwrap_err()
    .to_string();
    assert_eq!(error, "locked: held by alice@laptop pid 7");
    assert_eq!(engine.calls().1, writes);
    assert_eq!(host.file("web/conf/app.conf").as_deref(), Some("a"));
}

/// `compose` with checks on pinned (an http check from the host) and on web (an exec in it).
fn with_checks(web_image: &str, pinned_image: &str) -> String {
    compose(web_image, pinned_image)
        .replace(
            "    ports: [\"8080:80\"]\n",
            "    ports: [\"8080:80\"]\n    x-nxinfra:\n      checks:\n        - http: \
             http://127.0.0.1:8080/health\n          retries: 1\n          interval: 1ms\n",
        )
        .replace(
            "    networks: [net]\n    volumes:\n      - /srv/fleet/web",
            "    networks: [net]\n    x-nxinfra:\n      checks:\n        - exec: fresh-rows \
             --max-age 5m\n          retries: 0\n    volumes:\n      - /srv/fleet/web",
        )
}

#[tokio::test]
async fn a_failing_http_check_rolls_the_service_back_like_a_failing_healthcheck() {
    let host = FakeHost::new("h1");
    let url = "http://127.0.0.1:8080/health";
    host.state().http.insert(url.into(), (200, "ok".into()));
    let engine = FakeEngine::new("test");
    let t = tree(&with_checks("app:1", "app:1"), "a", "b");
    let first = apply(&host, &engine, t, RunMode::Apply).await;
    let checks: Vec<(&str, &str, bool)> = match &first {
        Ok(a) => a
            .checks
            .iter()
            .map(|(c, r)| (c.as_str(), r.name.as_str(), r.passed))
            .collect(),
        Err(e) => panic!("{e}"),
    };
    // Both created: each one's checks ran and passed, and the report has them.
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert!(checks.contains(&("pinned", "http http://127.0.0.1:8080/health", true)));
    assert!(checks.contains(&("web", "exec sh -c fresh-rows --max-age 5m", true)));
    let pinned = running_id(&engine, "pinned");

    // Unchanged, the checks do not run again.
    let again = apply(
        &host,
        &engine,
        tree(&with_checks("app:1", "app:1"), "a", "b"),
        RunMode::Apply,
    )
    .await
    .map(|a| a.checks.len());
    assert_eq!(again.ok(), Some(0));

    // The new version answers 500.
    host.state().http.insert(url.into(), (500, "boom".into()));
    let error = apply(
        &host,
        &engine,
        tree(&with_checks("app:1", "app:2"), "a", "b2"),
        RunMode::Apply,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with(
            "pinned: the new container did not become healthy (check \"http \
             http://127.0.0.1:8080/health\" failed after 2 attempts: got 500, expected 200: \
             boom); the previous container was restored and runs"
        ),
        "{error}"
    );
    assert_eq!(
        running_id(&engine, "pinned"),
        pinned,
        "the previous pinned runs on"
    );
    assert_eq!(host.file("pinned/conf/app.conf").as_deref(), Some("b"));
}

#[tokio::test]
async fn a_failing_exec_check_is_quoted_with_its_secrets_redacted() {
    let host = FakeHost::new("h1");
    host.state()
        .http
        .insert("http://127.0.0.1:8080/health".into(), (200, "ok".into()));
    let engine = FakeEngine::new("test");
    let t = tree(&with_checks("app:1", "app:1"), "a", "b");
    let first = apply(&host, &engine, t, RunMode::Apply).await;
    assert!(first.is_ok(), "{first:?}");
    let web = running_id(&engine, "web");
    engine.state().failing_exec.insert(
        "sh -c fresh-rows --max-age 5m".into(),
        "newest row 12 min old (user app, password hunter2-Secret)".into(),
    );
    let mut opts = options(RunMode::Apply);
    opts.redactor = std::sync::Arc::new(crate::util::redact::Redactor::new([(
        "db.password",
        "hunter2-Secret",
    )]));
    let t = tree(&with_checks("app:2", "app:1"), "a", "b");
    let text = String::from_utf8_lossy(&t["compose.yml"].data).into_owned();
    let compose = compose::parse(Path::new("compose.yml"), &text).unwrap();
    let (files, system) = split(&host.target, t).unwrap();
    let error = locked(
        &host,
        &engine,
        &compose,
        &files,
        &system,
        &opts,
        &Deploy::Apply,
        &|_| {},
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains(
            "check \"exec sh -c fresh-rows --max-age 5m\" failed after 1 attempt: exit status 1: \
             newest row 12 min old (user app, password <secret:db.password>)"
        ),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
    assert_eq!(running_id(&engine, "web"), web, "the previous web runs on");
}

/// One rollback (`Deploy::Rollback`) of the host to `to`, the checkout being `tree`.
async fn rollback(
    host: &FakeHost,
    engine: &FakeEngine,
    tree: BTreeMap<String, OutFile>,
    to: Option<u64>,
) -> Result<HostApply, ApplyError> {
    let text = String::from_utf8_lossy(&tree["compose.yml"].data).into_owned();
    let compose = compose::parse(Path::new("compose.yml"), &text)?;
    let (files, system) = split(&host.target, tree)?;
    let deploy = Deploy::Rollback {
        to,
        services: vec![],
    };
    locked(
        host,
        engine,
        &compose,
        &files,
        &system,
        &options(RunMode::Apply),
        &deploy,
        &|_| {},
    )
    .await
}

#[tokio::test]
async fn deploys_are_journaled_and_a_rollback_pins_the_previous_image_until_unpinned() {
    let v1 = tree(&compose("app:1", "app:1"), "a", "b");
    let v2 = tree(&compose("app:2", "app:1"), "a", "b");
    let (host, engine) = applied(v1).await;
    let second = apply(&host, &engine, v2.clone(), RunMode::Apply).await;
    assert!(second.is_ok(), "{second:?}");
    let history = host.state().history();
    assert_eq!(history.len(), 2);
    let web = |r: &crate::model::journal::Record| r.service("web").cloned().unwrap();
    assert_eq!((history[0].n, history[1].n), (1, 2));
    assert_eq!(web(&history[0]).action, "create");
    assert_eq!(web(&history[1]).action, "recreate");
    let (id1, id2) = (
        crate::host::fake::image_id("app:1"),
        crate::host::fake::image_id("app:2"),
    );
    assert_eq!(web(&history[0]).image_id.as_deref(), Some(id1.as_str()));
    assert_eq!(web(&history[1]).image_id.as_deref(), Some(id2.as_str()));
    assert_eq!(history[1].service("pinned").unwrap().action, "unchanged");
    // A no-op adds no record.
    apply(&host, &engine, v2.clone(), RunMode::Apply)
        .await
        .unwrap();
    assert_eq!(host.state().history().len(), 2);

    let back = rollback(&host, &engine, v2.clone(), None).await.unwrap();
    assert_eq!(engine.container("web").unwrap().image_id, id1);
    let record = back.journal.unwrap();
    assert_eq!(
        (record.n, record.kind, record.to),
        (3, crate::model::journal::Kind::Rollback, Some(1))
    );
    assert!(web(&record).pinned);
    assert_eq!(back.pins.pins["web"].image_id, id1);
    assert_eq!(host.state().host_files().journal.pins, back.pins);

    // The next apply keeps the pin, and says what unpinning would change.
    let kept = apply(&host, &engine, v2.clone(), RunMode::Apply)
        .await
        .unwrap();
    assert!(kept.is_noop(), "{}", kept.summary());
    assert_eq!(engine.container("web").unwrap().image_id, id1);
    let step = kept
        .plan
        .containers
        .iter()
        .find(|c| c.name == "web")
        .unwrap();
    let note = step.pin.as_ref().unwrap();
    assert_eq!(note.unpinned.action, Action::Recreate);
    assert!(
        note.line("web").contains("pinned by rollback to deploy 1"),
        "{}",
        note.line("web")
    );

    // Rolled back again, to deploy 2: forward, pinned to version 2.
    let forward = rollback(&host, &engine, v2, Some(2)).await.unwrap();
    assert_eq!(engine.container("web").unwrap().image_id, id2);
    assert_eq!(forward.pins.pins["web"].why, "rollback to deploy 2");
}

#[tokio::test]
async fn a_rollback_to_an_image_no_longer_there_or_with_other_changes_changes_nothing() {
    let v1 = tree(&compose("app:1", "app:1"), "a", "b");
    let v2 = tree(&compose("app:2", "app:1"), "a", "b");
    let (host, engine) = applied(v1).await;
    apply(&host, &engine, v2.clone(), RunMode::Apply)
        .await
        .unwrap();
    // The checkout changes a file: refused, nothing done.
    let edited = tree(&compose("app:2", "app:1"), "a2", "b");
    let before = engine.calls().1;
    let e = rollback(&host, &engine, edited, None).await.unwrap_err();
    assert!(
        e.to_string().contains("a rollback changes images only"),
        "{e}"
    );
    assert_eq!(engine.calls().1, before, "no engine write");
    assert_eq!(host.file("web/conf/app.conf").as_deref(), Some("a"));
    // Version 1's image removed: refused, nothing done.
    engine
        .state()
        .images
        .retain(|_, id| *id != crate::host::fake::image_id("app:1"));
    let e = rollback(&host, &engine, v2, None).await.unwrap_err();
    assert!(e.to_string().contains("is no longer on the host"), "{e}");
    assert_eq!(engine.calls().1, before, "no engine write");
    assert_eq!(host.state().history().len(), 2);
    assert_eq!(host.state().holder, None, "the lock is released");
}

#[tokio::test]
async fn a_failed_apply_is_journaled_with_what_became_of_it() {
    let (host, engine) = applied(tree(&compose("app:1", "app:1"), "a", "b")).await;
    engine.state().crashing.insert("app:2".into());
    let error = apply(
        &host,
        &engine,
        tree(&compose("app:2", "app:1"), "a2", "b"),
        RunMode::Apply,
    )
    .await
    .unwrap_err();
    let history = host.state().history();
    assert_eq!(history.len(), 2, "the failed apply is recorded too");
    let record = &history[1];
    assert_eq!(record.outcome, crate::model::journal::Outcome::RolledBack);
    assert_eq!(record.error.as_deref(), Some(error.to_string().as_str()));
    let web = record.service("web").unwrap();
    assert_eq!(
        web.image_id.as_deref(),
        Some(crate::host::fake::image_id("app:1").as_str()),
        "the record says what runs: the previous image, restored"
    );
    // The failed deploy is not one to roll back to: the last good one is.
    assert_eq!(history[0].outcome, crate::model::journal::Outcome::Ok);
}

#[tokio::test]
async fn a_held_file_stays_as_the_host_has_it_and_its_container_is_not_restarted() {
    let (mut host, engine) = applied(tree(&compose("app:1", "app:1"), "a", "b")).await;
    let web = running_id(&engine, "web");
    let pinned = running_id(&engine, "pinned");
    host.target.holds.paths = crate::model::hold::parse_paths(Some(&serde_json::json!([
        {"path": "web/conf/", "reason": "experiment", "until": "2099-01-01"}
    ])))
    .unwrap();
    let changed = tree(&compose("app:1", "app:1"), "a2", "b2");
    let done = apply(&host, &engine, changed.clone(), RunMode::Apply)
        .await
        .unwrap();
    assert_eq!(host.file("web/conf/app.conf").as_deref(), Some("a"), "held");
    assert_eq!(host.file("pinned/conf/app.conf").as_deref(), Some("b2"));
    assert_eq!(running_id(&engine, "web"), web, "web is left as it was");
    assert_ne!(
        running_id(&engine, "pinned"),
        pinned,
        "pinned read its new file"
    );
    assert_eq!(done.sync.upload, ["pinned/conf/app.conf"]);
    assert_eq!(done.sync.held.len(), 1);
    assert_eq!(
        (done.sync.held[0].path.as_str(), done.sync.held[0].would),
        ("web/conf/app.conf", "change")
    );
    assert_eq!(
        host.state().manifest.files["web/conf/app.conf"].sha256,
        crate::model::manifest::sha256_hex(b"a"),
        "the manifest records the held file as it is"
    );
    // Held still: the next apply has nothing to do, and still says what it holds.
    let again = apply(&host, &engine, changed.clone(), RunMode::Apply)
        .await
        .unwrap();
    assert!(again.is_noop(), "{}", again.summary());
    assert_eq!(again.sync.held.len(), 1);
    // The hold lifted: the file is placed and web reads it.
    host.target.holds = Default::default();
    let lifted = apply(&host, &engine, changed, RunMode::Apply)
        .await
        .unwrap();
    assert_eq!(lifted.sync.upload, ["web/conf/app.conf"]);
    assert_eq!(host.file("web/conf/app.conf").as_deref(), Some("a2"));
    assert_ne!(running_id(&engine, "web"), web);
}
