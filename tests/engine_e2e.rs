//! The Docker engine of a testbed host, reached through the host's SSH connection (a forwarded
//! unix socket) with bollard, API version negotiated.

mod common;

use common::Testbed;
use nxinfra::host::session::{HostSession, SshOptions};
use nxinfra::model::target::Target;

#[test]
fn the_engine_answers_through_the_ssh_connection_with_a_negotiated_api_version() {
    let Some(tb) = Testbed::get() else { return };
    let (host, ip) = tb.hosts[0].clone();
    let target = Target {
        host: host.clone(),
        destination: ip,
        user: Some("nxtb".into()),
        port: None,
        base_dir: tb.base_dir(&host, "engine").display().to_string(),
        docker_socket: tb
            .state
            .join(&host)
            .join("run/docker.sock")
            .display()
            .to_string(),
        system_files: Vec::new(),
        fleet: "engine-test".into(),
        backups: Vec::new(),
        checks: Vec::new(),
        wireguard_peers: Vec::new(),
        journal: Default::default(),
        holds: Default::default(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let opts = SshOptions {
            config_file: Some(tb.ssh_config.clone()),
            ..Default::default()
        };
        let session = HostSession::connect(&target, &opts).await.unwrap();
        let forward = session.forward_unix(&target.docker_socket).await.unwrap();
        let docker = bollard::Docker::connect_with_unix(
            forward.local.to_str().unwrap(),
            30,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap()
        .negotiate_version()
        .await
        .unwrap();
        let version = docker.version().await.unwrap();
        // Debian's docker.io: Docker 20.10, API 1.41; the client follows the engine.
        assert_eq!(version.api_version.as_deref(), Some("1.41"), "{version:?}");
        assert_eq!(docker.client_version().to_string(), "1.41");
        let info = docker.info().await.unwrap();
        assert_eq!(
            info.name.as_deref(),
            Some(host.as_str()),
            "the engine of {host}"
        );
        let local = forward.local.clone();
        forward.close().await;
        assert!(!local.exists(), "the local socket is removed");
        session.close().await;
    });
}
